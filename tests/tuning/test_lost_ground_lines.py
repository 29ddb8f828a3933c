"""The run summary's lost-ground lines (tuning.commands.lost_ground_lines): nothing read for an
unstaged study, and a failing check is a warning, never a failed run after the study."""

from __future__ import annotations

import tuning.commands.lost_ground_lines as lost_ground_module
from tests.analysis.synthetic import trial, write_experiment
from tuning.commands.lost_ground_lines import lost_ground_lines


def test_an_unstaged_study_reads_nothing(tmp_path):
    assert lost_ground_lines(str(tmp_path / "does-not-exist"), staged=False) == []


def test_a_failing_check_is_a_warning_naming_the_error(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    experiment = str(write_experiment(tmp_path / "exp", {("w", "p", "sgd"): [trial(0.3), trial(0.2)]}))
    assert lost_ground_lines(experiment, staged=True) == []  # one stage: nothing lost
    monkeypatch.setattr(lost_ground_module, "lost_ground", broken)
    (line,) = lost_ground_lines(experiment, staged=True)
    assert line.startswith("warning: the check for refinement that lost ground failed (RuntimeError: boom)")
    assert f"optcompare report {experiment} shows them" in line
    (missing,) = lost_ground_lines(str(tmp_path / "missing"), staged=True)  # nothing to read: a warning too
    assert missing.startswith("warning: the check for refinement that lost ground failed (")
