"""Search-space diagnostics: positions in (log) ranges and boundary warnings."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import group_searches, load_results, search_space_diagnostics
from optcompare.space_range import SpaceRange, position_in_range
from tests.analysis.synthetic import trial, write_experiment

LOG = {"min": 1e-4, "max": 1.0, "scaling": "log"}
LINEAR = {"min": 0.5, "max": 1.0, "scaling": "linear"}
GRID = {"feasible_points": [2.0, 0.5, 0.05, 0.01]}


def _search(best_lr, others=(1e-3, 3e-2, 0.3)):
    """The best trial (val error 0.1) has learning_rate = best_lr; the others are worse."""
    return [trial(0.1, tuned={"learning_rate": best_lr})] + [
        trial(0.3 + 0.1 * i, tuned={"learning_rate": v}) for i, v in enumerate(others)
    ]


@pytest.fixture(scope="module")
def diagnostics(tmp_path_factory):
    at = lambda fraction: 10 ** (-4 + 4 * fraction)  # noqa: E731 - a point at `fraction` of the log width
    searches = {
        ("w", "p", "edge"): _search(at(0.02)),
        ("w", "p", "middle"): _search(at(0.50)),
        ("w", "p", "top"): _search(at(0.97)),
        ("w", "p", "lin"): [trial(0.1, tuned={"decay_steps_factor": 0.51}), trial(0.5, tuned={"decay_steps_factor": 0.8})],
        ("w", "p", "grid"): [trial(0.1, tuned={"learning_rate": 2.0}), trial(0.4, tuned={"learning_rate": 0.05})],
        ("w", "p", "unknown"): _search(1e-4),
    }
    spaces = {("p", o): {"learning_rate": LOG} for o in ("edge", "middle", "top")}
    spaces[("p", "lin")] = {"decay_steps_factor": LINEAR}
    spaces[("p", "grid")] = {"learning_rate": GRID}
    exp = write_experiment(tmp_path_factory.mktemp("diag") / "exp", searches, spaces=spaces)
    loaded = load_results(str(exp), curves=False)
    return {d.optimizer: d for d in search_space_diagnostics(group_searches(loaded.trials), loaded.meta)}


def test_best_trial_at_2_percent_of_the_log_width_warns(diagnostics):
    d = diagnostics["edge"]
    assert d.best_position == pytest.approx(0.02)
    assert d.near_boundary == "lower"
    assert "widen the lower bound" in d.warning and "learning_rate" in d.warning and "2.0%" in d.warning


def test_best_trial_at_half_the_log_width_does_not_warn(diagnostics):
    d = diagnostics["middle"]
    assert d.best_position == pytest.approx(0.5)
    assert d.warning is None and d.near_boundary is None
    assert d.best_value == pytest.approx(1e-2)
    assert d.range == SpaceRange(1e-4, 1.0, "log")


def test_upper_end_linear_ranges_and_grids(diagnostics):
    assert diagnostics["top"].near_boundary == "upper"
    lin = diagnostics["lin"]
    assert lin.best_position == pytest.approx(0.02) and lin.near_boundary == "lower"
    grid = diagnostics["grid"]
    assert grid.range.points == (0.01, 0.05, 0.5, 2.0)
    assert grid.best_position == 1.0 and grid.near_boundary == "upper"


def test_unknown_range_uses_observed_values_and_never_warns(diagnostics):
    d = diagnostics["unknown"]
    assert d.range.source == "observed" and (d.range.low, d.range.high) == (1e-4, 0.3)
    assert d.best_position == 0.0 and d.warning is None


def test_top_positions_are_best_first(diagnostics):
    d = diagnostics["middle"]
    assert d.top_positions == pytest.approx((0.5,))  # 10% of 4 trials rounds up to 1
    assert d.select == "val_error" and d.best_trial_id == "w/p/middle/00000"
    np.testing.assert_allclose(d.select_values, [0.1, 0.3, 0.4, 0.5])


@pytest.mark.parametrize(
    ("value", "rng", "expected"),
    [
        (1e-3, SpaceRange(1e-4, 1e-2, "log"), 0.5),
        (0.75, SpaceRange(0.5, 1.0, "linear"), 0.5),
        (0.05, SpaceRange(0.01, 2.0, "points", (0.01, 0.05, 0.5, 2.0)), 1 / 3),
    ],
)
def test_position_in_range(value, rng, expected):
    assert position_in_range(np.array([value]), rng)[0] == pytest.approx(expected)


def test_bad_edge_is_rejected():
    with pytest.raises(ValueError, match="edge must be in"):
        search_space_diagnostics({}, edge=0.6)


@pytest.mark.parametrize(("fraction", "side"), [(0.04, "lower"), (0.06, None), (0.94, None), (0.96, "upper")])
def test_boundary_warning_starts_inside_the_outer_5_percent(tmp_path, fraction, side):
    best = 10 ** (-4 + 4 * fraction)
    exp = write_experiment(tmp_path / "exp", {("w", "p", "o"): _search(best)},
                           spaces={("p", "o"): {"learning_rate": LOG}})
    loaded = load_results(str(exp), curves=False)
    (d,) = search_space_diagnostics(group_searches(loaded.trials), loaded.meta)
    assert d.best_position == pytest.approx(fraction)
    assert d.near_boundary == side
    assert (d.warning is None) == (side is None)
    if side:
        assert f"{fraction:.1%}" in d.warning and f"widen the {side} bound" in d.warning
