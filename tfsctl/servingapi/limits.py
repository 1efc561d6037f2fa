"""What one request may make the server hold, checked before anything is allocated.

TF Serving has no such bound: a 29-byte gRPC PredictRequest declaring shape
[250000000] with a single `float_val` is expanded to a gigabyte tensor. Here
every input tensor's element count and size are computed from its declared
shape (the TensorProto's dims, or the JSON value's nesting) and refused with
INVALID_ARGUMENT beyond the limits, before a byte of it exists; request
bodies (REST) and messages (gRPC) are capped at the same byte limit. The
limits are tfsctl's own flags (`--max_request_elements`, `--max_request_bytes`),
generous enough for any real request to the models TF Serving serves.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from tfsctl.servingapi.status import invalid

DEFAULT_MAX_ELEMENTS = 1 << 24  # 16 Mi values: a 64 MiB float32 tensor
DEFAULT_MAX_BYTES = 64 << 20
# NumPy's most dimensions (NPY_MAXDIMS): a tensor of more cannot be made here
MAX_RANK = 64


@dataclass(frozen=True)
class RequestLimits:
    max_elements: int = DEFAULT_MAX_ELEMENTS
    max_bytes: int = DEFAULT_MAX_BYTES

    def check_body(self, size: int) -> None:
        if size > self.max_bytes:
            raise invalid(f"Request body of {size} bytes exceeds the limit of {self.max_bytes} bytes "
                          "(tfsctl serve --max_request_bytes)")

    def check_tensors(self, tensors: Iterable[tuple[str, list[int], int]]) -> None:
        """(name, declared shape, bytes per element) of every input: refused when one has an
        impossible shape or when together they exceed the limits."""
        elements = size = 0
        for name, shape, itemsize in tensors:
            if len(shape) > MAX_RANK:
                raise invalid(f"Input {name} has {len(shape)} dimensions; at most {MAX_RANK} "
                              "are allowed")
            if any(dim < 0 for dim in shape):
                raise invalid(f"Input {name} has a negative dimension in its shape {shape}")
            count = math.prod(shape)
            elements += count
            size += count * itemsize
        if elements > self.max_elements:
            raise invalid(f"Request inputs hold {elements} elements, more than the limit of "
                          f"{self.max_elements} (tfsctl serve --max_request_elements)")
        if size > self.max_bytes:
            raise invalid(f"Request inputs need {size} bytes, more than the limit of "
                          f"{self.max_bytes} (tfsctl serve --max_request_bytes)")


DEFAULT_LIMITS = RequestLimits()
