"""A server's runtime options: written flat, each runtime taking only its own keys.

The located errors for misplaced keys are cases in bad_specs/ (runtime_*.yaml); these
are the rest of the contract: the JSON Schema says the same as validation, a server
dumps as it is written, and every runtime the spec names has its code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.support.paths import REPO
from tfsctl.cli.spec_commands import schema_text
from tfsctl.runtimes.desired import desired_runtime
from tfsctl.runtimes.registry import profile
from tfsctl.spec.load import load_spec
from tfsctl.spec.model import Server, Spec
from tfsctl.spec.runtimes import DEFAULT_RUNTIME, RUNTIMES, runtimes_with
from tfsctl.spec.runtimes.local import LocalOptions
from tfsctl.spec.runtimes.swarm import SwarmOptions


def _spec(**server: Any) -> dict[str, Any]:
    return {"apiVersion": "tfsctl/v1", "servers": [{"name": "tfs", **server}]}


@pytest.fixture(scope="module")
def schema() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(schema_text()))


@pytest.mark.parametrize("example", sorted((REPO / "examples").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_the_schema_takes_every_example(example: Path,
                                        schema: jsonschema.Draft202012Validator) -> None:
    """Each example as validated (its variables filled in), dumped as a spec is written."""
    spec = load_spec(example).spec.model_dump(mode="json", by_alias=True)
    assert [e.message for e in schema.iter_errors(spec)] == []


@pytest.mark.parametrize("server, valid", [
    ({}, True),
    ({"image": "x", "replicas": 3, "resources": {"cpus": 1}}, True),
    ({"runtime": "swarm", "image": "x", "replicas": 3}, True),
    ({"runtime": "local", "allow_external_base_paths": True}, True),
    ({"runtime": "local", "replicas": 3}, False),
    ({"runtime": "local", "image": "x"}, False),
    ({"runtime": "swarm", "allow_external_base_paths": True}, False),
    ({"allow_external_base_paths": True}, False),
    ({"runtime": "podman"}, False),
    ({"imgae": "x"}, False),
])
def test_the_schema_takes_each_runtimes_own_keys_only(
        server: dict[str, Any], valid: bool, schema: jsonschema.Draft202012Validator) -> None:
    """What editors flag is what validate refuses."""
    assert schema.is_valid(_spec(**server)) is valid
    try:
        Spec.model_validate(_spec(**server))
    except ValueError:
        assert not valid
    else:
        assert valid


def test_a_server_dumps_as_it_is_written() -> None:
    server = Spec.model_validate(_spec(runtime="swarm", replicas=3, image="x")).servers[0]
    dumped = server.model_dump(mode="json")
    assert "runtime_options" not in dumped
    assert (dumped["runtime"], dumped["replicas"], dumped["image"]) == ("swarm", 3, "x")
    assert Server.model_validate(dumped) == server


def test_the_nested_form_is_not_a_key_users_write() -> None:
    with pytest.raises(ValueError, match="runtime_options"):
        Spec.model_validate(_spec(runtime_options={"runtime": "local"}))


def test_a_server_without_runtime_is_a_docker_server() -> None:
    server = Spec.model_validate(_spec()).servers[0]
    assert server.runtime == DEFAULT_RUNTIME == "docker"


def test_misplaced_keys_are_named_with_the_runtimes_that_have_them() -> None:
    assert runtimes_with("replicas") == ("docker", "swarm")
    assert runtimes_with("allow_external_base_paths") == ("local",)
    assert runtimes_with("runtime") == () and runtimes_with("polcy") == ()


@pytest.mark.parametrize("kind", RUNTIMES)
def test_every_runtime_is_found_by_its_name(kind: str) -> None:
    found = profile(kind)
    assert found.kind == kind
    server = Spec.model_validate(_spec(runtime=kind)).servers[0]
    assert isinstance(found.options(server), found.options_type)


def test_a_profile_reads_only_its_own_runtimes_options() -> None:
    local = Spec.model_validate(_spec(runtime="local")).servers[0]
    with pytest.raises(TypeError, match="swarm runtime was asked about a local server"):
        profile("swarm").options(local)


def test_swarm_tasks_are_started_from_the_specs_replicas() -> None:
    server = Spec.model_validate(_spec(runtime="swarm", replicas=3)).servers[0]
    assert desired_runtime(server).launch({}).replicas == 3


def test_a_local_server_answers_what_every_runtime_is_asked() -> None:
    """The Kubernetes manifests and the memory check ask any server for these."""
    options = Spec.model_validate(_spec(runtime="local")).servers[0].runtime_options
    assert isinstance(options, LocalOptions)
    assert (options.replicas, options.resources.memory) == (1, None)
    assert options.image == SwarmOptions(runtime="swarm").image
