"""The plan for a terminal, Terraform-style.

Colour comes only from rich styles on `Text` (never markup, so a `[` in a
model name stays a `[`), and every line starts with its symbol, so with
NO_COLOR or in a CI log the plan reads the same.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from tfsctl.plan.model import Plan, PolicyLevel
from tfsctl.plan.render.gateways import gateway_lines
from tfsctl.plan.render.lines import (
    Depth,
    Line,
    Tone,
    baseline_text,
    legend,
    policy_text,
    server_lines,
    summary_sentence,
)

_STYLE = {
    Tone.CREATE: "green",
    Tone.UPDATE: "yellow",
    Tone.DELETE: "red",
    Tone.REPLACE: "magenta",
    Tone.ERROR: "bold red",
    Tone.WARNING: "yellow",
    Tone.DRIFT: "cyan",
    Tone.HEADING: "bold",
    Tone.PLAIN: "",
}

#: Columns of indentation per depth: fields line up under their item's name.
_INDENT = {Depth.SERVER: 0, Depth.SECTION: 4, Depth.ITEM: 6, Depth.FIELD: 10}


def styled(line: Line) -> Text:
    marker = f"{line.marker} " if line.marker else ""
    text = Text(" " * _INDENT[line.depth])
    text.append(marker + line.text, style=_STYLE[line.tone])
    return text


def plan_texts(plan: Plan) -> list[Text]:
    """The whole plan as styled lines; blank `Text`s separate servers."""
    texts: list[Text] = [Text(baseline_text(plan.baseline), style="dim"), Text()]
    symbols = legend(plan)
    if symbols:
        texts += [Text(symbols, style="dim"), Text()]
    for server in plan.servers:
        texts += [styled(line) for line in server_lines(server)] + [Text()]
    texts += [styled(line) for line in gateway_lines(plan.gateways)] + [Text()] * bool(plan.gateways)
    texts += [Text(f"Note: {note}", style="dim") for note in plan.notes]
    texts += [Text(policy_text(f), style=_STYLE[Tone.ERROR if f.level is PolicyLevel.DENY
                                                else Tone.WARNING]) for f in plan.policy]
    errors = len(plan.errors)
    if errors:
        texts.append(Text(f"Error: the plan has {errors} error{'s' * (errors != 1)}; "
                          "apply refuses until they are fixed.", style="bold red"))
    denials = len(plan.denials)
    if denials:
        texts.append(Text(f"Error: {denials} policy denial{'s' * (denials != 1)}: the plan "
                          "fails its policies.", style="bold red"))
    texts.append(Text(summary_sentence(plan), style="bold"))
    return texts


def render_text(plan: Plan, console: Console) -> None:
    """Print the plan to `console` (stdout's console in the CLI).

    One print of all the lines joined, not one print per line: rich's work per call
    (render hooks, the lock, the buffer) was three times the rendering itself on a
    plan of thousands of lines; the text printed is the same."""
    console.print(Text("\n").join(plan_texts(plan)))
