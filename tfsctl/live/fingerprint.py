"""Content fingerprints of version sources (no TensorFlow).

A version is immutable: once exported under a number, a different source must
get a new number. Apply records the source's fingerprint when it exports;
plan recomputes it and flags a difference. Content is hashed (names and
bytes), streamed in 1 MiB chunks; only sources of already-exported versions
are hashed, so plan stays fast.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from tfsctl.spec.sources import CheckpointSource, KerasSource, SavedModelSource

CHUNK = 1 << 20


class NotARegularFile(OSError):
    """A source holds a FIFO, a device or a socket: reading it could block forever."""


def _hash_file(digest: hashlib._Hash, path: Path) -> None:
    """Hash a regular file's bytes; anything else is refused before it is opened (plan hung
    on a FIFO in a source, and /dev/zero never ends)."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise NotARegularFile(f"{path} is not a regular file (a FIFO, device or socket)")
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)


def _hash_tree(digest: hashlib._Hash, root: Path) -> None:
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder) / name
            digest.update(f"\0{path.relative_to(root)}\0".encode())
            _hash_file(digest, path)


def checkpoint_files(source: CheckpointSource) -> tuple[Path, Path]:
    """(meta graph, checkpoint prefix) of a checkpoint source, resolving a directory."""
    prefix = source.checkpoint
    if prefix.is_dir():
        state = (prefix / "checkpoint").read_text()
        name = next(line.split(":", 1)[1].strip().strip('"') for line in state.splitlines()
                    if line.startswith("model_checkpoint_path"))
        recorded = Path(name)
        # A checkpoint copied elsewhere keeps the absolute path it was written at; TF
        # resolves such a path by its base name in the directory, and so does this.
        prefix = recorded if recorded.is_absolute() and Path(f"{recorded}.index").exists() \
            else prefix / recorded.name
    return source.meta_graph or Path(f"{prefix}.meta"), prefix


def fingerprint_source(source: SavedModelSource | CheckpointSource | KerasSource) -> str:
    digest = hashlib.sha256()
    if isinstance(source, SavedModelSource):
        _hash_tree(digest, source.saved_model)
    elif isinstance(source, KerasSource):
        _hash_file(digest, source.keras)
    else:
        meta, prefix = checkpoint_files(source)
        _hash_file(digest, meta)
        for path in sorted(prefix.parent.glob(prefix.name + ".*")):
            if path != meta:
                digest.update(f"\0{path.name}\0".encode())
                _hash_file(digest, path)
        digest.update(repr((sorted(source.inputs.items()), sorted(source.outputs.items()),
                            source.signature_name)).encode())
    return digest.hexdigest()
