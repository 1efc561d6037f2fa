"""The inference operations both APIs share: predict, classify, regress, metadata.

REST and gRPC only translate their wire formats to and from these calls, so
the two APIs cannot drift apart in what they compute.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfsctl.serve.loader import RunError, numpy_dtype
from tfsctl.serve.manager import ModelManager, VersionSlot

CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
PREDICT_METHOD = "tensorflow/serving/predict"


@dataclass(frozen=True)
class Target:
    model: str
    version: int | None = None
    label: str | None = None
    signature_name: str = ""


class Core:
    def __init__(self, manager: ModelManager):
        self.manager = manager

    def _signature(self, target: Target) -> tuple[VersionSlot, Any]:
        _, version = self.manager.resolve(target.model, target.version, target.label)
        try:
            signature = version.loaded.signature(target.signature_name)
        except KeyError as exc:
            raise RunError(str(exc.args[0])) from None
        return version, signature

    def input_dtypes(self, target: Target) -> dict[str, np.dtype]:
        _, signature = self._signature(target)
        return {k: numpy_dtype(v.dtype) for k, v in signature.inputs.items()}

    def predict(self, target: Target, inputs: Mapping[str, np.ndarray],
                output_filter: list[str] | None = None) -> tuple[int, dict[str, np.ndarray]]:
        version, signature = self._signature(target)
        unknown = [o for o in output_filter or () if o not in signature.outputs]
        if unknown:
            raise RunError(f"output tensor alias not found in signature: {', '.join(unknown)}")
        return version.version, version.loaded.run(signature, dict(inputs), output_filter)

    def _examples_signature(self, target: Target, method: str) -> tuple[VersionSlot, Any]:
        version, signature = self._signature(target)
        if signature.method_name != method:
            raise RunError(f"Expected {method.rsplit('/', 1)[-1]} signature method_name to be "
                           f"{method}. Was: {signature.method_name}")
        if len(signature.inputs) != 1:
            raise RunError("Expected one input Tensor.")
        return version, signature

    def regress(self, target: Target, serialized: list[bytes]) -> tuple[int, list[float]]:
        version, signature = self._examples_signature(target, REGRESS_METHOD)
        key = next(iter(signature.inputs))
        out = version.loaded.run(signature, {key: np.array(serialized, dtype=object)}, ["outputs"]
                                 if "outputs" in signature.outputs else None)
        values = next(iter(out.values())).reshape(len(serialized), -1)
        return version.version, [float(v[0]) for v in values]

    def classify(self, target: Target, serialized: list[bytes]
                 ) -> tuple[int, list[list[tuple[str, float]]]]:
        version, signature = self._examples_signature(target, CLASSIFY_METHOD)
        key = next(iter(signature.inputs))
        out = version.loaded.run(signature, {key: np.array(serialized, dtype=object)})
        count = len(serialized)
        scores = out.get("scores")
        classes = out.get("classes")
        results = []
        for i in range(count):
            row_scores = scores.reshape(count, -1)[i] if scores is not None else None
            row_classes = classes.reshape(count, -1)[i] if classes is not None else None
            width = len(row_scores) if row_scores is not None else len(row_classes)
            results.append([
                ((row_classes[j].decode() if isinstance(row_classes[j], bytes) else
                  str(row_classes[j])) if row_classes is not None else "",
                 float(row_scores[j]) if row_scores is not None else 0.0)
                for j in range(width)])
        return version.version, results

    def metadata(self, target: Target) -> tuple[int, dict[str, Any]]:
        _, version = self.manager.resolve(target.model, target.version, target.label)
        return version.version, version.loaded.signatures


def example_from_json(features: Mapping[str, Any]) -> Any:
    """A tf.train.Example from TF Serving's JSON example format."""
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    for name, value in features.items():
        values = value if isinstance(value, list) else [value]
        feature = example.features.feature[name]
        if all(isinstance(v, int) for v in values):  # bool is an int too
            feature.int64_list.value.extend(int(v) for v in values)
        elif all(isinstance(v, (int, float)) for v in values):
            feature.float_list.value.extend(float(v) for v in values)
        else:
            feature.bytes_list.value.extend(
                (base64.b64decode(v["b64"]) if isinstance(v, dict) else
                 str(v).encode()) for v in values)
    return example
