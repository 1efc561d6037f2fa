"""The Kubernetes probe script, run with bash against a real `tfsctl serve`.

The script is what the pods run (bash over /dev/tcp, no curl or python); here
it reads the ready.models file rendered from a spec and asks a server on the
ports the test gives it through the script's environment.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.net import free_port
from tests.support.serve import Server, block, write_config
from tfsctl.kubernetes.manifests import PROBE_FILE, PROBE_MODELS_FILE, config_files
from tfsctl.spec.load import load_spec

SPEC = """\
apiVersion: tfsctl/v1
servers:
  - name: tfs
    kubernetes: {model_volume: {claim: models}}
    models:
      - name: two
        policy: {specific: [123, 124]}
        versions: {123: {}, 124: {}}
      - name: three
"""


def _probe_dir(tmp_path: Path) -> Path:
    """ready.sh and ready.models as the ConfigMap holds them, rendered from SPEC."""
    spec = tmp_path / "tfsctl.yaml"
    spec.write_text(SPEC)
    files = config_files(load_spec(spec).spec.servers[0])
    directory = tmp_path / "config"
    directory.mkdir()
    for name in (PROBE_FILE, PROBE_MODELS_FILE):
        (directory / name).write_text(files[name])
    return directory


def probe(directory: Path, port: int, *args: str, models: str | None = None
          ) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "TFSCTL_PROBE_PORT": str(port)}
    if models is not None:
        (directory / "other.models").write_text(models)
        env["TFSCTL_PROBE_MODELS"] = str(directory / "other.models")
    return subprocess.run(["bash", str(directory / PROBE_FILE), *args], capture_output=True,
                          text=True, env=env, timeout=60)


@pytest.mark.slow
def test_probe_against_a_real_server(serve, models: Path, tmp_path: Path) -> None:  # noqa: ANN001
    """Ready only when every listed version is AVAILABLE; a missing model, a missing version
    and a version still LOADING (a broken one, retried) are not; `--serving` keeps a pod in
    service while a model that already serves loads something new."""
    directory = _probe_dir(tmp_path)
    config = write_config(tmp_path / "model.config",
                          block("two", models / "saved_model_half_plus_two_2_versions",
                                "model_version_policy { specific { versions: 123 versions: 124 } }"),
                          block("three", models / "saved_model_half_plus_three"))
    server: Server = serve(f"--model_config_file={config}", "--model_config_file_poll_wait_seconds=1",
                           "--load_retry_interval_micros=600000000")
    server.wait_for(lambda: server.states("two") == {"124": "AVAILABLE", "123": "AVAILABLE"})

    ready = probe(directory, server.rest)
    assert ready.returncode == 0, ready.stdout + ready.stderr
    assert probe(directory, server.rest, "--serving", "two", "three").returncode == 0

    missing_version = probe(directory, server.rest, models="two 123 125\nthree\n")
    assert missing_version.returncode == 1
    assert "model two: version 125 is not AVAILABLE" in missing_version.stdout
    missing_model = probe(directory, server.rest, models="two\nabsent\n")
    assert (missing_model.returncode, missing_model.stdout.strip()) == (
        1, f"not ready: model absent: no status from 127.0.0.1:{server.rest}")
    no_newline = probe(directory, server.rest, models="three 124")
    assert no_newline.returncode == 1, "the last line counts without a newline too"

    # A model added in place, whose version keeps failing: LOADING while TF Serving retries.
    write_config(config, block("two", models / "saved_model_half_plus_two_2_versions",
                               "model_version_policy { specific { versions: 123 versions: 124 } }"),
                 block("three", models / "saved_model_half_plus_three"),
                 block("broken", models / "bad_half_plus_two"))
    server.wait_for(lambda: server.states("broken") == {"123": "LOADING"})
    loading = probe(directory, server.rest, "--serving", "two", "three", "broken",
                    models="two 123 124\nthree\nbroken\n")
    assert loading.returncode == 1
    assert "model broken: no version AVAILABLE ( 123:LOADING )" in loading.stdout
    strict = probe(directory, server.rest, models="two 123 124\nthree\nbroken 123\n")
    assert "model broken: version 123 is not AVAILABLE ( 123:LOADING )" in strict.stdout
    # The pods that started before `broken` was added check only their own models.
    assert probe(directory, server.rest, "--serving", "two", "three",
                 models="two 123 124\nthree\nbroken\n").returncode == 0
    # A model removed from ready.models no longer holds a pod out of service.
    assert probe(directory, server.rest, "--serving", "two", "broken",
                 models="two 123 124\n").returncode == 0


def test_probe_with_nothing_listening(tmp_path: Path) -> None:
    result = probe(_probe_dir(tmp_path), free_port())
    assert result.returncode == 1
    assert "not ready: model two: no status from 127.0.0.1:" in result.stdout


# TF Serving's own answer to GET /v1/models/NAME (JSON printed by protobuf, indented):
# a version loading beside one that serves.
TF_SERVING_STATUS = """{
 "model_version_status": [
  {
   "version": "124",
   "state": "LOADING",
   "status": {
    "error_code": "OK",
    "error_message": ""
   }
  },
  {
   "version": "123",
   "state": "AVAILABLE",
   "status": {
    "error_code": "OK",
    "error_message": ""
   }
  }
 ]
}
"""


@pytest.fixture
def tf_serving_status() -> Iterator[int]:
    """A stand-in that answers exactly as TF Serving does, for TF Serving's formatting."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            found = self.path in ("/v1/models/two", "/v1/models/three")
            body = TF_SERVING_STATUS if found else json.dumps(
                {"error": "Servable not found for request: Latest(nope)"})
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_probe_reads_tf_servings_indented_status(tmp_path: Path, tf_serving_status: int) -> None:
    directory = _probe_dir(tmp_path)
    loading = probe(directory, tf_serving_status)
    assert loading.returncode == 1
    assert "model two: version 124 is not AVAILABLE ( 124:LOADING 123:AVAILABLE )" in loading.stdout
    assert probe(directory, tf_serving_status, models="two 123\nthree\n").returncode == 0
    assert probe(directory, tf_serving_status, "--serving", "two", "three").returncode == 0
    assert probe(directory, tf_serving_status, models="nope\n").returncode == 1
