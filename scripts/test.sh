#!/usr/bin/env bash
# Run the whole test suite, as CI does: lint, unit tests, the real `tfsctl serve`, and
# the Docker end-to-end tests. Starts a Docker engine and builds the serve image first
# when they are missing (needs root on a fresh machine; see .ci/docker.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || ./scripts/setup.sh
if [ $# -eq 0 ]; then  # the whole run also lints: style (ruff) and types (mypy)
  .venv/bin/ruff check .
  .venv/bin/mypy tfsctl
fi
if [ -x .ci/docker.sh ]; then bash .ci/docker.sh; fi
exec .venv/bin/python -m pytest -q "$@"
