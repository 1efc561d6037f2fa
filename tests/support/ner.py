"""The NER example (examples/ner) deployed for a test: its checkpoints made, its spec on
free ports in a temporary directory, plus a `probe` gateway whose handler fails on
request, for the error classes the NER handler cannot produce."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.support.net import free_port
from tests.support.paths import REPO

EXAMPLE = REPO / "examples" / "ner"
SENTENCE = "张三在北京的清华大学工作"
ENTITIES = [{"word": "张三", "start": 0, "end": 2, "type": "PER"},
            {"word": "北京", "start": 3, "end": 5, "type": "LOC"},
            {"word": "清华大学", "start": 6, "end": 10, "type": "ORG"}]

PROBE = """
def preprocess(payload):
    if payload.get("fail") == "boom":
        raise RuntimeError("the handler has a bug")
    return {payload.get("model", "ner_per"): {"charinputs": [[1]], "seginputs": [[0]],
                                              "dropout": 1.0}}

def postprocess(payload, outputs):
    return {"shape": [list(o["logits"].shape) for o in outputs.values()]}
"""


@dataclass
class NerDeployment:
    root: Path
    runtime: str
    image: str = ""
    ports: dict[str, int] = field(default_factory=lambda: {k: free_port() for k in (
        "grpc", "rest", "ner", "probe")})

    @property
    def server(self) -> str:
        return f"ner{os.getpid()}"

    @property
    def spec_file(self) -> Path:
        return self.root / "ner.yaml"

    @property
    def handler(self) -> Path:
        return self.root / "handlers" / "ner.py"

    def prepare(self) -> None:
        shutil.copytree(EXAMPLE / "handlers", self.root / "handlers")
        (self.root / "probe").mkdir()
        (self.root / "probe" / "probe.py").write_text(PROBE)
        subprocess.run([sys.executable, str(EXAMPLE / "make_checkpoints.py"),
                        str(self.root / "checkpoints")], check=True, capture_output=True,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        spec = yaml.safe_load((EXAMPLE / "ner.yaml").read_text(encoding="utf-8"))
        spec["variables"]["runtime"] = self.runtime
        server = spec["servers"][0]
        server.update(model_root="models", name=self.server,
                      ports={"grpc": self.ports["grpc"], "rest": self.ports["rest"]})
        if self.image:
            server["image"] = self.image
        ner = spec["gateways"][0]
        ner.update(server=server["name"], port=self.ports["ner"], max_body_bytes=65536)
        probe = {"name": "probe", "server": server["name"], "handler": "probe/probe.py",
                 "port": self.ports["probe"]}
        for gateway in (ner, probe):
            if self.image:
                gateway["image"] = self.image
        spec["gateways"].append(probe)
        self.spec_file.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False),
                                  encoding="utf-8")

    def tfsctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tfsctl.cli.main", *args, "-f",
                               str(self.spec_file)], capture_output=True, text=True,
                              cwd=self.root, timeout=900, env={**os.environ, "NO_COLOR": "1"})

    def drop_gateway(self, name: str) -> None:
        """Remove gateway `name` from the spec."""
        spec = yaml.safe_load(self.spec_file.read_text(encoding="utf-8"))
        spec["gateways"] = [g for g in spec["gateways"] if g["name"] != name]
        self.spec_file.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False),
                                  encoding="utf-8")

    def last_outcome(self) -> str:
        """The outcome and summary of the last apply `tfsctl history` lists."""
        rows = [[cell.strip() for cell in line.split("│")[1:-1]]
                for line in self.tfsctl("history").stdout.splitlines() if line.startswith("│")]
        last = [row for row in rows if row[0].isdigit()][-1]
        return f"{last[3]} {last[4]}"

    def apply(self) -> subprocess.CompletedProcess[str]:
        return self.tfsctl("apply", "--auto-approve")

    def post(self, gateway: str, body: bytes | Any) -> requests.Response:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return requests.post(f"http://127.0.0.1:{self.ports[gateway]}/v1/gateways/"
                             f"{'ner-api' if gateway == 'ner' else gateway}:predict",
                             data=data, timeout=60)

    def entities(self, text: str = SENTENCE) -> Any:
        answer = self.post("ner", {"text": text})
        assert answer.status_code == 200, answer.text
        return answer.json()["entities"]
