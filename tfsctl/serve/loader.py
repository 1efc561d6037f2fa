"""Load one SavedModel version as TF Serving does, and run its signatures.

A TF1 session over the SavedModel's graph, restored with the `serve` tag;
signatures are run by feeding and fetching the tensor names their
SignatureDef lists. (TF2's eager loader fails on some TF1 models that TF
Serving serves fine, so it is not used.) `Session.run` is thread-safe, so
one loaded version serves concurrent requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tfsctl.tfenv import import_tensorflow

tf = import_tensorflow()
import numpy as np  # noqa: E402
from tensorflow.core.protobuf import meta_graph_pb2  # noqa: E402

DEFAULT_SIGNATURE = "serving_default"


class LoadError(Exception):
    pass


class RunError(ValueError):
    """A request does not fit the signature (TF Serving answers INVALID_ARGUMENT)."""


@dataclass
class LoadedVersion:
    path: str
    session: Any
    signatures: dict[str, meta_graph_pb2.SignatureDef]

    def signature(self, name: str) -> meta_graph_pb2.SignatureDef:
        key = name or DEFAULT_SIGNATURE
        if key not in self.signatures:
            raise KeyError(f"Serving signature name: \"{key}\" not found in signature def")
        return self.signatures[key]

    def run(self, signature: meta_graph_pb2.SignatureDef, inputs: dict[str, np.ndarray],
            output_filter: list[str] | None = None) -> dict[str, np.ndarray]:
        unknown = set(inputs) - set(signature.inputs)
        if unknown:
            raise RunError(f"input tensor alias not found in signature: {', '.join(sorted(unknown))}"
                           f". Inputs expected to be in the set {{{','.join(sorted(signature.inputs))}}}.")
        missing = set(signature.inputs) - set(inputs)
        if missing:
            raise RunError(f"Missing input: {', '.join(sorted(missing))}")
        names = output_filter or sorted(signature.outputs)
        graph = self.session.graph
        try:
            feed = {graph.get_tensor_by_name(signature.inputs[k].name).ref():
                    np.asarray(v, dtype=numpy_dtype(signature.inputs[k].dtype))
                    for k, v in inputs.items()}
            fetch = [graph.get_tensor_by_name(signature.outputs[n].name) for n in names]
            # Session.run would refuse a feed whose shape differs from the placeholder's
            # static shape (a Python-only check); TF Serving's C++ Session::Run does not
            # check it, so e.g. half_plus_two's x of shape [?, 1] accepts [1.0, 2.0, 5.0].
            # _do_run is the same call without that check.
            values = self.session._do_run(None, [], fetch, feed, None, None)
        except (tf.errors.OpError, ValueError, TypeError) as exc:
            raise RunError(_first_line(exc)) from None
        return dict(zip(names, values, strict=True))

    def close(self) -> None:
        self.session.close()


def _first_line(exc: Exception) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return message.splitlines()[0] if message else type(exc).__name__


def load_version(path: str) -> LoadedVersion:
    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph)
    try:
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], path)
    except Exception as exc:  # noqa: BLE001 - TF raises many kinds; all are load failures
        session.close()
        raise LoadError(_first_line(exc)) from None
    return LoadedVersion(path, session, dict(meta.signature_def))


def numpy_dtype(enum_value: int) -> np.dtype:
    return tf.dtypes.as_dtype(enum_value).as_numpy_dtype


def make_ndarray(tensor_proto: Any) -> np.ndarray:
    return tf.make_ndarray(tensor_proto)


def make_tensor_proto(value: np.ndarray) -> Any:
    return tf.make_tensor_proto(value)
