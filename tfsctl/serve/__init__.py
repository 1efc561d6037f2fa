"""A TensorFlow Serving-compatible model server (`tfsctl serve`).

For machines that cannot pull `tensorflow/serving`: it accepts
`tensorflow_model_server`'s flags, loads SavedModels the way TF Serving does
(a TF1 session per version, the `serve` tag, SignatureDefs), and answers
TF Serving's REST and gRPC APIs (with tfsctl's own bindings of TF Serving's
messages, byte-compatible with the official ones). Importing this
package does not import TensorFlow; `main` does.
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    from tfsctl.serve.server import run

    return run(argv)
