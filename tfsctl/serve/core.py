"""The inference operations both APIs share: predict, classify, regress, metadata.

REST and gRPC only translate their wire formats to and from these calls, so
the two APIs cannot drift apart in what they compute or how they fail. The
checks and messages follow TF Serving's predict_util.cc, classifier.cc and
regressor.cc.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfsctl.serve.batching import Batcher
from tfsctl.serve.loader import (
    CLASSIFY_METHOD,
    DEFAULT_SIGNATURE,
    PREDICT_METHOD,
    REGRESS_METHOD,
    LoadedVersion,
    make_ndarray,
)
from tfsctl.serve.manager import ModelManager
from tfsctl.servingapi.status import Code, ServingError, invalid


@dataclass(frozen=True)
class Target:
    model: str
    version: int | None = None
    label: str | None = None
    signature_name: str = ""

    @property
    def signature_key(self) -> str:
        return self.signature_name or DEFAULT_SIGNATURE


@dataclass(frozen=True)
class Result:
    """What a call answered with: the version that served it, and the signature used."""

    version: int
    signature_name: str


def _names(keys: Any) -> str:
    return ",".join(sorted(keys))


def serialized_examples(request_input: Any) -> list[bytes]:
    """tensorflow.serving.Input -> serialized tf.Examples (context merged under each)."""
    kind = request_input.WhichOneof("kind")
    if kind == "example_list":
        examples = [e.SerializeToString() for e in request_input.example_list.examples]
    elif kind == "example_list_with_context":
        group = request_input.example_list_with_context
        context = group.context.SerializeToString()
        # Concatenated serializations parse as a merge: the example's features win.
        examples = [context + e.SerializeToString() for e in group.examples]
    else:
        examples = []
    if not examples:
        raise invalid("Input is empty.")
    return examples


class Core:
    def __init__(self, manager: ModelManager, batcher: Batcher | None = None):
        self.manager = manager
        self.batcher = batcher

    def _run(self, loaded: LoadedVersion, signature: Any, inputs: dict[str, np.ndarray],
             aliases: list[str]) -> dict[str, np.ndarray]:
        """One session run, merged with concurrent ones of the same signature when batching."""
        if self.batcher is None:
            return loaded.run(signature, inputs, aliases)
        key = (id(loaded), signature.SerializeToString(deterministic=True), tuple(aliases))
        return self.batcher.run(key, lambda merged: loaded.run(signature, merged, aliases), inputs)

    @contextlib.contextmanager
    def _servable(self, target: Target) -> Iterator[tuple[int, LoadedVersion]]:
        if not target.model:
            raise invalid("ModelSpec has no name specified.")
        with self.manager.serving(target.model, target.version, target.label) as slot:
            yield slot.version, slot.loaded

    def input_dtypes(self, target: Target) -> dict[str, int]:
        """The named signature's inputs and their DataTypes (REST's first step, TF Serving's
        GetInfoMap: its signature error is INVALID_ARGUMENT)."""
        with self._servable(target) as (_, loaded):
            return {k: v.dtype for k, v in loaded.signature(target.signature_name).inputs.items()}

    def predict(self, target: Target, inputs: Mapping[str, np.ndarray],
                output_filter: list[str] | None = None) -> tuple[Result, dict[str, np.ndarray]]:
        with self._servable(target) as (version, loaded):
            return self._predict(target, version, loaded, inputs, output_filter)

    def _predict(self, target: Target, version: int, loaded: LoadedVersion,
                 inputs: Mapping[str, np.ndarray], output_filter: list[str] | None
                 ) -> tuple[Result, dict[str, np.ndarray]]:
        key = target.signature_key
        if key not in loaded.signatures:
            raise ServingError(Code.FAILED_PRECONDITION, f'Serving signature key "{key}" not found.')
        signature = loaded.signatures[key]
        if signature.method_name not in (PREDICT_METHOD, CLASSIFY_METHOD, REGRESS_METHOD):
            raise ServingError(Code.INTERNAL, "Expected prediction signature method_name to be one "
                                              f"of {{{PREDICT_METHOD}, {CLASSIFY_METHOD}, "
                                              f"{REGRESS_METHOD}}}. Was: {signature.method_name}")
        sent, expected = set(inputs), set(signature.inputs)
        if len(sent) > len(expected) or (len(sent) < len(expected) and not signature.defaults):
            raise invalid(f"input size does not match signature: {len(sent)}!={len(expected)} "
                          f"len({{{_names(sent)}}}) != len({{{_names(expected)}}}). Sent extra: "
                          f"{{{_names(sent - expected)}}}. Missing but required: "
                          f"{{{_names(expected - sent)}}}.")
        for alias in inputs:
            if alias not in signature.inputs:
                raise invalid(f"input tensor alias not found in signature: {alias}. Inputs "
                              f"expected to be in the set {{{_names(expected)}}}.")
        aliases: list[str] = []
        for alias in output_filter or ():
            if alias not in signature.outputs:
                raise invalid(f"output tensor alias not found in signature: {alias} Outputs "
                              f"expected to be in the set {{{_names(signature.outputs)}}}.")
            if alias in aliases:
                raise invalid(f"duplicate output tensor alias: {alias}")
            aliases.append(alias)
        outputs = self._run(loaded, signature, dict(inputs), aliases or sorted(signature.outputs))
        return Result(version, key), outputs

    @staticmethod
    def _examples_signature(target: Target, loaded: LoadedVersion, method: str, kind: str) -> Any:
        key = target.signature_key
        if key not in loaded.signatures:
            raise invalid(f"No signature was found with the name: {key}")
        signature = loaded.signatures[key]
        if signature.method_name != method:
            raise invalid(f"Expected {kind} signature method_name to be {method}. Was: "
                          f"{signature.method_name}")
        if len(signature.inputs) != 1:
            raise invalid("Expected one input Tensor.")
        if "inputs" not in signature.inputs:
            raise invalid(f"No {kind} inputs found in SignatureDef: {signature}")
        return signature

    def regress(self, target: Target, examples: list[bytes]) -> tuple[Result, list[float]]:
        with self._servable(target) as (version, loaded):
            signature = self._examples_signature(target, loaded, REGRESS_METHOD, "regression")
            return Result(version, target.signature_key), self._regress(loaded, signature, examples)

    def _regress(self, loaded: LoadedVersion, signature: Any, examples: list[bytes]) -> list[float]:
        if len(signature.outputs) != 1:
            raise invalid("Expected one output Tensor.")
        if "outputs" not in signature.outputs:
            raise invalid(f"No regression outputs found in SignatureDef: {signature}")
        out = self._run(loaded, signature, {"inputs": np.array(examples, dtype=object)}, ["outputs"])
        values = out["outputs"]
        if not (values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1)):
            raise invalid("Expected output Tensor shape to be either [batch_size] or "
                          f"[batch_size, 1] but got {list(values.shape)}")
        if values.shape[0] != len(examples):
            raise invalid(f"Input batch size did not match output batch size: {len(examples)} vs. "
                          f"{values.shape[0]}")
        if values.dtype != np.float32:
            raise invalid(f"Expected output Tensor of DT_FLOAT.  Got: {values.dtype}")
        return [float(v) for v in values.reshape(-1)]

    def classify(self, target: Target, examples: list[bytes]
                 ) -> tuple[Result, list[list[tuple[str, float]]]]:
        with self._servable(target) as (version, loaded):
            signature = self._examples_signature(target, loaded, CLASSIFY_METHOD, "classification")
            return Result(version, target.signature_key), self._classify(loaded, signature, examples)

    def _classify(self, loaded: LoadedVersion, signature: Any, examples: list[bytes]
                  ) -> list[list[tuple[str, float]]]:
        if len(signature.outputs) not in (1, 2):
            raise invalid(f"Expected one or two output Tensors, found {len(signature.outputs)}")
        wanted = [name for name in ("classes", "scores") if name in signature.outputs]
        if not wanted:
            raise invalid('Expected classification signature outputs to contain at least one of '
                          f'"classes" or "scores". Signature was: {signature}')
        out = self._run(loaded, signature, {"inputs": np.array(examples, dtype=object)}, wanted)
        classes, scores = out.get("classes"), out.get("scores")
        for name, tensor, kind in (("classes", classes, "O"), ("scores", scores, "f")):
            if tensor is None:
                continue
            if tensor.ndim != 2:
                raise invalid(f"Expected Tensor shape: [batch_size num_classes] but got "
                              f"{list(tensor.shape)}")
            if tensor.dtype.kind != kind or (kind == "f" and tensor.dtype != np.float32):
                dtype = "DT_STRING" if kind == "O" else "DT_FLOAT"
                raise invalid(f"Expected {name} Tensor of {dtype}. Got: {tensor.dtype}")
            if tensor.shape[0] != len(examples):
                raise invalid(f"Expected {name} output batch size of {len(examples)}. Got: "
                              f"{tensor.shape[0]}")
        if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
            raise invalid("Tensors class and score should match in dim_size(1). Got "
                          f"{classes.shape[1]} vs. {scores.shape[1]}")
        present = classes if classes is not None else scores
        assert present is not None, "checked above: a classifier has classes or scores"
        width = present.shape[1]
        return [[((classes[i, j].decode("utf-8", "replace") if classes is not None else ""),
                   (float(scores[i, j]) if scores is not None else 0.0)) for j in range(width)]
                for i in range(len(examples))]

    def metadata(self, target: Target) -> tuple[Result, dict[str, Any]]:
        with self._servable(target) as (version, loaded):
            return Result(version, ""), loaded.signatures

    def replay(self, loaded: LoadedVersion, record: Any) -> None:
        """Run one warmup PredictionLog on a version being loaded, as TF Serving's warmup
        does: the request's model name and version are ignored, its signature is used, the
        answer is dropped, and a failure fails the load."""
        kind = record.WhichOneof("log_type")
        if kind is None:
            return
        if kind not in ("predict_log", "classify_log", "regress_log"):
            raise ServingError(Code.UNIMPLEMENTED, f"Unsupported log_type for warmup: {kind}")
        request = getattr(record, kind).request
        target = Target("", signature_name=request.model_spec.signature_name)
        if kind == "predict_log":
            inputs = {k: make_ndarray(k, v) for k, v in request.inputs.items()}
            self._predict(target, 0, loaded, inputs, list(request.output_filter) or None)
        elif kind == "classify_log":
            signature = self._examples_signature(target, loaded, CLASSIFY_METHOD, "classification")
            self._classify(loaded, signature, serialized_examples(request.input))
        else:
            signature = self._examples_signature(target, loaded, REGRESS_METHOD, "regression")
            self._regress(loaded, signature, serialized_examples(request.input))
