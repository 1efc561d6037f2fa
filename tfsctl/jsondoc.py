"""Reading tfsctl's own JSON documents (saved plans, live-state snapshots) with errors
that say which file and what to do, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tfsctl.errors import TfsctlError


def read_document(path: Path, *, kind: str, what: str, description: str, hint: str) -> dict[str, Any]:
    """The JSON object in `path` whose `kind` is `kind`; `what` names such a file in errors
    ("plan file"), `description` says what it should be ("a tfsctl plan file")."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TfsctlError(f"{what} {path} does not exist", hint) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TfsctlError(f"{what} {path} cannot be read as JSON: {exc}", hint) from None
    if not isinstance(data, dict) or data.get("kind") != kind:
        raise TfsctlError(f"{path} is not {description}", hint)
    return data
