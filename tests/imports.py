"""Which modules a piece of code imports, asked of a fresh interpreter (the tests that keep
torch and ray off the CLI's help and the analysis, and scipy off a trial worker's start)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence

TIMEOUT_S = 120.0


def modules_loaded(code: str, watched: Sequence[str]) -> list[str]:
    """The names in ``watched`` that are in ``sys.modules`` after ``code`` ran in a fresh
    ``python -c`` (names as Python keys them, e.g. ``torch`` or ``tuning.plan.quasirandom``).
    Code that fails is an AssertionError carrying its output."""
    check = f"\nimport json as _json, sys as _sys\nprint(_json.dumps([m for m in {list(watched)!r} if m in _sys.modules]))\n"
    result = subprocess.run([sys.executable, "-c", code + check], capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.splitlines()[-1])
