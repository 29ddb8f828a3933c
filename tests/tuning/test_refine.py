"""The refinement rule (tuning.plan.refine) on hand-made rows: computed ranges, boundary extension,
clipping at a validity limit, points, ignored trials, determinism, and the written file."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from optcompare.errors import InputError, ParameterError
from optcompare.intervals import Interval
from optcompare.searches import Search
from tuning.plan.refine import (
    TooFewTrials,
    best_trials,
    refine_protocol,
    refine_search,
    validity_limits,
    write_refined_protocol,
)
from tuning.spec.protocol import load_protocol, parse_protocol
from tuning.spec.refine_rule import RefineRule


def _search(rows: list[dict], optimizer: str = "sgd") -> Search:
    """rows: {"val": metric, "status"?, "index"?, tuned coordinate: value, ...}."""
    names = sorted({k for r in rows for k in r} - {"val", "status", "index"})
    columns = {
        "final_val_error": np.array([r["val"] for r in rows], dtype=float),
        "trial_index": np.array([r.get("index", i) for i, r in enumerate(rows)], dtype=float),
        **{f"tuned_{n}": np.array([r.get(n, math.nan) for r in rows], dtype=float) for n in names},
    }
    ids = np.array([f"w/p/{optimizer}/{r.get('index', i):05d}" for i, r in enumerate(rows)], dtype=object)
    status = np.array([r.get("status", "completed") for r in rows], dtype=object)
    return Search("w", "p", optimizer, ids, status, columns)


LOG_LR = {"min": 1e-4, "max": 1.0, "scaling": "log"}
LINEAR = {"min": 0.0, "max": 1.0, "scaling": "linear"}


def _one(search: Search, space: dict, rule: RefineRule | None = None, **kwargs: object):
    result = refine_search(search, space, rule or RefineRule(best_k=2), **kwargs)
    assert len(result.coordinates) == 1
    return result.coordinates[0]


# --- computed ranges ------------------------------------------------------------------------


def test_log_range_is_the_best_trials_span_widened_by_the_margin_in_decades():
    rows = [{"val": v, "learning_rate": lr} for v, lr in ((0.2, 1e-2), (0.1, 1e-3), (0.5, 1e-4), (0.9, 0.9))]
    c = _one(_search(rows), {"learning_rate": LOG_LR}, RefineRule(best_k=2, margin=0.5))
    assert c.new["min"] == pytest.approx(1e-3 * 10**-0.5) and c.new["max"] == pytest.approx(1e-2 * 10**0.5)
    assert c.new["scaling"] == "log" and (c.low, c.high) == ("shrunk", "shrunk")
    assert c.old == LOG_LR


def test_linear_range_widens_by_the_margin_times_the_initial_width():
    rows = [{"val": v, "x": x} for v, x in ((0.1, 0.4), (0.2, 0.5), (0.3, 0.45), (0.9, 0.05))]
    c = _one(_search(rows), {"x": LINEAR}, RefineRule(best_k=3, margin=0.1))
    assert (c.new["min"], c.new["max"]) == pytest.approx((0.3, 0.6))
    assert (c.low, c.high) == ("shrunk", "shrunk")


def test_margin_past_an_inner_bound_keeps_the_initial_bound():
    # best trials at 0.1 and 0.2: not in the outer 5%, so the margin of 0.5 stops at min = 0
    rows = [{"val": 0.1, "x": 0.1}, {"val": 0.2, "x": 0.2}, {"val": 0.9, "x": 0.99}]
    c = _one(_search(rows), {"x": LINEAR}, RefineRule(best_k=2, margin=0.5))
    assert c.new["min"] == 0.0 and c.low == "kept"
    assert c.new["max"] == pytest.approx(0.7) and c.high == "shrunk"


@pytest.mark.parametrize(
    ("rule", "completed", "best"),
    [
        (RefineRule(), 8, 2),  # ceil(0.25 * 8)
        (RefineRule(), 3, 2),  # at least 2
        (RefineRule(best_fraction=0.5), 9, 5),  # ceil(4.5)
        (RefineRule(best_fraction=1.0), 4, 4),
        (RefineRule(best_k=3), 10, 3),
        (RefineRule(best_k=30), 10, 10),  # at most all
    ],
)
def test_number_of_best_trials(rule, completed, best):
    assert rule.n_best(completed) == best


# --- the boundary rule ----------------------------------------------------------------------


def test_best_trials_in_the_outer_edge_extend_past_the_initial_bound_by_the_margin():
    # log width 4 decades; 1.2e-4 sits at 2% of it, 0.9 at 99%
    rows = [{"val": 0.1, "learning_rate": 1.2e-4}, {"val": 0.2, "learning_rate": 0.9}, {"val": 0.5, "learning_rate": 1e-2}]
    c = _one(_search(rows), {"learning_rate": LOG_LR}, RefineRule(best_k=2, margin=1.0))
    assert c.new["min"] == pytest.approx(1.2e-5) and c.low == "extended"
    assert c.new["max"] == pytest.approx(9.0) and c.high == "extended"
    assert c.notes() == "lower extended; upper extended"


def test_just_inside_the_edge_does_not_extend():
    # 0.06 of the width from each end: inside, so the bounds stay
    rows = [{"val": 0.1, "x": 0.06}, {"val": 0.2, "x": 0.94}, {"val": 0.9, "x": 0.5}]
    c = _one(_search(rows), {"x": LINEAR}, RefineRule(best_k=2, margin=0.5))
    assert (c.new["min"], c.new["max"]) == (0.0, 1.0) and (c.low, c.high) == ("kept", "kept")


def test_extension_stops_at_a_closed_validity_limit():
    # one_minus_beta2 lies in (0, 1]: the upper bound 0.45 * 10 would pass 1
    rows = [{"val": 0.1, "one_minus_beta2": 0.45}, {"val": 0.2, "one_minus_beta2": 0.3}, {"val": 0.9, "one_minus_beta2": 1e-3}]
    space = {"one_minus_beta2": {"min": 1e-3, "max": 0.5, "scaling": "log"}}
    c = _one(_search(rows, "adam"), space, RefineRule(best_k=2, margin=1.0))
    assert c.new["max"] == 1.0 and c.high == "clipped"
    assert c.notes().endswith("upper clipped at 1")
    assert c.new["min"] == pytest.approx(0.03) and c.low == "shrunk"


@pytest.mark.parametrize(("initial", "refined"), [(0.008, 0.005), (0.002, 0.002)])
def test_extension_stops_inside_an_open_validity_limit(initial, refined):
    # a linear one_minus_momentum: (0, 1] is open at 0; the lower bound would reach -0.49, so it
    # stops at the midpoint 0.005 of 0 and the best value 0.01, or at the initial bound below it
    rows = [{"val": 0.1, "one_minus_momentum": 0.01}, {"val": 0.2, "one_minus_momentum": 0.2}, {"val": 0.9, "one_minus_momentum": 0.9}]
    space = {"one_minus_momentum": {"min": initial, "max": 1.0, "scaling": "linear"}}
    c = _one(_search(rows, "momentum"), space, RefineRule(best_k=2, margin=0.5))
    assert c.low == "clipped" and c.new["min"] == pytest.approx(refined)


def test_explicit_limits_override_the_coordinate_table():
    rows = [{"val": 0.1, "decay_steps_factor": 0.99}, {"val": 0.2, "decay_steps_factor": 0.9}, {"val": 0.9, "decay_steps_factor": 0.5}]
    space = {"decay_steps_factor": {"min": 0.5, "max": 1.0, "scaling": "linear"}}
    c = _one(_search(rows), space, limits={"decay_steps_factor": Interval(0.0, 1.0)})
    assert c.new["max"] == 1.0 and c.high == "clipped"


# --- points, fixed values, ignored trials ---------------------------------------------------


def test_points_keep_the_span_the_best_trials_used_plus_one_neighbour():
    points = {"feasible_points": [0.5, 0.1, 0.01, 0.001, 1e-4]}
    rows = [{"val": 0.1, "p": 0.01}, {"val": 0.2, "p": 0.001}, {"val": 0.9, "p": 0.5}]
    c = _one(_search(rows), {"p": points})
    assert c.new == {"feasible_points": [1e-4, 0.001, 0.01, 0.1]} and c.notes() == "points"


def test_a_coordinate_without_values_keeps_its_space():
    rows = [{"val": 0.1, "learning_rate": 0.1}, {"val": 0.2, "learning_rate": 0.2}]
    result = refine_search(_search(rows), {"learning_rate": LOG_LR, "epsilon": LOG_LR}, RefineRule())
    eps = next(c for c in result.coordinates if c.name == "epsilon")
    assert eps.new == LOG_LR and eps.notes() == "unchanged"


def test_diverged_and_failed_trials_are_ignored():
    rows = [
        {"val": 0.01, "learning_rate": 0.5, "status": "diverged"},
        {"val": math.nan, "learning_rate": 0.9, "status": "failed"},
        {"val": 0.3, "learning_rate": 1e-2},
        {"val": 0.2, "learning_rate": 1e-3},
        {"val": 0.8, "learning_rate": 1e-4},
    ]
    result = refine_search(_search(rows), {"learning_rate": LOG_LR}, RefineRule(best_k=2))
    assert result.best_trial_ids == ("w/p/sgd/00003", "w/p/sgd/00002")
    assert result.completed == 3
    assert result.coordinates[0].new["max"] == pytest.approx(1e-2 * 10**0.5)


@pytest.mark.parametrize("statuses", [["completed"], ["completed", "diverged", "failed"], []])
def test_fewer_than_two_completed_trials_cannot_be_refined(statuses):
    rows = [{"val": 0.1, "learning_rate": 0.1, "status": s} for s in statuses]
    if not rows:
        rows = [{"val": math.nan, "learning_rate": 0.1}, {"val": math.nan, "learning_rate": 0.2}]
    with pytest.raises(TooFewTrials, match=r"search w/p/sgd has [01] completed trial\(s\).*at least 2") as err:
        refine_search(_search(rows), {"learning_rate": LOG_LR}, RefineRule())
    assert isinstance(err.value, InputError) and err.value.key == ("w", "p", "sgd")


def test_ties_go_to_the_lower_trial_index_and_order_of_rows_does_not_matter():
    rows = [{"val": 0.2, "learning_rate": 10 ** -(i % 4), "index": i} for i in range(12)]
    rows[7]["val"] = 0.1
    rng = np.random.default_rng(0)
    first = refine_search(_search(rows), {"learning_rate": LOG_LR}, RefineRule(best_k=3))
    assert first.best_trial_ids == ("w/p/sgd/00007", "w/p/sgd/00000", "w/p/sgd/00001")
    for _ in range(5):
        shuffled = [rows[i] for i in rng.permutation(len(rows))]
        again = refine_search(_search(shuffled), {"learning_rate": LOG_LR}, RefineRule(best_k=3))
        assert again == first


def test_best_trials_by_another_selection_metric():
    search = _search([{"val": 0.1, "learning_rate": 0.1}, {"val": 0.2, "learning_rate": 0.2}, {"val": 0.3, "learning_rate": 0.3}])
    search.columns["final_train_loss"] = np.array([3.0, 2.0, 1.0])
    best, completed = best_trials(search, "train_loss", RefineRule(best_k=2))
    assert list(best) == [2, 1] and completed == 3


# --- parameters -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "parameter", "message"),
    [
        ({"margin": 0.0}, "margin", "margin must be a finite number > 0, got 0.0"),
        ({"margin": -1}, "margin", "margin must be a finite number > 0"),
        ({"margin": math.inf}, "margin", "margin must be a finite number > 0"),
        ({"best_fraction": 0.0}, "best_fraction", "best_fraction must be in (0, 1], got 0.0"),
        ({"best_fraction": 1.5}, "best_fraction", "best_fraction must be in (0, 1]"),
        ({"best_k": 1}, "best_k", "best_k must be an integer >= 2, got 1"),
        ({"best_k": 2.5}, "best_k", "best_k must be an integer >= 2"),
        ({"best_k": 3, "best_fraction": 0.5}, "best_k", "give best_k or best_fraction, not both"),
        ({"edge": 0.5}, "edge", "edge must be in (0, 0.5)"),
    ],
)
def test_bad_rule_parameters_name_the_parameter(kwargs, parameter, message):
    with pytest.raises(ParameterError) as err:
        RefineRule(**kwargs)
    assert err.value.parameter == parameter and message in str(err.value)


# --- a whole protocol, written and read back ------------------------------------------------


def _adam_and_sgd_rows() -> dict[str, Search]:
    sgd = [{"val": v, "learning_rate": lr} for v, lr in ((0.3, 0.5), (0.2, 2.0), (0.25, 9.5), (0.9, 1e-3))]
    adam = [
        {"val": v, "learning_rate_over_epsilon": r, "epsilon": e, "one_minus_beta1": b1, "one_minus_beta2": b2}
        for v, r, e, b1, b2 in (
            (0.3, 1.0, 10.0, 0.5, 0.095),
            (0.2, 3.0, 50.0, 0.1, 0.02),
            (0.9, 1e5, 1e-6, 0.01, 1e-3),
            (0.6, 1e6, 1e-7, 0.002, 1e-4),
        )
    ]
    return {"sgd": _search(sgd, "sgd"), "adam": _search(adam, "adam")}


def test_refined_choi_full_is_an_ordinary_protocol_that_loads_with_the_same_spaces(tmp_path):
    protocol = load_protocol("choi-full")
    searches = _adam_and_sgd_rows()
    for s in searches.values():  # the schedule's coordinates, at the top of their ranges
        s.columns["tuned_decay_steps_factor"] = np.array([0.99, 0.98, 0.7, 0.6])
        s.columns["tuned_decay_factor"] = np.array([1e-2, 3e-3, 1e-4, 1e-4])
    refined = refine_protocol(protocol, searches, RefineRule(best_k=2), experiment="exp", workload="w")
    path = write_refined_protocol(refined, tmp_path / "refined.yaml")
    loaded = load_protocol(str(path))
    assert loaded.name == "choi-full-refined" and loaded.search == "quasirandom"
    assert loaded.schedule == protocol.schedule and loaded.select == protocol.select
    assert "refined from experiment exp (workload w)" in loaded.description
    assert set(loaded.searches) == set(protocol.searches)  # every optimizer of the protocol
    for result in refined.searches:
        assert loaded.searches[result.key.optimizer].space == result.space
    assert loaded.searches["momentum"].space == protocol.searches["momentum"].space  # not run
    adam = {c.name: c for c in refined.searches[1].coordinates}
    assert adam["decay_steps_factor"].new["max"] == 1.0 and adam["decay_steps_factor"].high == "clipped"
    assert adam["epsilon"].new == {"min": pytest.approx(10 / 10**0.5), "max": pytest.approx(50 * 10**0.5), "scaling": "log"}
    sgd = {c.name: c for c in refined.searches[0].coordinates}["learning_rate"]
    assert sgd.high == "extended" and sgd.new["max"] == pytest.approx(9.5 * 10**0.5)  # past 10
    text = path.read_text()
    assert text.startswith("# choi-full refined from experiment exp") and "sgd.learning_rate: [0.001, 10] log ->" in text


def test_from_trials_and_fixed_values_survive_refinement(tmp_path):
    raw = yaml.safe_load(
        """
        name: ladder
        schedule: constant
        optimizers:
          adam:
            learning_rate: {min: 1.0e-4, max: 1.0e-1, scaling: log}
            one_minus_beta1: {min: 1.0e-2, max: 0.5, scaling: log, from_trials: 3}
            epsilon: 1.0e-6
        """
    )
    protocol = parse_protocol(raw, "ladder.yaml")
    rows = [{"val": v, "learning_rate": lr, "one_minus_beta1": b} for v, lr, b in ((0.1, 1e-3, 0.1), (0.2, 1e-2, 0.05), (0.5, 1e-4, 0.4))]
    refined = refine_protocol(protocol, {"adam": _search(rows, "adam")}, RefineRule(best_k=2), experiment="e", workload="w")
    entry = refined.raw["optimizers"]["adam"]
    assert entry["epsilon"] == 1e-6 and entry["one_minus_beta1"]["from_trials"] == 3
    loaded = load_protocol(str(write_refined_protocol(refined, tmp_path / "r.yaml")))
    assert loaded.searches["adam"].ladder == {"one_minus_beta1": 3}
    assert loaded.searches["adam"].fixed == {"epsilon": 1e-6}


def test_a_grid_protocol_is_refused():
    protocol = load_protocol("wilson2017")
    with pytest.raises(ParameterError, match="'wilson2017' is a grid search; only a quasirandom") as err:
        refine_protocol(protocol, {}, RefineRule(), experiment="e", workload="w")
    assert err.value.parameter == "protocol"


# --- an experiment as 'optcompare run' records it ------------------------------------------


def test_refine_experiment_reads_the_recorded_protocol_and_the_rows(tmp_path, monkeypatch):
    """experiment.json written by tuning.store.experiment.experiment_record for a real plan; the rows
    carry the plan's search points; the validation error is a function of the learning rate."""
    import json
    from pathlib import Path

    from tuning.commands.refine_experiment import refine_experiment
    from tuning.plan.resolve import resolve_plan
    from tuning.spec.config import load_config
    from tuning.store.experiment import experiment_record

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "analysis"))
    from tests.analysis.synthetic import trial, write_experiment

    config_path = tmp_path / "config.yaml"
    config_path.write_text(
        "name: exp\nworkloads: [mnist1d-mlp]\noptimizers: [sgd, adam]\nprotocols: [choi-full]\n"
        "trials_per_search: 8\n"
    )
    config = load_config(str(config_path))
    plan = resolve_plan(config)
    rows: dict[tuple[str, str, str], list[dict]] = {}
    for t in plan:
        lr = t.hparams["learning_rate"]
        rows.setdefault((t.workload, t.protocol, t.optimizer), []).append(
            trial(min(0.9, abs(math.log10(lr) + 1.5) / 4), tuned=dict(t.tuned), index=t.trial_index)
        )
    path = write_experiment(tmp_path / "exp", rows)
    (path / "experiment.json").write_text(json.dumps(experiment_record(config, plan, "exp")))
    refined = refine_experiment(str(path), "choi-full", rule=RefineRule(best_k=3))
    assert refined.workload == "mnist1d-mlp" and refined.experiment == "exp"
    assert [s.key.optimizer for s in refined.searches] == ["sgd", "adam"]
    sgd = refined.searches[0]
    best_lr = sorted(
        (abs(math.log10(p.tuned["learning_rate"]) + 1.5), p.trial_index, p.tuned["learning_rate"])
        for p in plan if p.optimizer == "sgd"
    )[:3]
    lr = {c.name: c for c in sgd.coordinates}["learning_rate"]
    assert lr.new["min"] == pytest.approx(min(b[2] for b in best_lr) * 10**-0.5)
    assert sgd.best_trial_ids == tuple(f"mnist1d-mlp/choi-full/sgd/{b[1]:05d}" for b in best_lr)
    assert set(sgd.space) == set(load_protocol("choi-full").searches["sgd"].space)


def test_a_searched_learning_rate_ramp_stays_below_one():
    # lr_ramp lies in [0, 1): refining it may approach 1 but never reach it.
    raw = yaml.safe_load(
        """
        name: ramp
        schedule: constant
        optimizers:
          sgd:
            learning_rate: {min: 1.0e-3, max: 1.0e-1, scaling: log}
            lr_ramp: {min: 0.0, max: 0.99, scaling: linear}
        """
    )
    limits = validity_limits(parse_protocol(raw, "ramp.yaml").searches["sgd"])
    assert limits["lr_ramp"] == Interval(0.0, 1.0, high_closed=False)
    assert 0.999 in limits["lr_ramp"] and 1.0 not in limits["lr_ramp"]


# --- decoupled refinement: the case where the axis-aligned hull fails --------------------------

# The three best initial trials of an RMSProp search (mnist1d-cnn): along a diagonal of the
# effective learning rate eta / (1 - momentum), 1.18, 0.6 and 0.035; four worse trials elsewhere.
DIAGONAL = [
    {"val": 0.085, "learning_rate": 0.40, "one_minus_momentum": 0.34},
    {"val": 0.10, "learning_rate": 0.009, "one_minus_momentum": 0.015},
    {"val": 0.12, "learning_rate": 0.0018, "one_minus_momentum": 0.051},
    {"val": 0.9, "learning_rate": 0.5, "one_minus_momentum": 0.002},
    {"val": 0.9, "learning_rate": 1e-4, "one_minus_momentum": 0.9},
    {"val": 0.8, "learning_rate": 0.05, "one_minus_momentum": 0.005},
    {"val": 0.7, "learning_rate": 3e-4, "one_minus_momentum": 0.5},
]
MOMENTUM_SPACE = {
    "learning_rate": {"min": 1e-4, "max": 1.0, "scaling": "log"},
    "one_minus_momentum": {"min": 1e-3, "max": 1.0, "scaling": "log"},
}


def _largest_effective_rate(space: dict) -> float:
    omm = space["one_minus_momentum"]["min"]
    if "effective_learning_rate" in space:
        return space["effective_learning_rate"]["max"]
    return space["learning_rate"]["max"] / omm


def test_the_axis_aligned_hull_pairs_large_rates_with_high_momentum_and_the_decoupled_one_does_not():
    search = _search(DIAGONAL, optimizer="rmsprop")
    best = max(r["learning_rate"] / r["one_minus_momentum"] for r in DIAGONAL[:3])  # 1.18
    axis = refine_search(search, MOMENTUM_SPACE, RefineRule(best_k=3))
    decoupled = refine_search(search, MOMENTUM_SPACE, RefineRule(best_k=3, decoupled=True))
    # Axis-aligned: learning rates up to 0.4 * 10^0.5 = 1.26 (kept at the bound 1) with
    # 1 - momentum down to 0.015 / 10^0.5: an effective rate of 211, 180x the best's.
    assert axis.space["learning_rate"]["max"] == 1.0
    assert _largest_effective_rate(axis.space) == pytest.approx(1.0 / (0.015 * 10**-0.5))
    assert _largest_effective_rate(axis.space) > 100 * best
    # Decoupled: the effective rate's own range, the best trials' span plus half a decade.
    assert decoupled.replaced == (("learning_rate", "effective_learning_rate"),)
    assert set(decoupled.space) == {"effective_learning_rate", "one_minus_momentum"}
    eff = decoupled.space["effective_learning_rate"]
    assert eff["max"] == pytest.approx(best * 10**0.5) and eff["min"] == pytest.approx(0.0018 / 0.051 * 10**-0.5)
    assert decoupled.space["one_minus_momentum"] == axis.space["one_minus_momentum"]
    assert decoupled.coordinates[0].old == {"min": 1e-4 / 1.0, "max": 1.0 / 1e-3, "scaling": "log"}
    assert "decoupled" in RefineRule(decoupled=True).phrase()


def test_decoupling_leaves_a_fixed_momentum_or_a_linear_range_alone():
    rows = [{"val": v, "learning_rate": lr} for v, lr in ((0.1, 1e-2), (0.2, 1e-3), (0.5, 1e-1))]
    result = refine_search(_search(rows), {"learning_rate": LOG_LR}, RefineRule(best_k=2, decoupled=True))
    assert result.replaced == () and set(result.space) == {"learning_rate"}


def test_a_decoupled_refined_protocol_resolves_to_the_same_learning_rate():
    protocol = parse_protocol(
        {"name": "p", "schedule": "constant", "optimizers": {"rmsprop": dict(MOMENTUM_SPACE)}}, "p.yaml"
    )
    refined = refine_protocol(protocol, {"rmsprop": _search(DIAGONAL, "rmsprop")},
                              RefineRule(best_k=3, decoupled=True), experiment="e", workload="w")
    entry = refined.raw["optimizers"]["rmsprop"]
    assert "learning_rate" not in entry and "effective_learning_rate" in entry
    spec = parse_protocol(refined.raw, "refined.yaml").for_optimizer("rmsprop")
    hparams, _ = spec.resolve({"effective_learning_rate": 0.40 / 0.34, "one_minus_momentum": 0.34})
    assert hparams["learning_rate"] == pytest.approx(0.40, rel=1e-3) and hparams["momentum"] == pytest.approx(0.66)


def test_refining_again_from_a_decoupled_stage_writes_one_setter_of_the_learning_rate(tmp_path):
    # A decoupled final stage searched effective_learning_rate; the protocol's entry still says
    # learning_rate. Refining from that stage (optcompare refine, the default last stage) must
    # write the effective rate in place of the rate, not both.
    protocol = parse_protocol(
        {"name": "p", "schedule": "constant", "optimizers": {"rmsprop": dict(MOMENTUM_SPACE)}}, "p.yaml"
    )
    stage_space = {
        "effective_learning_rate": {"min": 0.01, "max": 4.0, "scaling": "log"},
        "one_minus_momentum": {"min": 0.005, "max": 1.0, "scaling": "log"},
    }
    spec = protocol.for_optimizer("rmsprop").model_copy(update={"space": stage_space})
    staged = protocol.model_copy(update={"searches": {"rmsprop": spec}})
    rows = [
        {"val": r["val"], "effective_learning_rate": r["learning_rate"] / r["one_minus_momentum"],
         "one_minus_momentum": r["one_minus_momentum"]}
        for r in DIAGONAL
    ]
    refined = refine_protocol(staged, {"rmsprop": _search(rows, "rmsprop")}, RefineRule(best_k=3),
                              experiment="e", workload="w")
    entry = refined.raw["optimizers"]["rmsprop"]
    assert set(entry) == {"effective_learning_rate", "one_minus_momentum"}
    write_refined_protocol(refined, tmp_path / "again.yaml")
    assert load_protocol(str(tmp_path / "again.yaml")).for_optimizer("rmsprop").space.keys() == stage_space.keys()
