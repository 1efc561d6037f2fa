"""A deployment under test: a spec written to disk, applied and inspected with the real CLI
in a subprocess, and the models the end-to-end tests deploy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.support.images import SERVE_IMAGE
from tests.support.net import free_port
from tests.support.paths import REPO
from tfsctl.journal import JOURNAL_FILE

_CHECKPOINT_SCRIPT = textwrap.dedent("""
    import sys
    import tensorflow as tf
    tf.compat.v1.disable_eager_execution()
    out, a, b = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, shape=[None], name="x")
        w = tf.compat.v1.Variable(a, name="w")
        c = tf.compat.v1.Variable(b, name="c")
        tf.identity(w * x + c, name="y")
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            saver.save(sess, out + "/model.ckpt")
""")


#: A SavedModel computing y = 0.5x + 2 like half_plus_two, that fails (INVALID_ARGUMENT) for
#: any input of 3 or more: a smoke request of x = 1 passes, real inputs do not.
_PICKY_SCRIPT = textwrap.dedent("""
    import sys
    import tensorflow as tf

    class Picky(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def serve(self, x):
            tf.debugging.assert_less(x, 3.0, message="picky: x must be < 3")
            return {"y": 0.5 * x + 2.0}

    module = Picky()
    tf.saved_model.save(module, sys.argv[1], signatures={"serving_default": module.serve})
""")


#: The repository's own half_plus_two SavedModel (y = 0.5x + 2).
HALF_PLUS_TWO = REPO / "examples/models/half_plus_two/1"


def hpt_model(versions: list[int], stable: int) -> dict[str, Any]:
    """Model `hpt`: half_plus_two at `versions`, `stable` on one of them, a smoke request."""
    return {"name": "hpt", "policy": {"specific": versions},
            "versions": {v: {"source": {"saved_model": str(HALF_PLUS_TWO)}} for v in versions},
            "labels": {"stable": stable},
            "smoke": [{"request": {"instances": [1.0]}, "expect": {"predictions": [2.5]},
                       "label": "stable"}]}


def make_checkpoint(directory: Path, a: float, b: float) -> Path:
    """A TF1 checkpoint computing y = a*x + b with tensors named x:0 and y:0."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-c", _CHECKPOINT_SCRIPT, str(directory), str(a), str(b)],
                   check=True, capture_output=True, timeout=300)
    return directory / "model.ckpt"


def make_picky_model(directory: Path) -> Path:
    """The SavedModel of `_PICKY_SCRIPT` at `directory`: a version that passes its smoke
    request and fails on real inputs (what a canary's analysis is for)."""
    subprocess.run([sys.executable, "-c", _PICKY_SCRIPT, str(directory)], check=True,
                   capture_output=True, timeout=300)
    return directory


@dataclass
class Deployment:
    """A spec under test: written to disk, applied and inspected with the real CLI."""

    root: Path
    runtime: str
    grpc: int = field(default_factory=free_port)
    rest: int = field(default_factory=free_port)
    name: str = field(default_factory=lambda: f"e2e{os.getpid()}{time.monotonic_ns() % 10**6}")

    @property
    def spec_file(self) -> Path:
        return self.root / "tfsctl.yaml"

    def write(self, models: list[dict[str, Any]], **server: Any) -> Path:
        # a broken version fails at once instead of after TF Serving's 5 retries a minute apart
        body: dict[str, Any] = {
            "name": self.name, "runtime": self.runtime, "model_root": "models",
            "ports": {"grpc": self.grpc, "rest": self.rest},
            "flags": {"max_num_load_retries": 0}, **server, "models": models}
        if self.runtime == "docker":
            body.setdefault("image", SERVE_IMAGE)
        self.spec_file.write_text(yaml.safe_dump({"apiVersion": "tfsctl/v1", "servers": [body]},
                                                 sort_keys=False))
        return self.spec_file

    def tfsctl(self, *args: str, check: bool = False, timeout: float = 600,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "tfsctl.cli.main", *args],
                                capture_output=True, text=True, cwd=self.root, timeout=timeout,
                                env={**os.environ, "NO_COLOR": "1", **(env or {})})
        if check and result.returncode != 0:
            raise AssertionError(f"tfsctl {' '.join(args)} exited {result.returncode}\n"
                                 f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
        return result

    def apply(self, *extra: str, check: bool = True, env: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess[str]:
        return self.tfsctl("apply", "-f", str(self.spec_file), "--auto-approve", *extra,
                           check=check, env=env)

    def plan_exit_code(self) -> int:
        return self.tfsctl("plan", "-f", str(self.spec_file), "--detailed-exitcode").returncode

    def predict(self, model: str, values: list[float], suffix: str = "") -> list[float]:
        response = requests.post(f"http://127.0.0.1:{self.rest}/v1/models/{model}{suffix}:predict",
                                 data=json.dumps({"instances": values}), timeout=30)
        assert response.status_code == 200, response.text
        return response.json()["predictions"]

    def status(self, model: str) -> dict[str, str]:
        response = requests.get(f"http://127.0.0.1:{self.rest}/v1/models/{model}", timeout=10)
        return {s["version"]: s["state"] for s in response.json().get("model_version_status", [])}

    def available(self, model: str) -> set[str]:
        return {v for v, state in self.status(model).items() if state == "AVAILABLE"}

    def answers_version_1(self, timeout: float = 60) -> bool:
        """Version 1 of `hpt` (served before any interrupted apply) answers within `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                response = requests.post(
                    f"http://127.0.0.1:{self.rest}/v1/models/hpt/versions/1:predict",
                    json={"instances": [1.0]}, timeout=2)
                if response.status_code == 200 and response.json()["predictions"] == [2.5]:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.2)
        return False

    def assert_no_partial_version(self, context: str) -> None:
        """Every version dir of `hpt` a server could see is complete."""
        for path in (self.root / "models/hpt").iterdir():
            if path.name.isdigit():
                assert (path / "saved_model.pb").exists(), (context, path.name)

    def guardian_done(self, timeout: float) -> bool:
        """The undo journal of an interrupted apply is gone (its guardian finished) in time."""
        journal = self.root / "models" / ".tfsctl" / JOURNAL_FILE
        deadline = time.monotonic() + timeout
        while journal.exists():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    def server_identity(self) -> str:
        """The container id or the local process id: unchanged by a hot reload."""
        status = self.tfsctl("status", "-f", str(self.spec_file), "--json", check=True)
        data = json.loads(status.stdout)
        return str(data["servers"][0]["runtime"]["identity"])
