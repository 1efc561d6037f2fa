"""Where a plan's host paths are shown relative to (finding it looks at the disk)."""

from __future__ import annotations

import os
from pathlib import Path

from tfsctl.anchor import anchor_of


def display_prefixes(spec_file: Path, stand_ins: tuple[Path, ...] = ()) -> dict[str, str]:
    """Where plan paths are shown relative to: the repository holding the spec (the nearest
    directory with `.git`), else the spec's own directory. The spec's directory counts in
    both spellings (resolved, as plan paths are, and as given), and so does each of
    `stand_ins` (the spec's directory on the machine that took a snapshot)."""
    spec_dir = Path(os.path.abspath(spec_file)).parent
    real_dir = Path(os.path.realpath(spec_dir))
    root = anchor_of(spec_file)
    shown = os.path.relpath(real_dir, root)
    return {str(root): ".", **{str(d): shown for d in (spec_dir, real_dir, *stand_ins)}}
