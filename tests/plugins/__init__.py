"""Plugin modules for the tests: optimizers and workloads registered by import, as a user's
``plugins: [module]`` entry registers them (``tuning.spec.plugins.load_plugins``).

They are real, linted modules: a config names one as ``tests.plugins.NAME`` (the ``use_plugin``
fixture of tests/conftest.py gives that name and undoes the registrations after the test), and
Ray workers import it from the repository root, which the test session puts on ``PYTHONPATH``
before any Ray starts. Fault plugins act once per study through a marker file in
``$OPTCOMPARE_FAULT_DIR``, the session's fault directory that the ``fault_dir`` fixture empties
around each test.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["FAULT_DIR_VARIABLE", "HOG_BYTES_VARIABLE", "first_time"]

FAULT_DIR_VARIABLE = "OPTCOMPARE_FAULT_DIR"
HOG_BYTES_VARIABLE = "OPTCOMPARE_HOG_BYTES"
"""How many bytes above Ray's memory threshold (``RAY_memory_usage_threshold`` of the machine's
memory) ``memory_hog_workload`` fills the machine to: set by its test, which imports no plugin
module."""


def first_time(marker: str) -> bool:
    """Whether ``$OPTCOMPARE_FAULT_DIR/marker`` did not exist yet (it does after this call): a
    fault plugin acts only the first time, once per study, in whichever process gets there."""
    path = Path(os.environ[FAULT_DIR_VARIABLE]) / marker
    try:
        path.touch(exist_ok=False)
    except FileExistsError:
        return False
    return True
