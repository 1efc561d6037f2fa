"""The export's one error type, below the modules that raise it."""

from __future__ import annotations

from tfsctl.errors import TfsctlError


class ExportError(TfsctlError):
    """An export failed; nothing was left behind."""
