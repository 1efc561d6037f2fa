#!/usr/bin/env bash
# Make sure a Docker engine answers and the tfsctl/serve:dev image exists.
# On a fresh Debian machine (as root): installs docker.io and mmdebstrap, starts
# dockerd in the background (--iptables=false: published ports work on loopback).
# Idempotent: on a machine where the engine runs and the image is built, it only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
log=${TFSCTL_DOCKERD_LOG:-/tmp/tfsctl-dockerd.log}

if ! command -v dockerd >/dev/null || ! command -v mmdebstrap >/dev/null; then
  echo "docker.sh: installing docker.io and mmdebstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io mmdebstrap >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  echo "docker.sh: starting dockerd (log: $log)"
  nohup dockerd --iptables=false >"$log" 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  if ! docker info >/dev/null 2>&1; then
    echo "docker.sh: the Docker engine did not start; last lines of $log:" >&2
    tail -20 "$log" >&2
    exit 1
  fi
fi
scripts/build_image.sh
