#!/usr/bin/env bash
# Set up tfsctl for development on a fresh machine: a venv in .venv with tfsctl,
# TensorFlow (CPU), the official TensorFlow Serving protos and the Rego engine (policies).
#
# tensorflow-serving-api is installed with --no-deps: its metadata requires the
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
.venv/bin/python -m pip install -q --no-deps "tensorflow-serving-api==2.21.*"
.venv/bin/python -c "import tfsctl, tensorflow_serving.config.model_server_config_pb2" \
  && echo "tfsctl installed: .venv/bin/tfsctl"
