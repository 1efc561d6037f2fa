"""TF Serving's REST API over the standard library's threading HTTP server.

    GET  /v1/models/NAME[/versions/N | /labels/L]            model status
    GET  /v1/models/NAME[/versions/N | /labels/L]/metadata   signatures
    POST /v1/models/NAME[/versions/N | /labels/L]:predict    (also :classify, :regress)

Routing follows TF Serving's http_rest_api_util.cc: paths are matched
case-insensitively, model names and labels are URL-decoded, anything else
under /v1/ is a 400 "Malformed request", and paths outside /v1/ (other than
the metrics path) are 404. Errors are `{"error": "..."}` with the HTTP status
TF Serving maps each canonical code to (status.Code.http_status). As in TF
Serving, a status request by label reports every version of the model.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from google.protobuf import json_format
from tensorflow_serving.apis import input_pb2

from tfsctl.serve.core import Core, Target, serialized_examples
from tfsctl.serve.metrics import Metrics
from tfsctl.serve.status import Code, ServingError, invalid
from tfsctl.serve.tensors import (
    error_json,
    format_classify,
    format_predict,
    format_regress,
    parse_examples,
    parse_json,
    parse_predict,
    signature_name,
)

log = logging.getLogger("tfsctl.serve")

_SPEC = r"/v1/models(?:/(?P<model>[^/:]+))?(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
_POST = re.compile(_SPEC + r":(?P<method>classify|regress|predict)", re.IGNORECASE)
_GET = re.compile(_SPEC + r"(?:/(?P<metadata>metadata))?", re.IGNORECASE)
_API = re.compile(r"/v1/.*", re.IGNORECASE)
_CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "POST, GET",
         "Access-Control-Allow-Headers": "Content-Type"}


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

    def _send(self, status: int, body: str, content_type: str | None = "application/json") -> None:
        data = body.encode()
        self.send_response(status)
        headers = dict(_CORS) if self.server.cors else {}
        if content_type:
            headers["Content-Type"] = content_type
        headers["Content-Length"] = str(len(data))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        path = self.path.split("?", 1)[0]
        body = self._body()
        if self.server.metrics_path and path == self.server.metrics_path:
            self._send(200, self.server.metrics.render(self.server.core.manager), "text/plain")
            return
        if not _API.fullmatch(path):
            self._send(404, "<html><title>404 Not Found</title><body>Not Found</body></html>",
                       "text/html")
            return
        if self.command == "OPTIONS":
            if re.search(r"https?://", self.headers.get("Origin", "")):
                self._send(200, "", None)
            else:
                self._send(400, "", None)  # FAILED_PRECONDITION: no Origin in a CORS preflight
            return
        started = time.monotonic()
        self.model, self.method = "", ""  # counted in the metrics even when the request fails
        try:
            answer, code = self._process(path, body), Code.OK
        except ServingError as exc:
            code, answer = exc.code, error_json(exc.message)
        self.server.metrics.observe_request(self.model, self.method, "REST", code,
                                            time.monotonic() - started)
        self._send(code.http_status, answer)

    def _process(self, path: str, body: bytes) -> str:
        """The JSON answer; raises ServingError."""
        pattern = {"POST": _POST, "GET": _GET}.get(self.command)
        match = pattern.fullmatch(path) if pattern else None
        if match is None:
            raise invalid(f"Malformed request: {self.command} {self.path}")
        self.model = model = unquote(match["model"] or "")
        label = unquote(match["label"]) if match["label"] else None
        version = int(match["version"]) if match["version"] else None
        target = Target(model, version, label)
        if self.command == "GET":
            if not model:
                raise invalid("Missing model name in request.")
            return self._metadata(target) if match["metadata"] else self._status(target)
        self.method = method = match["method"].lower()
        doc = parse_json(body)
        target = Target(model, version, label, signature_name(doc))
        core = self.server.core
        if method == "predict":
            inputs, row = parse_predict(doc, core.input_dtypes(target), target.signature_name)
            _, outputs = core.predict(target, inputs)
            return format_predict(outputs, row)
        request_input = input_pb2.Input()
        parse_examples(doc, request_input)
        examples = serialized_examples(request_input)
        if method == "regress":
            return format_regress(core.regress(target, examples)[1])
        return format_classify(core.classify(target, examples)[1])

    def _status(self, target: Target) -> str:
        rows = self.server.core.manager.status(target.model, target.version)
        return json.dumps({"model_version_status": [
            {"version": str(version), "state": state,
             "status": {"error_code": code, "error_message": message}}
            for version, state, code, message in rows]})

    def _metadata(self, target: Target) -> str:
        result, signatures = self.server.core.metadata(target)
        return json.dumps({
            "model_spec": {"name": target.model, "signature_name": "",
                           "version": str(result.version)},
            "metadata": {"signature_def": {"signature_def": {
                name: json_format.MessageToDict(sig, preserving_proto_field_name=True,
                                                always_print_fields_with_no_presence=True)
                for name, sig in signatures.items()}}}})

    def _counted(self) -> None:
        with self.server.requests:
            self.server.in_flight += 1
        try:
            self._dispatch()
        finally:
            with self.server.requests:
                self.server.in_flight -= 1
                self.server.requests.notify_all()
            if self.server.draining:
                self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _counted


class RestServer(ThreadingHTTPServer):
    """Connection threads are daemons (an idle keep-alive connection must not hold up exit);
    `drain` is what waits, for the requests actually being answered."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], core: Core, metrics: Metrics,
                 metrics_path: str | None, cors: bool):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)
        self.core, self.metrics, self.metrics_path, self.cors = core, metrics, metrics_path, cors
        self.requests = threading.Condition()
        self.in_flight = 0
        self.draining = False

    def drain(self, timeout: float) -> None:
        """Stop accepting connections and wait up to `timeout` s for in-flight requests."""
        self.draining = True
        self.shutdown()
        with self.requests:
            self.requests.wait_for(lambda: self.in_flight == 0, timeout)
        self.server_close()
