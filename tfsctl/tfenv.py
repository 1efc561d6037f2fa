"""TensorFlow, for the few commands that need it: is it installed, and keep it quiet.

`pip install tfsctl` brings no TensorFlow: only exporting versions and running
`tfsctl serve` (which the local runtime starts) need it, from the `tf` extra.
Those say so in one line, before anything changes, when it is missing.

TensorFlow reads the QUIET variables when it is first imported, so they are set
at process start (cheaply: TensorFlow itself is imported later, and only
where an export or the server needs it). A user's own settings win.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

from tfsctl.errors import TfsctlError

#: How to add what the exports and `tfsctl serve` need to an installed tfsctl.
INSTALL_TF = 'pip install "tfsctl[tf]"'

QUIET = {"TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR", "ABSL_MIN_LOG_LEVEL": "3"}


def quiet_tensorflow() -> None:
    for name, value in QUIET.items():
        os.environ.setdefault(name, value)


def tensorflow_installed() -> bool:
    return "tensorflow" in sys.modules or importlib.util.find_spec("tensorflow") is not None


def require_tensorflow(what: str) -> None:
    """Raise a one-line error naming `what` and the install command if TensorFlow is missing."""
    if not tensorflow_installed():
        raise TfsctlError(f"{what} needs TensorFlow, which is not installed: {INSTALL_TF}")


def import_tensorflow() -> Any:
    """`import tensorflow` with its C++ start-up banner (printed to fd 2 whatever the log
    level) sent to /dev/null; an import error is still raised, with its message."""
    quiet_tensorflow()
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stderr.flush()
        os.dup2(devnull, 2)
        import tensorflow
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    silence_python_warnings()
    return tensorflow


def silence_python_warnings() -> None:
    """After `import tensorflow`: no deprecation notices for the TF1 APIs TF Serving relies on."""
    import tensorflow as tf
    from tensorflow.python.util import deprecation

    tf.get_logger().setLevel("ERROR")
    deprecation._PRINT_DEPRECATION_WARNINGS = False
