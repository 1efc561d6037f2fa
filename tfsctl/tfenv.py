"""Keep TensorFlow's start-up chatter out of tfsctl's output.

TensorFlow reads these variables when it is first imported, so they are set
at process start (cheaply: TensorFlow itself is imported later, and only
where an export or the server needs it). A user's own settings win.
"""

from __future__ import annotations

import os
import sys
from typing import Any

QUIET = {"TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR", "ABSL_MIN_LOG_LEVEL": "3"}


def quiet_tensorflow() -> None:
    for name, value in QUIET.items():
        os.environ.setdefault(name, value)


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
