"""Load one SavedModel version as TF Serving does, and run its signatures.

A TF1 session over the SavedModel's graph, restored with the configured tags
(`serve` by default); signatures are run by feeding and fetching the tensor
names their SignatureDef lists. (TF2's eager loader fails on some TF1 models
that TF Serving serves fine, so it is not used.) `Session.run` is
thread-safe, so one loaded version serves concurrent requests. Load failures
carry the code and message TF Serving's C++ loader reports, because that is
what a client sees in the version's status.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

from tfsctl.servingapi.status import Code, ServingError, invalid
from tfsctl.tfenv import import_tensorflow

tf = import_tensorflow()
import numpy as np  # noqa: E402
from google.protobuf.message import DecodeError  # noqa: E402
from tensorflow.core.protobuf import config_pb2, meta_graph_pb2  # noqa: E402

DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"


@dataclass
class LoadedVersion:
    path: str
    session: Any
    signatures: dict[str, meta_graph_pb2.SignatureDef]
    # (signature, inputs, outputs) -> a callable session step, made on first use
    _steps: dict[tuple[int, tuple[str, ...], tuple[str, ...]], Any] = field(default_factory=dict)
    _steps_lock: threading.Lock = field(default_factory=threading.Lock)

    def signature(self, name: str) -> meta_graph_pb2.SignatureDef:
        """The signature a predict names (REST's message; gRPC predict words it differently)."""
        key = name or DEFAULT_SIGNATURE
        if key not in self.signatures:
            raise invalid(f'Serving signature name: "{key}" not found in signature def')
        return self.signatures[key]

    def run(self, signature: meta_graph_pb2.SignatureDef, inputs: dict[str, np.ndarray],
            output_aliases: list[str]) -> dict[str, np.ndarray]:
        aliases = tuple(sorted(inputs))
        try:
            step = self._step(signature, aliases, tuple(output_aliases))
            values = step(*(inputs[alias] for alias in aliases))
        except tf.errors.OpError as exc:
            raise ServingError(Code(exc.error_code), _first_line(exc)) from None
        except (ValueError, TypeError) as exc:
            raise invalid(_first_line(exc)) from None
        return {alias: _array(value) for alias, value in zip(output_aliases, values, strict=True)}

    def _step(self, signature: meta_graph_pb2.SignatureDef, inputs: tuple[str, ...],
              outputs: tuple[str, ...]) -> Any:
        """The session's callable for these feeds and fetches, as TF Serving runs a signature:
        TensorFlow prepares the step once instead of on every request. Like TF Serving's C++
        Session::Run, and unlike Session.run, it does not refuse a feed whose shape differs
        from the placeholder's static shape (half_plus_two's x of shape [?, 1] accepts
        [1.0, 2.0, 5.0])."""
        key = (id(signature), inputs, outputs)
        step = self._steps.get(key)
        if step is None:
            options = config_pb2.CallableOptions(
                feed=[signature.inputs[k].name for k in inputs],
                fetch=[signature.outputs[n].name for n in outputs])
            with self._steps_lock:
                # Session.make_callable goes through Session.run's shape check; this is the
                # C++ MakeCallable it would wrap
                step = self._steps.get(key) or self.session._make_callable_from_options(options)
                self._steps[key] = step
        return step

    def close(self) -> None:
        self.session.close()


def _array(value: Any) -> np.ndarray:
    """A fetched value as an array: a scalar string output comes back as plain `bytes`
    (numpy would make that a fixed-width bytes array, not a string tensor)."""
    if isinstance(value, np.ndarray):
        return value
    return np.array(value, dtype=object if isinstance(value, bytes) else None)


def _first_line(exc: Exception) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return message.splitlines()[0] if message else type(exc).__name__


def load_version(path: str, tags: tuple[str, ...] = ("serve",)) -> LoadedVersion:
    if not any(os.path.isfile(os.path.join(path, name))
               for name in ("saved_model.pb", "saved_model.pbtxt")):
        raise ServingError(Code.NOT_FOUND, "Could not find SavedModel .pb or .pbtxt at supplied "
                                           f"export directory path: {path}")
    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph)
    try:
        meta = tf.compat.v1.saved_model.loader.load(session, list(tags), path)
    except BaseException as exc:
        session.close()
        raise _load_error(exc, path, tags) from None
    return LoadedVersion(path, session, dict(meta.signature_def))


def _load_error(exc: BaseException, path: str, tags: tuple[str, ...]) -> ServingError:
    if isinstance(exc, tf.errors.OpError):
        return ServingError(Code(exc.error_code), _first_line(exc))
    if isinstance(exc, DecodeError) or "Cannot parse file" in str(exc):
        return ServingError(Code.DATA_LOSS, f"Can't parse {path}/saved_model.pb as binary proto")
    if isinstance(exc, RuntimeError) and "could not be found in SavedModel" in str(exc):
        return ServingError(Code.NOT_FOUND, "Could not find meta graph def matching supplied tags: "
                                            f"{{ {' '.join(tags)} }}. To inspect available tag-sets "
                                            "in the SavedModel, please use the SavedModel CLI: "
                                            "`saved_model_cli`")
    if isinstance(exc, Exception):
        return ServingError(Code.UNKNOWN, _first_line(exc))
    raise exc  # KeyboardInterrupt and friends are not load failures


def tensor_itemsize(tensor_proto: Any) -> int:
    """Bytes per element of a TensorProto's dtype (1 for strings and dtypes that are not
    data: their size is the message's, or they are refused when converted)."""
    try:
        return max(1, tf.dtypes.as_dtype(tensor_proto.dtype).size)
    except (TypeError, ValueError, KeyError):
        return 1


def make_ndarray(alias: str, tensor_proto: Any) -> np.ndarray:
    """A request's TensorProto as an array; anything TensorFlow cannot read (unknown or
    non-data dtypes such as DT_RESOURCE, values that do not fit the shape) is refused with
    TF Serving's "tensor parsing error"."""
    try:
        content = tensor_proto.tensor_content
        if content and tensor_proto.dtype != tf.string.as_datatype_enum:
            # TF's make_ndarray copies the bytes once more; the session copies its feeds
            shape = [dim.size for dim in tensor_proto.tensor_shape.dim]
            return np.frombuffer(content, dtype=tf.dtypes.as_dtype(tensor_proto.dtype)
                                 .as_numpy_dtype).reshape(shape)
        return tf.make_ndarray(tensor_proto)
    except Exception as exc:  # noqa: BLE001 - whatever TF raises, the input is at fault
        raise invalid(f"tensor parsing error: {alias} ({_first_line(exc)})") from None
