"""Terminal output: one place that decides colour, width and where text goes.

Results go to stdout (so `tfsctl render > model.config` and `--json` pipe
cleanly); progress, warnings and errors go to stderr. Rich already honours
NO_COLOR and drops styling when the stream is not a terminal; FORCE_COLOR
and TERM=dumb are honoured the same way.
"""

from __future__ import annotations

from functools import cache

from rich.console import Console


@cache
def out() -> Console:
    return Console(highlight=False, soft_wrap=True)


@cache
def err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)
