"""The one exception type the CLI turns into a clean message and exit code 1.

Code anywhere in tfsctl raises `TfsctlError` (or a subclass) for problems a
user can fix; the message says what is wrong and `hint` what to do. Anything
else reaching the CLI is a bug and is reported as such, still without a
traceback unless TFSCTL_DEBUG=1.
"""

from __future__ import annotations


class TfsctlError(Exception):
    """`notes` are further facts printed on their own lines after the fix (what a rollback
    restored, say): they are not instructions, so they never take the `fix:` line."""

    def __init__(self, message: str, hint: str = "", notes: tuple[str, ...] = ()):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.notes = notes
