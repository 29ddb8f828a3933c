"""The study progress display: counters, best per search, plain lines off a terminal."""

from __future__ import annotations

import math

from tuning.driver.progress import StudyProgress

A = ("w", "choi-full", "adam")
B = ("w", "lr-only", "sgd")


def test_counts_and_best_per_search_in_plain_mode(capsys):
    p = StudyProgress(4, enabled=True, live=False)
    p.started("a0")
    p.finished_trial("a0", A, "completed", 0.30)
    p.finished_trial("a1", A, "completed", 0.25)
    p.finished_trial("b0", B, "diverged", math.nan)
    p.finished_trial("b1", B, "failed", math.nan)
    assert (p.finished, p.failed, p.diverged, len(p.running)) == (4, 1, 1, 0)
    assert p.rows() == [("w", "choi-full", "adam", "2", "0.2500"), ("w", "lr-only", "sgd", "2 (1 failed)", "-")]
    p.close()
    out = capsys.readouterr().out.splitlines()
    # one line per 10% step reached (4 trials: 25%, 50%, 75%, 100%), then the per-search bests
    assert [line.strip().split(" ")[0] for line in out[:4]] == ["1/4", "2/4", "3/4", "4/4"]
    assert "w/choi-full/adam 0.2500" in out[-1] and "w/lr-only/sgd -" in out[-1]


def test_disabled_progress_prints_nothing(capsys):
    p = StudyProgress(2, enabled=False)
    p.finished_trial("a0", A, "completed", 0.1)
    p.close()
    assert capsys.readouterr().out == ""


def test_live_mode_renders_without_a_terminal():
    p = StudyProgress(3, enabled=True, live=True)
    p.finished_trial("a0", A, "completed", 0.2)
    p.add_planned(2)
    assert p.total == 5 and "1/5 trials finished" in p.headline()
    p.close()


def test_bundled_trials_are_counted_as_tasks_and_trials():
    # The demo showed "28 running" on 2 trial slots: 2 bundles of 14 members each.
    p = StudyProgress(40, enabled=False)
    for i in range(14):
        p.started(f"a{i}", "bundle-a")
        p.started(f"b{i}", "bundle-b")
    assert "28/40" not in p.headline() and "2 tasks (28 trials) running" in p.headline()
    for i in range(14):
        p.finished_trial(f"a{i}", A, "completed", 0.2)
    assert p.running_text() == "1 task (14 trials) running"  # one task left: its 14 members
    p.started("c0")
    p.started("c0")  # a retried trial starts again: still one trial
    assert p.running_text() == "2 tasks (15 trials) running"
    for i in range(14):
        p.finished_trial(f"b{i}", B, "completed", 0.3)
    assert p.running_text() == "1 running"
