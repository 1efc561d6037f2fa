"""The observer's model dirs: one listing per base path, escapes resolved per observation."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tfsctl.live.modeldir import Confinement, observe_model_dir


def _version(base: Path, number: int) -> None:
    (base / str(number) / "variables").mkdir(parents=True)
    (base / str(number) / "saved_model.pb").write_bytes(b"pb")
    (base / str(number) / "variables" / "variables.index").write_bytes(b"ix")


def _confinement(root: Path) -> Confinement:
    with os.scandir(root) as entries:
        return Confinement.of(root, list(entries))


def test_a_re_pointed_model_root_is_resolved_again(tmp_path: Path) -> None:
    """The root's real path is found by each observation, not remembered: with the root
    re-pointed between two plans, its models are still inside it."""
    for name in ("a", "b"):
        _version(tmp_path / name / "m", 1)
    root = tmp_path / "root"
    root.symlink_to(tmp_path / "a")
    assert observe_model_dir(root / "m", _confinement(root)).escapes_root is None
    root.unlink()
    root.symlink_to(tmp_path / "b")
    found = observe_model_dir(root / "m", _confinement(root))
    assert found.escapes_root is None and [v.version for v in found.versions] == [1]


def test_a_symlinked_base_path_leading_out_is_an_escape(tmp_path: Path) -> None:
    _version(tmp_path / "outside" / "m", 1)
    root = tmp_path / "root"
    root.mkdir()
    (root / "m").symlink_to(tmp_path / "outside" / "m")
    escape = observe_model_dir(root / "m", _confinement(root)).escapes_root
    assert escape is not None and "outside the model root" in escape


def test_a_nested_base_path_is_resolved(tmp_path: Path) -> None:
    _version(tmp_path / "outside" / "m", 1)
    root = tmp_path / "root"
    (root / "team").mkdir(parents=True)
    (root / "team" / "m").symlink_to(tmp_path / "outside" / "m")
    assert observe_model_dir(root / "team" / "m", _confinement(root)).escapes_root is not None


def test_versions_and_records_from_one_listing(tmp_path: Path) -> None:
    base = tmp_path / "root" / "m"
    _version(base, 2)
    _version(base, 1)
    (base / "notes.txt").write_text("x")
    records = base / ".tfsctl" / "versions"
    records.mkdir(parents=True)
    (records / "2.json").write_text('{"version": 2, "source_kind": "saved_model", '
                                    '"source_path": "/s", "source_fingerprint": "f"}')
    found = observe_model_dir(base, _confinement(tmp_path / "root"))
    assert [v.version for v in found.versions] == [1, 2] and all(v.complete for v in found.versions)
    assert found.ignored == ("notes.txt",)
    assert [r.version for r in found.exports] == [2]


def test_a_version_fingerprint_hashes_names_sizes_and_mtimes_in_walk_order(tmp_path: Path) -> None:
    """The format saved plans' live fingerprints were made with: it must not drift."""
    base = tmp_path / "m"
    _version(base, 1)
    pb, index = base / "1" / "saved_model.pb", base / "1" / "variables" / "variables.index"
    text = (f"f saved_model.pb 2 {pb.stat().st_mtime_ns}\nd variables\n"
            f"f variables/variables.index 2 {index.stat().st_mtime_ns}\n")
    found = observe_model_dir(base, None)
    assert found.versions[0].fingerprint == hashlib.sha256(text.encode()).hexdigest()[:16]
    assert found.versions[0].size_bytes == 4
