"""Writable copies of TF Serving's test models.

The shared test data is read-only, and copies keep its modes: a test that changes,
corrupts or deletes a version works on a copy made writable here.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


def make_writable(root: Path) -> None:
    os.chmod(root, 0o755)
    for path in root.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


def copy_version(source: Path, target: Path) -> Path:
    """A writable copy of one version directory at `target`."""
    shutil.copytree(source, target)
    make_writable(target)
    return target


def writable_copies(testdata: Path, names: Iterable[str], target: Path) -> Path:
    """Writable copies of the models `names` of `testdata`, under `target`."""
    for name in names:
        shutil.copytree(testdata / name, target / name)
    make_writable(target)
    return target


def save_v1_model(path: Path, signatures: Callable[[Any], dict[str, Any]]) -> Path:
    """A TF1 SavedModel at `path` (version dir included), tagged `serve`, whose graph
    `signatures(tf)` builds and whose SignatureDefs it returns."""
    from tfsctl.tfenv import import_tensorflow

    tf = import_tensorflow()
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
        defs = signatures(tf)
        builder = tf.compat.v1.saved_model.builder.SavedModelBuilder(str(path))
        builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map=defs)
        builder.save()
    return path
