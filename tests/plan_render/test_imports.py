"""`tfsctl plan` must start fast: the renderers and plan files pull in neither TensorFlow nor docker."""

from __future__ import annotations

import subprocess
import sys

MODULES = ("tfsctl.plan.render.text", "tfsctl.plan.render.json", "tfsctl.plan.render.markdown",
           "tfsctl.planfile")


def test_renderers_import_nothing_heavy() -> None:
    code = (f"import sys\nfor m in {MODULES!r}: __import__(m)\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'docker'))\n"
            "print(','.join(heavy))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
