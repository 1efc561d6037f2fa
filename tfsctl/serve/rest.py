"""TF Serving's REST API over the standard library's threading HTTP server.

    GET  /v1/models/NAME[/versions/N | /labels/L]            model status
    GET  /v1/models/NAME[/versions/N | /labels/L]/metadata   signatures
    POST /v1/models/NAME[/versions/N | /labels/L]:predict    (also :classify, :regress)

Errors are `{"error": "..."}` with TF Serving's status codes: 404 for an
unknown model, version or label, 400 for a request that does not fit.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format

from tfsctl.serve.core import Core, Target, example_from_json
from tfsctl.serve.loader import RunError
from tfsctl.serve.manager import NotFound
from tfsctl.serve.metrics import Metrics
from tfsctl.serve.tensors import FormatError, format_response, parse_request

log = logging.getLogger("tfsctl.serve")

_PATH = re.compile(r"^/v1/models/(?P<model>[^/:]+)(?:/versions/(?P<version>\d+)|"
                   r"/labels/(?P<label>[^/:]+))?(?P<rest>/metadata|:predict|:classify|:regress)?$")


class _Handler(BaseHTTPRequestHandler):
    server: RestServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without TCP_NODELAY, Nagle's algorithm and
        # the client's delayed ACK add ~40 ms to every keep-alive response.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("rest: " + format, *args)

    def _send(self, status: int, payload: Any, content_type: str = "application/json") -> None:
        body = (payload if isinstance(payload, str) else json.dumps(payload, indent=4)).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"error": message})

    def _route(self) -> tuple[Target, str] | None:
        match = _PATH.match(self.path.split("?", 1)[0])
        if not match:
            if self.server.metrics_path and self.path == self.server.metrics_path:
                self._send(200, self.server.metrics.render(self.server.core.manager),
                           "text/plain; version=0.0.4")
            else:
                self._error(404, f"Malformed request: {self.command} {self.path}")
            return None
        version = int(match["version"]) if match["version"] else None
        return Target(match["model"], version, match["label"]), match["rest"] or ""

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        routed = self._route()
        if routed is None:
            return
        target, rest = routed
        core = self.server.core
        try:
            if rest == "/metadata":
                version, signatures = core.metadata(target)
                self._send(200, {"model_spec": {"name": target.model, "signature_name": "",
                                                "version": str(version)},
                                 "metadata": {"signature_def": {"signature_def": {
                                     name: json_format.MessageToDict(
                                         sig, preserving_proto_field_name=True,
                                         always_print_fields_with_no_presence=True)
                                     for name, sig in signatures.items()}}}})
            elif rest == "":
                if target.label is not None:
                    _, slot = core.manager.resolve(target.model, label=target.label)
                    versions = [slot]
                else:
                    versions = core.manager.status(target.model, target.version)
                self._send(200, {"model_version_status": [
                    {"version": str(v.version), "state": v.state.value,
                     "status": {"error_code": v.error_code, "error_message": v.error}}
                    for v in versions]})
            else:
                self._error(405, f"Method not allowed: GET for {rest[1:]}")
        except NotFound as exc:
            self._error(404, str(exc))

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        routed = self._route()
        if routed is None:
            return
        target, rest = routed
        if rest not in (":predict", ":classify", ":regress"):
            self._error(404, f"Malformed request: POST {self.path}")
            return
        started = time.monotonic()
        try:
            status, payload = 200, self._handle_post(target, rest)
        except NotFound as exc:
            status, payload = 404, {"error": str(exc)}
        except (FormatError, RunError) as exc:
            status, payload = 400, {"error": str(exc)}
        # counted before answering, so a client that reads the metrics next sees it
        self.server.metrics.observe_request(target.model, rest[1:], status,
                                            time.monotonic() - started)
        self._send(status, payload)

    def _handle_post(self, target: Target, rest: str) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise FormatError(f"JSON Parse error: {exc}") from None
        if not isinstance(body, dict):
            raise FormatError("JSON Value: is not an object")
        target = Target(target.model, target.version, target.label,
                        str(body.get("signature_name", "")))
        return self._infer(target, rest, body)

    def _infer(self, target: Target, method: str, body: dict[str, Any]) -> dict[str, Any]:
        core = self.server.core
        if method == ":predict":
            inputs, row = parse_request(body, core.input_dtypes(target))
            _, outputs = core.predict(target, inputs)
            return format_response(outputs, row)
        examples = body.get("examples")
        if not isinstance(examples, list) or not examples:
            raise FormatError("'examples' must be a non-empty list")
        context = body.get("context") or {}
        serialized = [example_from_json({**context, **e}).SerializeToString() for e in examples]
        if method == ":regress":
            return {"results": core.regress(target, serialized)[1]}
        return {"results": [[list(pair) for pair in row]
                            for row in core.classify(target, serialized)[1]]}


class RestServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], core: Core, metrics: Metrics,
                 metrics_path: str | None):
        super().__init__(address, _Handler)
        self.core, self.metrics, self.metrics_path = core, metrics, metrics_path
