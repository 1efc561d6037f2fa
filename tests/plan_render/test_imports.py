"""`tfsctl plan` must start fast: the renderers and plan files pull in neither TensorFlow nor docker."""

from __future__ import annotations

from tests.support.imports import modules_after

MODULES = ("tfsctl.plan.render.text", "tfsctl.plan.render.json", "tfsctl.plan.render.markdown",
           "tfsctl.planfile")


def test_renderers_import_nothing_heavy() -> None:
    _, loaded = modules_after("\n".join(f"import {m}" for m in MODULES),
                              packages=("tensorflow", "docker"))
    assert loaded == []
