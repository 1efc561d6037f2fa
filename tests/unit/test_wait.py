"""The wait for AVAILABLE: what ends it, and when the server's liveness is checked."""

from __future__ import annotations

import pytest

from tfsctl.apply.wait import STARTING_INTERVAL, Expectation, ServingFailed, wait_until_serving
from tfsctl.errors import TfsctlError
from tfsctl.live.state import ServedModel, ServedVersion, VersionState

EXPECT = Expectation({"hpt": frozenset({2})})


def _status(*states: VersionState, error: str = "OK") -> ServedModel:
    return ServedModel("hpt", tuple(ServedVersion(2, s, error, "") for s in states))


class Gone(TfsctlError):
    """The server apply started is no longer the one running."""


def test_served_at_the_first_look_checks_the_server_once() -> None:
    checks: list[str] = []
    wait_until_serving(EXPECT, lambda _: _status(VersionState.AVAILABLE), timeout=10,
                       alive=lambda: checks.append("alive"))
    assert checks == ["alive"]


def test_answers_from_a_server_that_is_not_ours_do_not_end_the_wait() -> None:
    """Everything looks served, but the server apply started is gone: those answers came from
    someone else, and the wait fails with the liveness check's own error."""
    def alive() -> None:
        raise Gone("the container apply started is gone")

    with pytest.raises(Gone):
        wait_until_serving(EXPECT, lambda _: _status(VersionState.AVAILABLE), timeout=10, alive=alive)


def test_the_server_is_checked_after_every_look_until_served() -> None:
    looks = iter([None, _status(VersionState.LOADING), _status(VersionState.AVAILABLE)])
    events: list[str] = []

    def probe(_: str) -> ServedModel | None:
        events.append("look")
        return next(looks)

    wait_until_serving(EXPECT, probe, timeout=10, first_interval=0.0,
                       alive=lambda: events.append("alive"))
    assert events == ["look", "alive"] * 3


def test_a_version_that_failed_to_load_ends_the_wait_at_once() -> None:
    with pytest.raises(ServingFailed, match="hpt/2 failed to load"):
        wait_until_serving(EXPECT, lambda _: _status(VersionState.END, error="NOT_FOUND"),
                           timeout=3600)


def test_a_starting_server_is_asked_often_a_loading_one_less_and_less(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """While the server does not answer (it is starting: it answers once its models are
    loaded) the pause stays short; once it answers, it grows up to the longest pause."""
    pauses: list[float] = []
    monkeypatch.setattr("tfsctl.apply.wait.time.sleep", pauses.append)
    looks = iter([None] * 12 + [_status(VersionState.LOADING)] * 12
                 + [_status(VersionState.AVAILABLE)])
    wait_until_serving(EXPECT, lambda _: next(looks), timeout=3600)
    starting, loading = pauses[:12], pauses[12:]
    assert max(starting) == STARTING_INTERVAL and starting[-1] == STARTING_INTERVAL, starting
    assert loading == sorted(loading) and loading[-1] == 0.25, loading
