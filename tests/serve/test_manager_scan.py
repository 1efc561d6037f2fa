"""The model manager's file-system polling, in-process with a stand-in loader: a base path
that cannot be listed (missing, unreadable, the process out of file descriptors) says
nothing about which versions exist, so the versions being served stay (TF Serving's
file-system source keeps the aspired versions); only a base path listed without them
unloads them."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from tfsctl.serve import manager as manager_module
from tfsctl.serve.manager import ModelManager
from tfsctl.serverconfig.model_config import ModelEntry


class _Loaded:
    closed = False

    def close(self) -> None:
        self.closed = True


def _serving(base: Path) -> ModelManager:
    (base / "1").mkdir(parents=True)
    manager = ModelManager(lambda path: _Loaded(), max_load_retries=0)
    manager.set_config((ModelEntry("m", str(base)),))  # no thread: set_config's wait needs one
    return manager


@pytest.fixture
def manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModelManager:
    monkeypatch.setattr(ModelManager, "_await_models", lambda self, names: None)
    found = _serving(tmp_path / "m")
    found.poll()
    assert found.status("m") == [(1, "AVAILABLE", "OK", "")]
    return found


def test_a_vanished_base_path_keeps_its_versions(manager: ModelManager, tmp_path: Path) -> None:
    os.rename(tmp_path / "m", tmp_path / "away")
    manager.poll()
    assert manager.status("m") == [(1, "AVAILABLE", "OK", "")]
    os.rename(tmp_path / "away", tmp_path / "m")
    manager.poll()
    assert manager.status("m") == [(1, "AVAILABLE", "OK", "")]


@pytest.mark.parametrize("code", [errno.EMFILE, errno.ENFILE, errno.EACCES, errno.EIO])
def test_a_base_path_that_cannot_be_listed_keeps_its_versions(
        manager: ModelManager, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    def failing(path: str) -> None:
        raise OSError(code, os.strerror(code), path)

    monkeypatch.setattr(manager_module.os, "scandir", failing)
    manager.poll()
    assert manager.status("m") == [(1, "AVAILABLE", "OK", "")]


def test_a_base_path_listed_without_versions_unloads_them(manager: ModelManager,
                                                         tmp_path: Path) -> None:
    os.rmdir(tmp_path / "m" / "1")
    manager.poll()
    assert manager.status("m") == [(1, "END", "OK", "")]
