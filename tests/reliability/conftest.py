"""The reliability suite runs real deployments, on both runtimes, like the e2e tests."""

from tests.e2e.conftest import deployment  # noqa: F401 - the fixture, shared with tests/e2e
