"""What a running server says about its models, over REST (no TensorFlow needed).

`GET /v1/models/NAME` answers TF Serving's GetModelStatus as JSON:
{"model_version_status": [{"version": "1", "state": "AVAILABLE",
"status": {"error_code": "OK", "error_message": ""}}]}; a model the server
does not know is a 404 with {"error": ...}. Short timeouts: plan must answer
quickly even when a server hangs. `requests` is imported when a server is asked, not
with the module: a plan with no server running never needs it (a tenth of plan's imports).
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from tfsctl.live.state import ServedModel, ServedVersion, ServerReport, VersionState

if TYPE_CHECKING:
    import requests

TIMEOUT = (0.5, 2.0)  # connect, read


def parse_status(name: str, payload: dict) -> ServedModel:
    versions = []
    for item in payload.get("model_version_status", []):
        status = item.get("status") or {}
        try:
            state = VersionState(item.get("state", "UNKNOWN"))
        except ValueError:
            state = VersionState.UNKNOWN
        versions.append(ServedVersion(int(item.get("version", 0)), state,
                                      str(status.get("error_code", "OK")),
                                      str(status.get("error_message", ""))))
    return ServedModel(name, tuple(sorted(versions, key=lambda v: v.version)))


def fetch_model_status(rest_url: str, name: str, session: requests.Session | None = None
                       ) -> ServedModel | None:
    """The model's status; None when the server does not answer at all."""
    import requests

    getter = session or requests
    try:
        response = getter.get(f"{rest_url}/v1/models/{name}", timeout=TIMEOUT)
    except requests.RequestException:
        return None
    try:
        payload = response.json()
    except ValueError:
        payload = {"error": response.text[:200]}
    if response.status_code != 200:
        return ServedModel(name, (), error=str(payload.get("error", response.status_code)))
    return parse_status(name, payload)


def observe_report(rest_url: str, models: Iterable[str]) -> ServerReport:
    names = list(dict.fromkeys(models))
    if not names:
        return ServerReport(False, rest_url, error="no models to ask about")
    import requests

    with requests.Session() as session, ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda n: fetch_model_status(rest_url, n, session), names))
    if all(r is None for r in results):
        return ServerReport(False, rest_url, error="the server does not answer")
    return ServerReport(True, rest_url, tuple(r for r in results if r is not None))
