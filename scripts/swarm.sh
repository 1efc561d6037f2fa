#!/usr/bin/env bash
# A Docker Swarm for `runtime: swarm`: this engine as the manager and, on request, worker
# nodes that are Docker engines in containers on this machine (for tests and trying it out).
#
#   scripts/swarm.sh init          this engine becomes a swarm manager (idempotent)
#   scripts/swarm.sh up [N]        init, then N worker nodes (default 1) joined to it
#   scripts/swarm.sh down          remove the worker nodes (the swarm itself stays)
#
# The manager is advertised on a bridge network made for it (tfsctl-nodes, 192.168.123.0/24,
# the host is .1), not on docker0 or loopback, so that worker containers can reach it.
# A worker is `dockerd` in a container made from a minimal Debian image (mmdebstrap, with
# this machine's apt configuration) with just enough rights for an engine in a container on
# a machine that refuses --privileged; it gets the images of TFSCTL_SWARM_IMAGES copied in
# (nothing is pulled) and the shared directory TFSCTL_SWARM_SHARED bind-mounted at the same
# path, standing in for the shared filesystem a real cluster keeps its model roots on.
# Environment:
#   TFSCTL_SWARM_IMAGES   images every worker needs (default tfsctl/serve:dev)
#   TFSCTL_SWARM_SHARED   the directory shared with the workers (default /tmp/tfsctl-swarm)
#   TFSCTL_NODE_IMAGE     the worker image (default tfsctl/node:bookworm; made when missing)
#   TFSCTL_NODE_WAIT      seconds to wait for a worker's engine and its join (default 120)
set -euo pipefail

NET=tfsctl-nodes
SUBNET=192.168.123.0/24
MANAGER=192.168.123.1
NODE_IMAGE=${TFSCTL_NODE_IMAGE:-tfsctl/node:bookworm}
IMAGES=${TFSCTL_SWARM_IMAGES:-tfsctl/serve:dev}
SHARED=${TFSCTL_SWARM_SHARED:-/tmp/tfsctl-swarm}
WAIT=${TFSCTL_NODE_WAIT:-120}
t0=$(date +%s)
say() { printf 'swarm.sh: %s (+%ss)\n' "$*" "$(( $(date +%s) - t0 ))"; }
die() { printf 'swarm.sh: ERROR: %s\n' "$*" >&2; exit 1; }

docker info >/dev/null 2>&1 || die "the Docker engine does not answer: start it with .ci/docker.sh"

swarm_state() { docker info --format '{{.Swarm.LocalNodeState}}'; }

init() {
  if ! docker network inspect "$NET" >/dev/null 2>&1; then
    docker network create --driver bridge --subnet "$SUBNET" --gateway "$MANAGER" \
      -o com.docker.network.bridge.name="$NET" "$NET" >/dev/null
    say "made the bridge $NET ($SUBNET)"
  fi
  if [ "$(swarm_state)" = active ]; then
    say "this engine is already in a swarm (manager: $(docker info --format '{{.Swarm.ControlAvailable}}'))"
    return
  fi
  docker swarm init --advertise-addr "$MANAGER" --listen-addr "$MANAGER:2377" \
    --data-path-addr "$MANAGER" >/dev/null
  say "swarm initialised, manager advertised on $MANAGER"
}

node_image() {
  docker image inspect "$NODE_IMAGE" >/dev/null 2>&1 && return
  command -v mmdebstrap >/dev/null || die "mmdebstrap is missing (apt-get install mmdebstrap)"
  say "making the node image $NODE_IMAGE (mmdebstrap, docker.io)"
  local tar
  tar=$(mktemp "${TMPDIR:-/tmp}/tfsctl-node.XXXXXX.tar")
  mmdebstrap --quiet --variant=minbase \
    --include=docker.io,iptables,iproute2,procps,ca-certificates \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    bookworm "$tar" || { rm -f "$tar"; die "mmdebstrap failed (messages above)"; }
  docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$tar" "$NODE_IMAGE" >/dev/null
  rm -f "$tar"
}

node_up() {  # $1: index (1..)
  local name="tfsctl-node-$1" addr="192.168.123.$(( 10 + $1 ))" token
  if docker container inspect "$name" >/dev/null 2>&1; then
    say "$name exists"
    return
  fi
  mkdir -p "$SHARED"
  docker run -d --name "$name" --hostname "$name" \
    --cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined \
    --security-opt systempaths=unconfined --device-cgroup-rule 'a *:* rwm' \
    -v /sys/fs/cgroup:/sys/fs/cgroup:rw -v "$name:/var/lib/docker" \
    -v "$SHARED:$SHARED:ro" --network "$NET" --ip "$addr" -e DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 \
    "$NODE_IMAGE" dockerd --cgroup-parent="/$name" --host=unix:///var/run/docker.sock >/dev/null
  local deadline=$(( $(date +%s) + WAIT ))
  until docker exec "$name" docker info >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || { docker logs --tail 20 "$name" >&2; die "$name's engine did not answer within ${WAIT}s"; }
    docker container inspect -f '{{.State.Running}}' "$name" | grep -q true \
      || { docker logs --tail 20 "$name" >&2; die "$name's engine exited"; }
    sleep 1
  done
  for image in $IMAGES; do
    say "copying $image to $name"
    docker save "$image" | docker exec -i "$name" docker load >/dev/null
  done
  token=$(docker swarm join-token -q worker)
  docker exec "$name" docker swarm join --token "$token" --advertise-addr "$addr" \
    --listen-addr "$addr:2377" --data-path-addr "$addr" "$MANAGER:2377" >/dev/null
  until [ "$(docker node inspect "$name" -f '{{.Status.State}}' 2>/dev/null)" = ready ]; do
    [ "$(date +%s)" -lt "$deadline" ] || die "$name did not become a ready swarm node within ${WAIT}s"
    sleep 1
  done
  say "$name joined the swarm as a worker ($addr)"
}

node_down() {  # $1: container name
  local name=$1
  docker exec "$name" docker swarm leave --force >/dev/null 2>&1 || true
  docker rm -f "$name" >/dev/null 2>&1 || true
  docker volume rm "$name" >/dev/null 2>&1 || true
  docker node rm --force "$name" >/dev/null 2>&1 || true
  # What the inner engine leaves on the host: its cgroups (one tree per controller on cgroup
  # v1, one on v2), deepest first.
  find /sys/fs/cgroup -depth -type d -name "$name" 2>/dev/null | while read -r dir; do
    find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  say "$name removed"
}

manager_on_bridge() {  # workers join $MANAGER: an engine advertised elsewhere cannot take them
  local addr
  addr=$(docker info --format '{{.Swarm.NodeAddr}}')
  [ "$addr" = "$MANAGER" ] || die "this engine's swarm is advertised on $addr, not on $MANAGER, so \
worker containers cannot join it; to start over (its services stop): docker swarm leave --force \
&& scripts/swarm.sh init"
}

case "${1:-}" in
  init) init ;;
  up)
    init
    manager_on_bridge
    node_image
    for i in $(seq 1 "${2:-1}"); do node_up "$i"; done
    say "nodes: $(docker node ls --format '{{.Hostname}}:{{.Status}}' | tr '\n' ' ')"
    ;;
  down)
    for name in $(docker ps -a --filter name='^tfsctl-node-' --format '{{.Names}}'); do node_down "$name"; done
    ;;
  *) die "usage: scripts/swarm.sh init | up [N] | down" ;;
esac
