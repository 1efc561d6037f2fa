"""Where the checkout and the shared TensorFlow Serving test data are."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: TensorFlow Serving's own test data, beside the checkout (read-only: never write there);
#: TFSCTL_TESTDATA names it for a checkout elsewhere (a git worktree).
SHARED_TESTDATA = Path(os.environ.get("TFSCTL_TESTDATA")
                       or REPO.parent / "shared" / "testdata" / "tensorflow_serving")
