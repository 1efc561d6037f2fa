"""Turn a version source into a version directory TF Serving can load, atomically.

Every export is built in a temporary directory beside the target (same file
system; its `.tfsctl-tmp-` name is not an integer, so TF Serving ignores it),
verified by loading it the way TF Serving does (a TF1 session and the `serve`
tag), and only then renamed into place. A failure removes the temporary
directory: the server never sees a half-written version, and an existing
version is never overwritten.

TensorFlow is imported inside the functions: importing this module is cheap.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tfsctl import __version__
from tfsctl.atomic import TEMP_PREFIX, fsync_dir, write_atomic
from tfsctl.export.errors import ExportError
from tfsctl.export.warmup import warmup_records, write_warmup
from tfsctl.failpoints import failpoint
from tfsctl.live.fingerprint import checkpoint_files, fingerprint_source
from tfsctl.live.modeldir import RECORDS_DIR
from tfsctl.live.sources import source_kind, source_path
from tfsctl.spec.sources import CheckpointSource, KerasSource, SavedModelSource
from tfsctl.tfenv import import_tensorflow

Source = SavedModelSource | CheckpointSource | KerasSource
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ExportResult:
    target: str
    source_kind: str
    source_path: str
    source_fingerprint: str
    signatures: tuple[str, ...]
    seconds: float


def _quiet_tensorflow() -> Any:
    return import_tensorflow()


def load_signatures(path: Path) -> tuple[str, ...]:
    """Load a SavedModel as TF Serving does (TF1 session, `serve` tag); its signature names."""
    return tuple(sorted(load_signature_defs(path)))


def load_signature_defs(path: Path) -> dict[str, Any]:
    """Load a SavedModel as TF Serving does (TF1 session, `serve` tag); its SignatureDefs."""
    tf = _quiet_tensorflow()
    graph = tf.Graph()
    try:
        with tf.compat.v1.Session(graph=graph) as session:
            meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(path))
    except Exception as exc:  # noqa: BLE001 - TF raises many types for a bad model
        raise ExportError(f"{path} does not load as a SavedModel with the `serve` tag: "
                          f"{str(exc).splitlines()[0][:300]}",
                          "check the source: it must be a complete SavedModel") from None
    return dict(meta.signature_def)


def _copy_saved_model(source: SavedModelSource, work: Path, progress: Progress) -> None:
    progress(f"verifying {source.saved_model}")
    signatures = load_signatures(source.saved_model)
    missing = [s for s in source.signatures if s not in signatures]
    if missing:
        raise ExportError(f"{source.saved_model} lacks the signatures {missing} "
                          f"(it has {list(signatures)})", "fix `signatures:` or the source")
    progress("copying")
    shutil.copytree(source.saved_model, work, dirs_exist_ok=True, copy_function=shutil.copyfile)


def _tensor(graph: Any, name: str, what: str) -> Any:
    """The tensor `name` ('x:0'), or for an operation name ('x') its first output, as the
    tutorials that name placeholders mean it."""
    try:
        if ":" not in name:
            outputs = graph.get_operation_by_name(name).outputs
            if outputs:
                return outputs[0]
            raise ExportError(f"the checkpoint's graph operation {name!r} has no output to use "
                              f"as the {what}", "name a tensor such as 'x:0'")
        return graph.get_tensor_by_name(name)
    except (KeyError, ValueError):
        wanted = name.split(":")[0]
        close = sorted(op.name for op in graph.get_operations()
                       if wanted.lower() in op.name.lower())[:5]
        raise ExportError(f"the checkpoint's graph has no {what} tensor {name!r}",
                          f"use a name like 'x:0'; similar operations: {close}" if close else
                          "list the graph's tensors to find the right name") from None


def _convert_checkpoint(source: CheckpointSource, work: Path, progress: Progress) -> None:
    tf = _quiet_tensorflow()
    try:
        meta, prefix = checkpoint_files(source)
    except (OSError, StopIteration) as exc:
        raise ExportError(f"cannot find the checkpoint in {source.checkpoint}: {exc}",
                          "point `checkpoint:` at a prefix such as model.ckpt-1000") from None
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
        progress(f"importing the meta graph {meta.name}")
        try:
            saver = tf.compat.v1.train.import_meta_graph(str(meta), clear_devices=True)
            progress(f"restoring variables from {prefix.name}")
            if saver is not None:
                saver.restore(session, str(prefix))
        except Exception as exc:  # noqa: BLE001
            raise ExportError(f"cannot restore the checkpoint {prefix}: "
                              f"{str(exc).splitlines()[0][:300]}",
                              "check that the meta graph and the checkpoint belong together"
                              ) from None
        inputs = {key: _tensor(graph, name, "input") for key, name in source.inputs.items()}
        outputs = {key: _tensor(graph, name, "output") for key, name in source.outputs.items()}
        signature = tf.compat.v1.saved_model.signature_def_utils.predict_signature_def(
            inputs=inputs, outputs=outputs)
        progress("writing the SavedModel")
        builder = tf.compat.v1.saved_model.builder.SavedModelBuilder(str(work))
        builder.add_meta_graph_and_variables(
            session, [tf.compat.v1.saved_model.tag_constants.SERVING],
            signature_def_map={source.signature_name: signature},
            main_op=tf.compat.v1.tables_initializer(), strip_default_attrs=True)
        builder.save()


def _export_keras(source: KerasSource, work: Path, progress: Progress) -> None:
    _quiet_tensorflow()
    import keras

    progress(f"loading {source.keras.name}")
    try:
        model = keras.models.load_model(str(source.keras), compile=False)
    except Exception as exc:  # noqa: BLE001
        raise ExportError(f"cannot load the Keras model {source.keras}: "
                          f"{str(exc).splitlines()[0][:300]}",
                          "it must be a .keras or .h5 file saved by Keras") from None
    progress("writing the SavedModel")
    model.export(str(work), format="tf_saved_model", verbose=False)


def _fsync_tree(root: Path) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            os.chmod(path, 0o644)
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        os.chmod(folder, 0o755)
        fsync_dir(Path(folder))


def write_record(base_path: Path, version: int, result: ExportResult) -> None:
    record = {"version": version, **asdict(result),
              "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
              "tfsctl_version": __version__}
    write_atomic(base_path / RECORDS_DIR / f"{version}.json", json.dumps(record, indent=2) + "\n")


def _disk_error(exc: OSError | shutil.Error) -> str:
    """One line for a failed copy: shutil.Error lists every file (source, target, why),
    each path twice; the first reason says it."""
    if isinstance(exc, shutil.Error) and exc.args and isinstance(exc.args[0], list) and exc.args[0]:
        first = exc.args[0][0]
        reason = str(first[2] if isinstance(first, tuple) and len(first) == 3 else first)
        # "[Errno 28] No space left on device: '<temp path>'": the reason, not the path
        reason = re.sub(r"^\[Errno \d+\] ", "", reason).split(": '", 1)[0]
        more = len(exc.args[0]) - 1
        return reason + (f" (and {more} more files)" if more else "")
    if exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc)


def export_version(source: Source, target: Path, *, progress: Progress | None = None,
                   warmup: Sequence[dict[str, Any]] = ()) -> ExportResult:
    """Export `source` into the version dir `target` (which must not exist yet), with the
    `warmup` predict bodies as its warmup file (none: no file)."""
    say = progress or (lambda _: None)
    started = time.monotonic()
    if target.exists():
        raise ExportError(f"{target} already exists; versions are never overwritten",
                          "export under a new version number")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        fingerprint = fingerprint_source(source)
    except (OSError, StopIteration) as exc:  # unreadable, a special file, no checkpoint state
        raise ExportError(f"cannot read the source {source_path(source)}: {exc}",
                          "check the source path and its permissions") from None
    work = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{target.name}-", dir=target.parent))
    try:
        build = work / "model"
        if isinstance(source, SavedModelSource):
            _copy_saved_model(source, build, say)
        elif isinstance(source, CheckpointSource):
            _convert_checkpoint(source, build, say)
        else:
            _export_keras(source, build, say)
        say("verifying the export loads as TF Serving loads it")
        signature_defs = load_signature_defs(build)
        if warmup:
            say(f"writing {len(warmup)} warmup request(s)")
            write_warmup(build, warmup_records(warmup, signature_defs))
        signatures = tuple(sorted(signature_defs))
        _fsync_tree(build)
        failpoint("export-before-rename")
        os.rename(build, target)
        fsync_dir(target.parent)
    except (OSError, shutil.Error) as exc:
        raise ExportError(f"exporting to {target} failed: {_disk_error(exc)}",
                          "free space on the disk holding the model root (or fix what the "
                          "message names), then apply again") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = ExportResult(str(target), source_kind(source), str(source_path(source)), fingerprint,
                          signatures, time.monotonic() - started)
    write_record(target.parent, int(target.name), result)
    return result
