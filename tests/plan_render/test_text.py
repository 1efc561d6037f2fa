"""The terminal plan: symbols carry the meaning, colour only repeats it."""

from __future__ import annotations

import re

import pytest

from tests.plan_render.builders import SCENARIOS, entry, plan, server
from tests.plan_render.golden import assert_golden, text_of
from tfsctl.plan.model import Change, ModelChange, ServerAction

ANSI = re.compile(r"\x1b\[[0-9;]*m")
LIVE = "Compared against the live state, observed now."


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_text_matches_golden(name: str) -> None:
    assert_golden(f"{name}.txt", text_of(SCENARIOS[name]))


def test_reload_header_and_items() -> None:
    lines = text_of(SCENARIOS["reload"]).splitlines()
    assert '~ server "default" will be reloaded (model config only: hot reload, no downtime)' in lines
    stripped = [line.strip() for line in lines]
    assert "+ half_plus_two/3  export from checkpoint ./ckpt/model.ckpt-1000 (missing on disk)" \
        in stripped
    assert "+ resnet/1  export from SavedModel ./exports/resnet (missing on disk)" in stripped
    assert "+ classifier/7  export from Keras model ./keras/classifier.keras (missing on disk)" \
        in stripped
    assert any(s.startswith("- half_plus_two/1  prune /srv/models/half_plus_two/1") for s in stripped)
    assert "~ policy: latest 1 -> specific [2, 3]" in stripped
    assert "+ labels.canary: (none) -> 3" in stripped
    assert '- model "retired"' in stripped
    assert '~ half_plus_two: label "canary" -> version 3' in stripped
    assert lines[-1] == "Plan: 4 to add, 1 to change, 2 to destroy."


def test_fields_are_indented_under_their_model() -> None:
    lines = text_of(SCENARIOS["reload"]).splitlines()
    model = next(i for i, line in enumerate(lines) if 'model "half_plus_two"' in line)
    indent = len(lines[model]) - len(lines[model].lstrip())
    assert len(lines[model + 1]) - len(lines[model + 1].lstrip()) > indent


def test_replace_says_downtime_in_the_header() -> None:
    output = text_of(SCENARIOS["replace"])
    assert output.startswith(f"{LIVE}\n\nSymbols: ~ update in place, -/+ replace\n")
    assert ('-/+ server "default" will be replaced, with downtime (image '
            "tensorflow/serving:2.18.0 -> tensorflow/serving:2.19.1)") in output
    assert "Warning [downtime] replace: the server stops answering" in output


def test_errors_come_first_and_are_counted() -> None:
    lines = [line.strip() for line in text_of(SCENARIOS["errors"]).splitlines()]
    kinds = [line.split("[")[0].strip() for line in lines if line.startswith(("Error [", "Warning ["))]
    assert kinds == ["Error", "Error", "Warning"]
    assert "Error [source-missing] half_plus_two/3: cannot export version 3: ./ckpt/missing does " \
           "not exist" in lines
    assert lines[-2:] == ["Error: the plan has 2 errors; apply refuses until they are fixed.",
                          "Plan: 1 to add, 1 to change, 0 to destroy."]


def test_no_changes() -> None:
    output = text_of(SCENARIOS["no_changes"])
    assert output.splitlines()[-1] == "No changes. The servers match the spec."
    assert "Symbols" not in output and "Error" not in output


def test_drift_without_changes_is_still_shown() -> None:
    output = text_of(SCENARIOS["drift"])
    assert "Drift [config-edited]: /srv/models/model.config was changed" in output
    assert "Drift [version-not-served]: half_plus_two version 2" in output
    assert output.splitlines()[-1] == "No changes. The servers match the spec."


def test_destroy_and_create_symbols() -> None:
    assert text_of(SCENARIOS["destroy"]).startswith(
        f'{LIVE}\n\nSymbols: - remove\n\n- server "default" will be destroyed')
    assert '+ server "default" will be created' in text_of(SCENARIOS["create"])


def test_no_color_output_has_no_escape_codes_and_color_output_only_adds_them() -> None:
    plain = text_of(SCENARIOS["reload"])
    coloured = text_of(SCENARIOS["reload"], color=True)
    assert not ANSI.search(plain)
    assert ANSI.search(coloured)
    assert ANSI.sub("", coloured) == plain


def test_user_strings_are_not_rich_markup() -> None:
    odd = "[bold]m[/bold]"
    output = text_of(plan(server(ServerAction.RELOAD, models=(ModelChange(odd, Change.CREATE),),
                                 desired_entries=(entry(odd),))))
    assert f'+ model "{odd}"' in output


def test_notes_are_printed() -> None:
    assert "Note: planned 2 of 3 servers" in text_of(SCENARIOS["two_servers"])


def test_every_baseline_is_named_first() -> None:
    snapshot = text_of(SCENARIOS["snapshot_policy"]).splitlines()[0]
    assert snapshot.startswith("Compared against the live-state snapshot live.json (taken "
                               "2026-12-01T09:30:00+00:00, 45 minutes old)")
    assert text_of(SCENARIOS["against_spec"]).splitlines()[0] == (
        "Compared against the spec base.yaml, as if it were applied and converged; no engine "
        "or server was contacted.")


def test_policy_findings_are_listed_and_a_denial_is_counted() -> None:
    output = text_of(SCENARIOS["snapshot_policy"])
    assert ("Policy denied [deny_replace_with_downtime_in_prod]: server default would be "
            "replaced, with downtime, in prod") in output
    assert "Policy warning [warn]: model half_plus_two has no smoke requests" in output
    assert "Error: 1 policy denial: the plan fails its policies." in output
    assert "policy denial" not in text_of(SCENARIOS["reload"])
