#!/usr/bin/env bash
# Make sure a Docker engine answers and the serve image is built, for CI and developers.
#
# On a fresh Debian bookworm machine (as root): installs docker.io, mmdebstrap and
# docker-compose (for bench/rollout.py) with the machine's apt configuration, starts
# dockerd in the background (with its iptables rules, which Swarm's overlay networks need;
# DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 so services use local images without asking a
# registry), waits for it, then runs scripts/build_image.sh and scripts/build_proxy_image.sh
# (the HAProxy image of `runtime: swarm` servers).
# Idempotent: where the engine already runs and the image is built, it only checks (the
# build is a cache hit). Arguments are passed to scripts/build_image.sh (e.g. a tag).
# Environment:
#   TFSCTL_DOCKERD_LOG   dockerd's log file (default /tmp/tfsctl-dockerd.log)
#   TFSCTL_DOCKERD_WAIT  seconds to wait for the engine to answer (default 90)
set -euo pipefail
cd "$(dirname "$0")/.."

log=${TFSCTL_DOCKERD_LOG:-/tmp/tfsctl-dockerd.log}
wait_s=${TFSCTL_DOCKERD_WAIT:-90}
pidfile=${TFSCTL_DOCKERD_PIDFILE:-/var/run/docker.pid}  # dockerd's default
t0=$(date +%s)
say() { printf 'docker.sh: %s (+%ss)\n' "$*" "$(( $(date +%s) - t0 ))"; }
die() { printf 'docker.sh: ERROR: %s\n' "$*" >&2; exit 1; }
engine_up() { docker info >/dev/null 2>&1; }
explain() {  # why the engine is not usable: docker info's own words, then dockerd's log
  printf 'docker.sh: ERROR: %s\n' "$1" >&2
  printf '  DOCKER_HOST=%s; docker info says:\n' "${DOCKER_HOST:-(default socket)}" >&2
  docker info 2>&1 >/dev/null | tail -n 5 | sed 's/^/    /' >&2 || true
  if [ -s "$log" ]; then
    printf '  last lines of %s:\n' "$log" >&2
    tail -n 30 "$log" | sed 's/^/    /' >&2
  fi
  exit 1
}

# ---------------------------------------------------------------- packages
# docker-compose (Debian's, v1) is only for bench/rollout.py's compose row; wrk and h2load
# (nghttp2-client) are bench/serve_predict.py's REST and gRPC load generators.
packages="docker.io mmdebstrap docker-compose wrk nghttp2-client"
missing=()
command -v docker >/dev/null || missing+=(docker)
command -v dockerd >/dev/null || missing+=(dockerd)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
for optional in docker-compose:docker-compose wrk:wrk h2load:nghttp2-client; do
  command -v "${optional%%:*}" >/dev/null && continue
  if [ "$(id -u)" = 0 ]; then
    missing+=("${optional#*:}")
  else  # optional: the tests do not need them, so a non-root developer is not stopped
    say "${optional%%:*} is missing (for bench/): apt-get install ${optional#*:} as root"
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing ${missing[*]} and not root: run as root, or apt-get install $packages"
  say "installing $packages (missing: ${missing[*]})"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  # shellcheck disable=SC2086  # a list of package names
  apt-get install -y -qq $packages >/dev/null || die "apt-get install $packages failed"
fi

# ---------------------------------------------------------------- engine
if engine_up; then
  say "Docker engine answers"
else
  dockerd_pid=""
  if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    dockerd_pid=$(cat "$pidfile")
    say "dockerd (pid $dockerd_pid) is running but does not answer yet; waiting"
  else
    [ "$(id -u)" = 0 ] || die "no Docker engine answers and starting dockerd needs root"
    say "starting dockerd (log: $log)"
    # setsid + nohup: the engine outlives this script (and the CI step's process group).
    DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 setsid nohup dockerd >>"$log" 2>&1 </dev/null &
    dockerd_pid=$!
  fi
  deadline=$(( $(date +%s) + wait_s ))
  until engine_up; do
    if ! kill -0 "$dockerd_pid" 2>/dev/null; then
      explain "dockerd (pid $dockerd_pid) exited before the engine answered"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      explain "the Docker engine did not answer within ${wait_s}s"
    fi
    sleep 1
  done
  say "Docker engine up ($(docker version -f '{{.Server.Version}}' 2>/dev/null || echo '?'))"
fi

# ---------------------------------------------------------------- kernel
# A gateway's handler change hands its port from the old process to the new one through
# SO_REUSEPORT; with tcp_migrate_req (Linux 5.14+) the kernel moves the connections still
# queued on the old listener to the new one when it closes, instead of resetting them
# (docs/gateway.md). Skipped where the kernel lacks it or the netns is read-only.
if [ -e /proc/sys/net/ipv4/tcp_migrate_req ]; then
  if (echo 1 > /proc/sys/net/ipv4/tcp_migrate_req) 2>/dev/null; then
    say "net.ipv4.tcp_migrate_req=1"
  else
    say "net.ipv4.tcp_migrate_req not writable here: left as it is"
  fi
fi

# ---------------------------------------------------------------- images
scripts/build_image.sh "$@"
scripts/build_proxy_image.sh  # the HAProxy of `runtime: swarm` servers (a cache hit when built)
say "done"
