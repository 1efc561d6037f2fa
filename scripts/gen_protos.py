#!/usr/bin/env python3
"""Generate tfsctl's protobuf modules (tfsctl/protos/*_pb2.py and .pyi) from the .proto files.

The generated modules are checked in, so that installing tfsctl needs no code
generator; this script is how they are made, and `--check` (run by the tests)
fails when a checked-in module differs from what the .proto files generate.
Needs grpcio-tools, pinned in the `dev` extra: the generator's version is
written into the modules, and the protobuf runtime must be at least that version.
prediction_service.proto refers to TensorFlow's own messages (TensorProto,
Example, SignatureDef); their definitions are taken from the installed
TensorFlow's modules (a descriptor set), so generating needs the `tf` extra too.

    python scripts/gen_protos.py           # rewrite tfsctl/protos/*_pb2.py(i)
    python scripts/gen_protos.py --check   # exit 1, naming the stale files, if any differ
"""

from __future__ import annotations

import argparse
import filecmp
import importlib
import os
import re
import sys
import tempfile
from importlib import resources
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROTO_DIR = Path("tfsctl") / "protos"
TF_IMPORT = re.compile(r'^import "(tensorflow/[\w/]+)\.proto";', re.MULTILINE)


def tensorflow_descriptors(protos: list[Path], out: Path) -> list[str]:
    """Write the descriptors of the TensorFlow .proto files `protos` import (and of what those
    import, but protobuf's own) as a descriptor set to `out`; protoc's arguments to read it."""
    from google.protobuf import descriptor_pb2

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # importing them imports TensorFlow
    wanted = sorted({name for proto in protos for name in TF_IMPORT.findall(proto.read_text())})
    if not wanted:
        return []
    files: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    pending = [importlib.import_module(name.replace("/", ".") + "_pb2").DESCRIPTOR for name in wanted]
    while pending:
        file = pending.pop()
        if file.name in files or file.name.startswith("google/protobuf/"):
            continue
        files[file.name] = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(files[file.name])
        pending.extend(file.dependencies)
    out.write_bytes(descriptor_pb2.FileDescriptorSet(file=list(files.values())).SerializeToString())
    return [f"--descriptor_set_in={out}"]


def generate(out_dir: Path) -> list[Path]:
    """Run protoc on every .proto under tfsctl/protos/; the generated files, relative to out_dir."""
    from grpc_tools import protoc

    protos = sorted((REPO / PROTO_DIR).glob("*.proto"))
    well_known = resources.files("grpc_tools") / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        tensorflow = tensorflow_descriptors(protos, Path(tmp) / "tensorflow.pb")
        code = protoc.main(["protoc", f"-I{REPO}", f"-I{well_known}", *tensorflow,
                            f"--python_out={out_dir}", f"--pyi_out={out_dir}",
                            *(str(p.relative_to(REPO)) for p in protos)])
    if code != 0:
        raise SystemExit(f"gen_protos: protoc failed (exit {code})")
    return sorted(p.relative_to(out_dir) for p in (out_dir / PROTO_DIR).glob("*_pb2.py*"))


def stale_files() -> list[str]:
    """Generated files that are missing, different or no longer generated in the repository."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        stale = [str(p) for p in fresh
                 if not (REPO / p).exists() or not filecmp.cmp(Path(tmp) / p, REPO / p, shallow=False)]
    checked_in = {p.relative_to(REPO) for p in (REPO / PROTO_DIR).glob("*_pb2.py*")}
    return stale + sorted(str(p) for p in checked_in - set(fresh))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare instead of writing; exit 1 if a checked-in file is stale")
    args = parser.parse_args()
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"gen_protos: {path} is not what the .proto files generate", file=sys.stderr)
        if stale:
            print("  fix: run python scripts/gen_protos.py and commit the result", file=sys.stderr)
        return 1 if stale else 0
    for path in generate(REPO):
        print(f"gen_protos: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
