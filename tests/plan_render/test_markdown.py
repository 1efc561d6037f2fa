"""The pull-request comment: summary first, problems up front, details folded, safe tables."""

from __future__ import annotations

import re

import pytest

from tests.plan_render.builders import SCENARIOS, export, plan, server
from tests.plan_render.golden import assert_golden
from tfsctl.plan.model import Change, ModelChange, Plan, ServerAction
from tfsctl.plan.render import COMMENT_LIMIT
from tfsctl.plan.render.markdown import escape_markdown, render_markdown

#: A `|` that ends a table cell (not escaped as `\|`).
CELL_BORDER = re.compile(r"(?<!\\)\|")


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_markdown_matches_golden(name: str) -> None:
    assert_golden(f"{name}.md", render_markdown(SCENARIOS[name]))


def test_summary_line_comes_first() -> None:
    first = render_markdown(SCENARIOS["reload"]).splitlines()[0]
    assert first == ("**tfsctl plan**: 4 to add, 1 to change, 2 to destroy — server default: "
                     "reload (no downtime)")


def test_two_servers_in_the_summary_line() -> None:
    first = render_markdown(SCENARIOS["two_servers"]).splitlines()[0]
    assert first.endswith("server default: reload (no downtime); server gpu: replace (downtime)")
    assert render_markdown(SCENARIOS["two_servers"]).count("<details>") == 2


def test_errors_and_downtime_come_before_the_details() -> None:
    errors = render_markdown(SCENARIOS["errors"])
    assert errors.index("> [!CAUTION]") < errors.index("<details>")
    assert "> **2 errors: apply refuses until they are fixed.**" in errors
    replace = render_markdown(SCENARIOS["replace"])
    assert replace.index("> [!WARNING]") < replace.index("<details>")
    assert "> - server default: replace: the server stops answering" in replace
    assert "[!CAUTION]" not in replace and "[!WARNING]" not in render_markdown(SCENARIOS["reload"])


def test_details_hold_a_diff_block_github_can_colour() -> None:
    output = render_markdown(SCENARIOS["reload"])
    assert '<details><summary>~ server "default": reload (no downtime) — 4 to add, 1 to change, ' \
           "2 to destroy</summary>" in output
    block = output.split("```diff\n", 1)[1].split("\n```", 1)[0]
    lines = block.splitlines()
    assert all(line[:2] in ("+ ", "- ", "! ") for line in lines)
    assert "+   half_plus_two/3  export from checkpoint ./ckpt/model.ckpt-1000 (missing on disk)" in lines
    assert '!   model "half_plus_two"' in lines
    assert "-     labels.old: 1 -> (none)" in lines
    assert output.index("```diff") < output.index("| Version |") < output.index("| Model |") \
        < output.index("</details>")


def test_tables_have_one_cell_per_column() -> None:
    for name in ("reload", "markdown_hostile"):
        rows = [line for line in render_markdown(SCENARIOS[name]).splitlines()
                if line.startswith("| ")]
        assert rows
        assert {len(CELL_BORDER.findall(row)) for row in rows} == {6}, name


def test_user_strings_are_escaped() -> None:
    output = render_markdown(SCENARIOS["markdown_hostile"])
    assert "| pipe\\|model/1 |" in output
    assert "| \\*bold\\* |" in output
    outside_code = re.sub(r"```diff\n.*?\n```", "", output, flags=re.DOTALL)
    assert "labels.<b>x</b>: 1 -> 2" in output  # literal inside the diff block
    assert "<b>" not in outside_code and "labels.&lt;b&gt;x&lt;/b&gt;" in outside_code
    assert output.splitlines()[0].endswith("server a\\|b: reload (no downtime)")
    assert '<summary>~ server "a|b": reload' in output  # HTML context: `|` is harmless there


def test_a_backtick_fence_in_the_diff_cannot_close_the_block() -> None:
    output = render_markdown(plan(server(ServerAction.RELOAD,
                                         versions=(export("m", 1, path="./a```b"),))))
    assert "\n````diff\n" in output and "\n````\n" in output


def test_no_changes_is_a_short_comment() -> None:
    output = render_markdown(SCENARIOS["no_changes"])
    assert output.splitlines()[0] == "**tfsctl plan**: No changes. The servers match the spec."
    assert output.splitlines()[2] == "Compared against the live state, observed now."
    assert "<details>" not in output and "```" not in output
    assert len(output.splitlines()) <= 5


def test_drift_only_plan_shows_the_drift() -> None:
    output = render_markdown(SCENARIOS["drift"])
    assert "- Drift \\[config-edited\\]: /srv/models/model.config was changed" in output
    assert "```diff" not in output


@pytest.mark.parametrize(("raw", "escaped"), [
    ("a|b", "a\\|b"), ("*x*", "\\*x\\*"), ("a_b", "a\\_b"), ("[l](u)", "\\[l\\](u)"),
    ("<script>", "&lt;script&gt;"), ("a\nb", "a b"), ("back\\slash", "back\\\\slash"),
    ("`code`", "\\`code\\`"),
])
def test_escape_markdown(raw: str, escaped: str) -> None:
    assert escape_markdown(raw) == escaped


def test_policy_denials_are_a_caution_and_warnings_a_warning() -> None:
    output = render_markdown(SCENARIOS["snapshot_policy"])
    assert ("> **1 policy denial: the plan fails its policies.**\n> - Policy denied "
            "\\[deny\\_replace\\_with\\_downtime\\_in\\_prod\\]: server default would be replaced"
            ) in output
    assert "> **Policy warnings**\n> - Policy warning \\[warn\\]: model half\\_plus\\_two" in output
    assert "taken 2026-12-01T09:30:00+00:00, 45 minutes old" in output


def _big_plan(servers: int, models: int) -> Plan:
    return plan(*(server(ServerAction.RELOAD, name=f"s{s}", models=tuple(
        ModelChange(f"model_{s}_{m}", Change.CREATE) for m in range(models)))
        for s in range(servers)))


def test_a_plan_too_long_for_a_comment_is_cut_with_its_summary_and_a_note() -> None:
    big = _big_plan(servers=6, models=400)
    full = render_markdown(big)
    assert len(full) > COMMENT_LIMIT
    assert render_markdown(big, limit=len(full)) == full
    cut = render_markdown(big, limit=COMMENT_LIMIT, full_plan_at="the tfsctl-plan artifact")
    assert len(cut) <= COMMENT_LIMIT
    assert cut.splitlines()[0] == full.splitlines()[0]  # the summary line stays
    assert f"This plan is {len(full):,} characters, more than a comment holds" in cut
    assert "The full plan: the tfsctl-plan artifact." in cut
    shown = cut.count("<details>")
    assert 0 < shown < 6
    assert f"{shown} of 6 servers are shown in full" in cut
    assert cut.count('> - \\~ server "s') == 6 - shown  # the others by their summary
    assert cut.count("```") % 2 == 0 and cut.count("<details>") == cut.count("</details>")


def test_a_huge_single_server_is_cut_to_its_summary() -> None:
    cut = render_markdown(_big_plan(servers=1, models=3000), limit=10_000)
    assert len(cut) <= 10_000
    assert "0 of 1 servers are shown in full" in cut and "<details>" not in cut
