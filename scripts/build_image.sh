#!/usr/bin/env bash
# Build the tfsctl serve image locally, with no registry but the package ones:
#   1. the base image (default tfsctl/base:bookworm): a minimal Debian with python3, made
#      once with mmdebstrap from apt and `docker import`ed; reused while it exists;
#   2. the serve image (default tfsctl/serve:dev) from docker/serve.Dockerfile, built with
#      `docker build --network host` from a temporary context holding tfsctl's source and
#      this machine's CA bundle, so pip inside reaches the package index exactly as this
#      machine does (the CA file is never committed and never ends up in the final image).
#
# Usage: scripts/build_image.sh [TAG]
# Idempotent: reruns reuse the base and the layer cache (a source change rebuilds only the
# small tfsctl layer). Environment:
#   TFSCTL_BASE_IMAGE   base image tag (default tfsctl/base:bookworm)
#   TFSCTL_BASE_SUITE   Debian suite of the base (default bookworm: python3.11, as the host)
#   TFSCTL_APT_SOURCES  a sources file (one-line or deb822) for mmdebstrap instead of its default
#   TFSCTL_TF_VERSION   tensorflow-cpu version (default 2.21.*)
#   TFSCTL_BUILD_LOG    where the docker build output goes (default /tmp/tfsctl-build-image.log)
# Besides TAG it tags <name>-buildcache:<version> (the build stages, sharing TAG's layers),
# so the layer cache survives `docker image prune`.
set -euo pipefail
cd "$(dirname "$0")/.."

TAG=${1:-tfsctl/serve:dev}
BASE=${TFSCTL_BASE_IMAGE:-tfsctl/base:bookworm}
SUITE=${TFSCTL_BASE_SUITE:-bookworm}
TF_VERSION=${TFSCTL_TF_VERSION:-2.21.*}
BUILD_LOG=${TFSCTL_BUILD_LOG:-${TMPDIR:-/tmp}/tfsctl-build-image.log}

say() { printf 'build_image: %s\n' "$*"; }
die() { printf 'build_image: ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s; }

command -v docker >/dev/null || die "the docker CLI is not installed (apt-get install docker.io; .ci/docker.sh does it all)"
docker info >/dev/null 2>&1 || die "the Docker engine does not answer ('docker info' failed): start it, e.g. with .ci/docker.sh (as root)"

t0=$(now)
ctx=$(mktemp -d "${TMPDIR:-/tmp}/tfsctl-build.XXXXXX")
trap 'rm -rf "$ctx"' EXIT

# ---------------------------------------------------------------- 1. base image
if docker image inspect "$BASE" >/dev/null 2>&1; then
  say "base $BASE present, reused"
else
  command -v mmdebstrap >/dev/null || die "mmdebstrap is not installed (apt-get install mmdebstrap), needed once to make $BASE"
  say "making the base image $BASE (mmdebstrap $SUITE, minbase + python3)"
  mirrors=()
  if [ -n "${TFSCTL_APT_SOURCES:-}" ]; then
    [ -f "$TFSCTL_APT_SOURCES" ] || die "TFSCTL_APT_SOURCES=$TFSCTL_APT_SOURCES is not a file"
    mirrors=("$TFSCTL_APT_SOURCES")
  fi
  # Into a file first, so a failed bootstrap never leaves a half-made image behind a good tag.
  # Docs, man pages and locales are left out (dpkg excludes, kept for later apt installs too).
  mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      "$SUITE" "$ctx/base.tar" "${mirrors[@]}" \
    || die "mmdebstrap failed (messages above); it needs root (or unprivileged user namespaces) and apt access"
  docker import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["/bin/bash"]' \
      "$ctx/base.tar" "$BASE" >/dev/null || die "docker import of the base image failed"
  rm -f "$ctx/base.tar"
  say "base $BASE made in $(( $(now) - t0 ))s"
fi
t1=$(now)

# ---------------------------------------------------------------- 2. build context
ca=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
[ -r "$ca" ] || die "CA bundle $ca not readable (set PIP_CERT to this machine's CA bundle)"
cp "$ca" "$ctx/build-ca.crt"
mkdir -p "$ctx/src"
srcs=(pyproject.toml README.md tfsctl)
[ -f LICENSE ] && srcs+=(LICENSE)
tar -c --exclude=__pycache__ --exclude='*.pyc' --exclude='*.egg-info' "${srcs[@]}" | tar -x -C "$ctx/src"
cp docker/entrypoint.sh "$ctx/entrypoint.sh"
chmod 0755 "$ctx/entrypoint.sh"

# This machine's pip index settings (environment first, then pip's configuration); only
# http(s) indexes make sense inside the build (file:// ones are paths on this machine).
py=python3
[ -x .venv/bin/python ] && py=.venv/bin/python
pip_get() { "$py" -m pip config get "$1" 2>/dev/null || true; }
index=${PIP_INDEX_URL:-$(pip_get global.index-url)}
extra=${PIP_EXTRA_INDEX_URL:-$(pip_get global.extra-index-url)}
only_http() { tr ' \n' '\n\n' | grep -E '^https?://' | tr '\n' ' ' | sed 's/ $//' || true; }
index=$(printf '%s' "$index" | only_http)
extra=$(printf '%s' "$extra" | only_http)

args=(--network host -f docker/serve.Dockerfile
      --build-arg "BASE=$BASE" --build-arg "TF_VERSION=$TF_VERSION"
      --build-arg "PIP_INDEX_URL=$index" --build-arg "PIP_EXTRA_INDEX_URL=$extra"
      --build-arg "VCS_REF=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)")
for var in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
  [ -n "${!var:-}" ] && args+=(--build-arg "$var")
done

# ---------------------------------------------------------------- 3. build
before=$(docker image inspect -f '{{.Id}}' "$TAG" 2>/dev/null || true)
say "building $TAG (log: $BUILD_LOG)"
if ! docker build "${args[@]}" -t "$TAG" "$ctx" >"$BUILD_LOG" 2>&1; then
  printf 'build_image: ERROR: docker build of %s failed; last lines of %s:\n' "$TAG" "$BUILD_LOG" >&2
  tail -n 40 "$BUILD_LOG" >&2
  exit 1
fi
# Tag the build stages too (a cache hit, about a second): the classic builder keeps them as
# untagged images that `docker image prune` deletes, which would make the next build
# download and install TensorFlow again.
name=${TAG%:*}; [ "$name" != "$TAG" ] && version=${TAG##*:} || version=latest
cache_tag="$name-buildcache:$version"
docker build "${args[@]}" --target wheel -t "$cache_tag" "$ctx" >>"$BUILD_LOG" 2>&1 \
  || say "warning: could not tag the build stages as $cache_tag (the next build may be slower)"
after=$(docker image inspect -f '{{.Id}}' "$TAG")
if [ "$before" = "$after" ]; then
  state="unchanged (all layers cached)"
else
  state="built"
  # The image the tag pointed at before is now untagged: drop it unless a container uses it
  # (shared layers stay), so repeated dev builds do not fill the disk.
  [ -n "$before" ] && docker image rm "$before" >/dev/null 2>&1 || true
fi
size=$(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}')
say "$TAG $state in $(( $(now) - t1 ))s (base $(( t1 - t0 ))s, total $(( $(now) - t0 ))s), size $size"
