"""A full disk while exporting is one clear line, and leaves nothing beside the versions."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import pytest

from tfsctl.export.exporters import ExportError, export_version
from tfsctl.spec.sources import SavedModelSource

MODEL = Path(__file__).resolve().parents[2] / "examples/models/half_plus_two/1"


def test_a_full_disk_is_one_line_naming_the_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(src: str, dst: str, **kwargs: object) -> str:
        raise OSError(errno.ENOSPC, "No space left on device", dst)

    monkeypatch.setattr(shutil, "copyfile", full)
    target = tmp_path / "models/m/1"
    with pytest.raises(ExportError) as caught:
        export_version(SavedModelSource(saved_model=MODEL), target)
    message = caught.value.message
    assert message.startswith(f"exporting to {target} failed: No space left on device")
    assert message.count(str(MODEL)) <= 1 and "more files" in message, message
    assert "free space" in caught.value.hint
    assert sorted(p.name for p in target.parent.iterdir()) == [], "no temp dir left behind"
