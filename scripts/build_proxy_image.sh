#!/usr/bin/env bash
# Build the proxy image of `runtime: swarm` servers (default tfsctl/haproxy:dev): HAProxy
# from Debian's packages on the base image scripts/build_image.sh makes (built first when
# missing), with `docker build --network host`, so apt inside reaches the package archive
# as the base image was set up to on this machine. Idempotent (a layer-cache hit).
# Usage: scripts/build_proxy_image.sh [TAG]
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${1:-tfsctl/haproxy:dev}
BASE=${TFSCTL_BASE_IMAGE:-tfsctl/base:bookworm}
LOG=${TFSCTL_BUILD_LOG:-${TMPDIR:-/tmp}/tfsctl-build-proxy.log}
t0=$(date +%s)
docker image inspect "$BASE" >/dev/null 2>&1 \
  || { echo "build_proxy_image: base $BASE missing: run scripts/build_image.sh first" >&2; exit 1; }
if ! docker build --network host --build-arg "BASE=$BASE" -t "$TAG" - <docker/haproxy.Dockerfile >"$LOG" 2>&1; then
  echo "build_proxy_image: ERROR: docker build of $TAG failed; last lines of $LOG:" >&2
  tail -n 30 "$LOG" >&2
  exit 1
fi
echo "build_proxy_image: $TAG ready in $(( $(date +%s) - t0 ))s"
