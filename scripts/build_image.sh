#!/usr/bin/env bash
# Build the tfsctl/serve image locally, without any registry but the package ones:
#   1. a Debian base image from the machine's own apt sources (mmdebstrap | docker import),
#      made once and reused;
#   2. docker build --network host, with the machine's CA bundle and pip index settings,
#      so pip inside the build reaches the index exactly as this machine does.
# Usage: scripts/build_image.sh [TAG]   (default tfsctl/serve:dev; idempotent, cached)
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${1:-tfsctl/serve:dev}
BASE=${TFSCTL_BASE_IMAGE:-tfsctl/base:bookworm}
t0=$(date +%s)

if ! docker image inspect "$BASE" >/dev/null 2>&1; then
  command -v mmdebstrap >/dev/null || { echo "build_image: mmdebstrap is missing (apt-get install mmdebstrap)" >&2; exit 1; }
  echo "build_image: making the base image $BASE with mmdebstrap"
  mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates bookworm - \
    | docker import - "$BASE" >/dev/null
  echo "build_image: base ready in $(( $(date +%s) - t0 ))s"
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
ca=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
cp "$ca" "$ctx/build-ca.crt"
mkdir -p "$ctx/src"
cp -r pyproject.toml README.md tfsctl "$ctx/src/"
find "$ctx/src" -name __pycache__ -prune -exec rm -rf {} +
cp docker/entrypoint.sh "$ctx/"
index=$(python3 -m pip config get global.index-url 2>/dev/null || true)
extra=$(python3 -m pip config get global.extra-index-url 2>/dev/null | tr ' ' '\n' | grep -E '^https?://' | tr '\n' ' ' || true)
docker build --network host -q -t "$TAG" -f docker/serve.Dockerfile \
  --build-arg BASE="$BASE" --build-arg PIP_INDEX_URL="$index" --build-arg PIP_EXTRA_INDEX_URL="$extra" \
  "$ctx" >/dev/null
echo "build_image: $TAG ready in $(( $(date +%s) - t0 ))s ($(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}'))"
