#!/usr/bin/env bash
# The light install, as a user gets it: build tfsctl's wheel, install it into an empty venv
# (`pip install tfsctl`: no extras), check that no TensorFlow came with it, then plan, apply,
# hot-reload, check status and destroy a docker-runtime server with it, and check that a
# command needing TensorFlow says so in one line. Needs the Docker engine and the
# tfsctl/serve:dev image (.ci/docker.sh, which scripts/test.sh runs first).
# Uses the machine's own pip configuration (index, certificates).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
t0=$(date +%s)
say() { printf 'light_install: %s (+%ss)\n' "$*" "$(( $(date +%s) - t0 ))"; }
die() { printf 'light_install: ERROR: %s\n' "$*" >&2; exit 1; }
PY=${PYTHON:-python3}
image=${TFSCTL_TEST_IMAGE:-tfsctl/serve:dev}
docker image inspect "$image" >/dev/null 2>&1 || die "image $image is not built: run .ci/docker.sh first"

work=$(mktemp -d /tmp/tfsctl-light.XXXXXX)
venv=$work/venv
spec=$work/project/tfsctl.yaml
cleanup() {
  if [ -x "$venv/bin/tfsctl" ] && [ -f "$spec" ]; then
    "$venv/bin/tfsctl" destroy -f "$spec" --auto-approve >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# ---------------------------------------------------------------- build and install
pip_quietly() {  # pip's output goes to a log, shown when it fails
  "$@" >"$work/pip.log" 2>&1 || { tail -n 30 "$work/pip.log" >&2; die "failed: $*"; }
}
"$PY" -m venv "$work/build"
pip_quietly "$work/build/bin/python" -m pip wheel -q --no-deps -w "$work/dist" "$repo"
wheel=$(ls "$work"/dist/tfsctl-*.whl)
say "built $(basename "$wheel")"
"$PY" -m venv "$venv"
pip_quietly "$venv/bin/python" -m pip install -q --upgrade pip
pip_quietly "$venv/bin/python" -m pip install -q "$wheel"
say "installed into an empty venv ($(du -sm "$venv" | cut -f1) MB)"
for dist in tensorflow tensorflow-cpu tensorflow-serving-api keras; do
  if "$venv/bin/python" -m pip show -q "$dist" >/dev/null 2>&1; then
    die "pip install tfsctl pulled $dist"
  fi
done
"$venv/bin/tfsctl" --version

# ---------------------------------------------------------------- a docker server
ports=$("$venv/bin/python" -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
read -r grpc_port rest_port <<<"$ports"
mkdir -p "$work/project/models/half_plus_two"
cp -r examples/models/half_plus_two/1 "$work/project/models/half_plus_two/1"
write_spec() {  # $1: the versions (on disk, all served), $2: the stable label's version
  local versions
  versions=$(printf '%s: {}, ' $1)
  cat >"$spec" <<YAML
apiVersion: tfsctl/v1
servers:
  - name: light-install-$$
    runtime: docker
    image: $image
    model_root: models
    ports: {grpc: $grpc_port, rest: $rest_port}
    models:
      - name: half_plus_two
        policy: all
        versions: {${versions%, }}
        labels: {stable: $2}
        smoke:
          - request: {instances: [1.0, 2.0, 5.0]}
            expect: {predictions: [2.5, 3.0, 4.5]}
YAML
}
tfsctl() { "$venv/bin/tfsctl" "$@"; }
write_spec 1 1
code=0; tfsctl plan -f "$spec" --detailed-exitcode >/dev/null || code=$?
[ "$code" = 2 ] || die "plan should show changes (exit 2), exited $code"
tfsctl apply -f "$spec" --auto-approve || die "apply (create) failed"
say "planned and applied: server created"
cp -r examples/models/half_plus_two/1 "$work/project/models/half_plus_two/2"
write_spec "1 2" 2
tfsctl apply -f "$spec" --auto-approve 2>"$work/reload.log" || { cat "$work/reload.log" >&2; die "apply (reload) failed"; }
grep -q "reload" "$work/reload.log" || { cat "$work/reload.log" >&2; die "the second apply did not hot-reload"; }
tfsctl status -f "$spec" --json >"$work/status.json" || die "status failed"
grep -q AVAILABLE "$work/status.json" || die "status shows nothing AVAILABLE: $(cat "$work/status.json")"
say "hot reload to version 2 and status done"
tfsctl destroy -f "$spec" --auto-approve >/dev/null || die "destroy failed"

# ---------------------------------------------------------------- what needs TensorFlow
sed -i 's/runtime: docker/runtime: local/; /image:/d' "$spec"
code=0; tfsctl apply -f "$spec" --auto-approve >"$work/tf.out" 2>"$work/tf.err" || code=$?
[ "$code" = 1 ] || die "apply of a local server without TensorFlow exited $code"
grep -q '^error: .*needs TensorFlow, which is not installed: pip install "tfsctl\[tf\]"$' "$work/tf.err" \
  || { cat "$work/tf.err" >&2; die "no one-line TensorFlow error"; }
say "a local server is refused in one line: $(grep '^error:' "$work/tf.err")"
say "done"
