#!/usr/bin/env bash
# Set up tfsctl for development on a fresh machine: a venv in .venv with tfsctl and its
# `tf` (TensorFlow CPU, for exports and `tfsctl serve`), `dev` and `policy` (the Rego
# engine) extras.
#
# The official TensorFlow Serving protos (tensorflow-serving-api) are a test-only
# reference: tests/integration/test_wire_compat.py checks tfsctl's own protos against
# them, and tests/serve drives `tfsctl serve` with their stubs; tfsctl itself never
# imports them. They go in with --no-deps because their metadata requires the
# `tensorflow` package, which would pull a second, clashing TensorFlow next to
# tensorflow-cpu. Uses the machine's own pip configuration (index, certificates).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[tf,dev,policy]"
.venv/bin/python -m pip install -q --no-deps "tensorflow-serving-api==2.21.*"  # test-only reference
.venv/bin/python -c "import tfsctl, tensorflow, tensorflow_serving.config.model_server_config_pb2" \
  && echo "tfsctl installed: .venv/bin/tfsctl"
