"""Where the checkout and the shared TensorFlow Serving test data are."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: TensorFlow Serving's own test data, beside the checkout (read-only: never write there).
SHARED_TESTDATA = REPO.parent / "shared" / "testdata" / "tensorflow_serving"
