"""One error type with TF Serving's canonical codes, for both APIs.

TF Serving decides every failure's code once (absl status codes) and maps it
to HTTP in its REST front end and to gRPC status in its gRPC one; doing the
same here keeps the two APIs from disagreeing about the same failure.
"""

from __future__ import annotations

from enum import IntEnum


class Code(IntEnum):
    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16

    @property
    def http_status(self) -> int:
        """TF Serving's http_server.cc mapping; anything unlisted is 500."""
        return _HTTP.get(self, 500)


_HTTP = {
    Code.OK: 200, Code.CANCELLED: 499, Code.INVALID_ARGUMENT: 400, Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404, Code.ALREADY_EXISTS: 409, Code.PERMISSION_DENIED: 403,
    Code.RESOURCE_EXHAUSTED: 429, Code.FAILED_PRECONDITION: 400, Code.ABORTED: 409,
    Code.OUT_OF_RANGE: 400, Code.UNIMPLEMENTED: 501, Code.UNAVAILABLE: 503,
    Code.UNAUTHENTICATED: 401,
}


class ServingError(Exception):
    """A request or operation failed with a canonical code and TF Serving's message."""

    def __init__(self, code: Code, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message

    def with_code(self) -> str:
        """absl's Status::ToString form, which TF Serving nests in some messages."""
        return f"{self.code.name}: {self.message}"


def invalid(message: str) -> ServingError:
    return ServingError(Code.INVALID_ARGUMENT, message)
