"""TF Serving's REST API as a plain function of the request: routing, JSON, errors.

    GET  /v1/models/NAME[/versions/N | /labels/L]            model status
    GET  /v1/models/NAME[/versions/N | /labels/L]/metadata   signatures
    POST /v1/models/NAME[/versions/N | /labels/L]:predict    (also :classify, :regress)

Routing follows TF Serving's http_rest_api_util.cc: paths are matched
case-insensitively, model names and labels are URL-decoded, anything else
under /v1/ is a 400 "Malformed request", and paths outside /v1/ (other than
the metrics path) are 404. Errors are `{"error": "..."}` with the HTTP status
TF Serving maps each canonical code to (status.Code.http_status). As in TF
Serving, a status request by label reports every version of the model.

`RestApi.handle` is synchronous (it runs the model) and never raises: the
HTTP server (http_server.py) calls it on a worker thread and sends what it
returns, so every request that reaches it gets an answer.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from google.protobuf import json_format

from tfsctl.protos import prediction_service_pb2
from tfsctl.serve.answers import error_json, format_classify, format_predict, format_regress
from tfsctl.serve.core import Core, Target, serialized_examples
from tfsctl.serve.metrics import Metrics
from tfsctl.servingapi import bulk
from tfsctl.servingapi.examples import parse_examples
from tfsctl.servingapi.jsonvalues import parse_json, signature_name
from tfsctl.servingapi.limits import RequestLimits
from tfsctl.servingapi.requests import parse_predict
from tfsctl.servingapi.status import Code, ServingError, invalid

log = logging.getLogger("tfsctl.serve")

_SPEC = r"/v1/models(?:/(?P<model>[^/:]+))?(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
_POST = re.compile(_SPEC + r":(?P<method>classify|regress|predict)", re.IGNORECASE)
_GET = re.compile(_SPEC + r"(?:/(?P<metadata>metadata))?", re.IGNORECASE)
_API = re.compile(r"/v1/.*", re.IGNORECASE)
_CORS = (("Access-Control-Allow-Origin", "*"), ("Access-Control-Allow-Methods", "POST, GET"),
         ("Access-Control-Allow-Headers", "Content-Type"))
_INT64_MAX = 2 ** 63 - 1
_NOT_FOUND = "<html><title>404 Not Found</title><body>Not Found</body></html>"


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str | None = "application/json"


def error_response(code: Code, message: str) -> Response:
    return Response(code.http_status, _encode(error_json(message)))


def _encode(text: str) -> bytes:
    # A lone surrogate from the request (JSON allows "\udc00") can be echoed in an error
    # message; it has no UTF-8 form, so it is written as U+FFFD rather than failing the answer.
    return text.encode("utf-8", "replace")


def _version(text: str | None) -> int | None:
    """The URL's version; TF Serving's SimpleAtoi refuses what does not fit an int64."""
    if text is None:
        return None
    if len(text) > 19 or int(text) > _INT64_MAX:
        shown = text if len(text) <= 64 else text[:64] + "..."
        raise invalid(f"Failed to convert version: {shown} to numeric.")
    return int(text)


class RestApi:
    def __init__(self, core: Core, metrics: Metrics, metrics_path: str | None, cors: bool,
                 limits: RequestLimits):
        self.core, self.metrics, self.metrics_path = core, metrics, metrics_path
        self.limits = limits
        # TF Serving sends the CORS headers on every answer when the support is enabled
        self.cors_headers = _CORS if cors else ()

    def handle(self, method: str, target: str, body: bytes, origin: str) -> Response:
        """The answer to one request (`target`: the raw path and query, still URL-encoded)."""
        path = target.split("?", 1)[0]
        if self.metrics_path and path == self.metrics_path:
            return Response(200, self.metrics.render(self.core.manager).encode(), "text/plain")
        if not _API.fullmatch(path):
            return Response(404, _NOT_FOUND.encode(), "text/html")
        if method == "OPTIONS":
            # FAILED_PRECONDITION (400) for a CORS preflight without an Origin
            ok = re.search(r"https?://", origin) is not None
            return Response(200 if ok else 400, b"", None)
        started = time.monotonic()
        call = _Call(method)  # counted in the metrics even when the request fails
        try:
            answer, code = self._process(call, path, target, body), Code.OK
        except ServingError as exc:
            code, answer = exc.code, error_json(exc.message)
        except RecursionError:
            code, answer = Code.INVALID_ARGUMENT, error_json("JSON Parse error: nested too deeply")
        except Exception as exc:  # noqa: BLE001 - a defect still gets an answer, and is logged
            log.exception("REST %s %s failed", method, path[:200])
            code, answer = Code.INTERNAL, error_json(f"Internal error: {type(exc).__name__}")
        self.metrics.observe_request(call.model, call.api, "REST", code, time.monotonic() - started)
        return Response(code.http_status, _encode(answer))

    def _process(self, call: _Call, path: str, target: str, body: bytes) -> str:
        """The JSON answer; raises ServingError."""
        pattern = {"POST": _POST, "GET": _GET}.get(call.method)
        match = pattern.fullmatch(path) if pattern else None
        if match is None:
            shown = target if len(target) <= 1024 else target[:1024] + "..."
            raise invalid(f"Malformed request: {call.method} {shown}")
        call.model = model = unquote(match["model"] or "")
        label = unquote(match["label"]) if match["label"] else None
        version = _version(match["version"])
        if call.method == "GET":
            if not model:
                raise invalid("Missing model name in request.")
            spec = Target(model, version, label)
            return self._metadata(spec) if match["metadata"] else self._status(spec)
        call.api = api = match["method"].lower()
        doc, array = _document(body, api)
        spec = Target(model, version, label, signature_name(doc))
        core = self.core
        if api == "predict":
            read = self._predict_inputs(core.input_dtypes(spec), spec, doc, array, body)
            del array  # its text is as large as the body: not held while the model runs
            _, outputs = core.predict(spec, read[0])
            return format_predict(outputs, read[1])
        request_input = prediction_service_pb2.Input()
        parse_examples(doc, request_input)
        examples = serialized_examples(request_input)
        if api == "regress":
            return format_regress(core.regress(spec, examples)[1])
        return format_classify(core.classify(spec, examples)[1])

    def _predict_inputs(self, dtypes: dict[str, int], spec: Target, doc: dict[str, Any],
                        array: bulk.BulkArray | None, body: bytes
                        ) -> tuple[dict[str, Any], bool]:
        if array is not None:
            read = bulk.predict_inputs(doc, array, dtypes, self.limits)
            if read is not None:
                return read
            doc = parse_json(body)  # the ordinary path reads the whole document
        return parse_predict(doc, dtypes, spec.signature_name, self.limits)

    def _status(self, target: Target) -> str:
        rows = self.core.manager.status(target.model, target.version)
        return json.dumps({"model_version_status": [
            {"version": str(version), "state": state,
             "status": {"error_code": code, "error_message": message}}
            for version, state, code, message in rows]})

    def _metadata(self, target: Target) -> str:
        result, signatures = self.core.metadata(target)
        return json.dumps({
            "model_spec": {"name": target.model, "signature_name": "",
                           "version": str(result.version)},
            "metadata": {"signature_def": {"signature_def": {
                name: json_format.MessageToDict(sig, preserving_proto_field_name=True,
                                                always_print_fields_with_no_presence=True)
                for name, sig in signatures.items()}}}})


def _document(body: bytes, api: str) -> tuple[dict[str, Any], bulk.BulkArray | None]:
    """The request's JSON object; for a large predict whose values are one numeric array,
    the document without that array and the array's text (servingapi/bulk.py). If the rest
    does not parse, the whole body is parsed, so that the error is the one it would be."""
    found = bulk.find(body) if api == "predict" else None
    if found is not None:
        try:
            return parse_json(found[0].encode()), found[1]
        except ServingError:
            pass
    return parse_json(body), None


class _Call:
    """What the metrics record of a request: its model and API, known once it is routed."""

    def __init__(self, method: str):
        self.method, self.model, self.api = method, "", ""
