"""The plan message of ``optcompare run`` adds up (tuning/plan/message.py): per protocol,
searches x studies x trials equals what is planned up front, the first line's total is their
sum and the plan's length, and later stages, reruns and adaptive searches are stated with their
own products. (The issue: a staged study printed "432 = 12 searches x 48 trials".)"""

from __future__ import annotations

import re

import pytest

from tuning.plan.message import plan_lines
from tuning.plan.resolve import resolve_plan
from tuning.spec.config import load_config

PROTOCOLS = {
    "staged.yaml": (
        "name: staged\nschedule: constant\nsearch: quasirandom\n"
        "stages:\n  - {name: initial, fraction: 0.25}\n  - {name: final, fraction: 0.75, refine: {best_fraction: 0.5}}\n"
        "optimizers:\n  sgd: {learning_rate: {min: 1.0e-3, max: 1.0, scaling: log}}\n"
        "  momentum: {learning_rate: {min: 1.0e-3, max: 1.0, scaling: log}, momentum: 0.9}\n"
    ),
    "grid.yaml": (
        "name: grid\nschedule: constant\nsearch: grid\nrerun_best: {seeds: 2}\n"
        "optimizers:\n  sgd: {learning_rate: {feasible_points: [0.1, 0.01, 0.001]}}\n"
        "  momentum: {learning_rate: {feasible_points: [0.1, 0.01]}, momentum: 0.9}\n"
    ),
    "tpe.yaml": (
        "name: tpe\nschedule: constant\nsearch: tpe\nrerun_best: {seeds: 2}\n"
        "optimizers:\n  sgd: {learning_rate: {min: 1.0e-3, max: 1.0, scaling: log}}\n"
        "  momentum: {learning_rate: {min: 1.0e-3, max: 1.0, scaling: log}, momentum: 0.9}\n"
    ),
}


def _config(tmp_path, protocols, studies=1, probes=False):
    for name, text in PROTOCOLS.items():
        (tmp_path / name).write_text(text)
    path = tmp_path / "c.yaml"
    path.write_text(
        "name: c\nworkloads: [{name: mnist1d-mlp}, {name: digits-cnn}]\noptimizers: [sgd, momentum]\n"
        f"protocols: [{', '.join(protocols)}]\ntrials_per_search: 12\nstudies: {studies}\n"
        f"probes: {str(probes).lower()}\n"
    )
    return load_config(str(path))


def _products(line: str) -> tuple[list[tuple[int, ...]], int]:
    """The products ``S searches [x N studies] x K trials`` of a line and its ``= total``."""
    terms = re.findall(r"(\d+) searches(?: x (\d+) studies)? x (\d+) (?:trials|seeds)", line)
    total = int(re.search(r"= (\d+)", line).group(1))
    return [tuple(int(x or 1) for x in t) for t in terms], total


@pytest.mark.parametrize("studies", [1, 3])
def test_staged_multi_study_grid_and_adaptive_lines_multiply_out(tmp_path, studies):
    config = _config(tmp_path, ["staged.yaml", "grid.yaml", "tpe.yaml"], studies=studies, probes=True)
    plan = resolve_plan(config)
    lines = plan_lines(config, plan, "results/c")
    assert lines[0] == f"experiment results/c: {len(plan)} trials planned up front"
    up_front = {line.split(":")[0].strip(): line for line in lines[1:3]}
    # 2 workloads x 2 optimizers = 4 searches; the first stage is round(12 * 0.25) = 3 trials.
    terms, total = _products(up_front["staged (stage initial)"])
    assert terms == [(4, studies, 3)] and total == 4 * studies * 3
    # a grid's searches differ: sgd has 3 points, momentum 2 (2 searches each: one per workload)
    terms, total = _products(up_front["grid"])
    assert terms == [(2, studies, 3), (2, studies, 2)] and total == 2 * studies * 5
    assert sum(_products(line)[1] for line in up_front.values()) == len(plan)
    assert sum(t.protocol == "staged" for t in plan) == 4 * studies * 3
    later = lines[lines.index(next(line for line in lines if line.startswith("planned later"))):]
    stated = int(re.search(r"planned later, (\d+) trials at most", later[0]).group(1))
    counts = {}
    for line in later[1:-1]:
        terms, total = _products(line)
        (s, n, k), = terms
        assert s * n * k == total
        counts[line.split(":")[0].strip()] = total
    assert counts == {
        "staged stage final": 4 * studies * 9,  # 12 - 3
        "grid reruns of each search's best": 4 * studies * 2,
        "tpe (adaptive, tpe)": 4 * studies * 12,
        "tpe reruns of each search's best": 4 * studies * 2,  # adaptive searches rerun their best too
    }
    assert stated == sum(counts.values())
    assert later[-1].startswith("and inclusion probes")


def test_a_plain_study_says_only_what_it_plans(tmp_path):
    config = _config(tmp_path, ["grid.yaml"])
    lines = plan_lines(config, resolve_plan(config), "r")
    assert lines[1:] == [
        "  grid: 2 searches x 3 trials + 2 searches x 2 trials = 10",
        "planned later, 8 trials at most:",
        "  grid reruns of each search's best: 4 searches x 2 seeds = 8",
    ]


def test_one_search_and_one_trial_are_singular(tmp_path):
    (tmp_path / "one.yaml").write_text(
        "name: one\nschedule: constant\nsearch: grid\n"
        "optimizers:\n  sgd: {learning_rate: {feasible_points: [0.1]}}\n"
    )
    path = tmp_path / "c.yaml"
    path.write_text("name: c\nworkloads: [mnist1d-mlp]\noptimizers: [sgd]\nprotocols: [one.yaml]\ntrials_per_search: 1\n")
    config = load_config(str(path))
    assert plan_lines(config, resolve_plan(config), "r")[1:] == ["  one: 1 search x 1 trial = 1"]
