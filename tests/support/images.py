"""The locally built images the Docker tests run (override with the environment in CI)."""

from __future__ import annotations

import os

#: Debian with python3: the image tiny test servers (python3 -m http.server) run on.
BASE_IMAGE = os.environ.get("TFSCTL_BASE_IMAGE", "tfsctl/base:bookworm")
#: The tfsctl/serve image scripts/build_image.sh makes.
SERVE_IMAGE = os.environ.get("TFSCTL_TEST_IMAGE", "tfsctl/serve:dev")
#: What makes both (and starts the engine) when one is missing.
BUILD_HINT = "run scripts/build_image.sh (or .ci/docker.sh, which also starts the engine)"
