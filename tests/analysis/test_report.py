"""The report: computed as data, rendered from its template, figures and the HTML page written;
analysis imports without torch or ray."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import HierarchySummary, OptimizerScore, Ranking, analyse, write_report
from analysis.report import ReportData, render_page
from analysis.report_page import format_cell
from analysis.speed import SpeedRanking, SpeedScore
from optcompare.cli import main
from tests.analysis.synthetic import trial, write_experiment
from tests.imports import modules_loaded

OPTIMIZERS = {"sgd": 0.3, "momentum": 0.2, "adam": 0.25}


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    rng = np.random.default_rng(1)
    searches = {}
    for p in ("choi-full", "lr-only"):
        for o, m in OPTIMIZERS.items():
            lrs = 10 ** rng.uniform(-3, 0, size=6)
            searches[("w", p, o)] = [
                trial(float(m + rng.uniform(0, 0.1)), tuned={"learning_rate": float(lr), "decay_factor": 0.01 + 0.01 * i})
                for i, lr in enumerate(lrs)
            ]
            searches[("w", p, o)][5] = trial(float("nan"), status="diverged", tuned={"learning_rate": float(lrs[5])})
    spaces = {(p, o): {"learning_rate": {"min": 1e-3, "max": 1.0, "scaling": "log"},
                       "decay_factor": {"min": 1e-2, "max": 0.1, "scaling": "log"}}
              for p in ("choi-full", "lr-only") for o in OPTIMIZERS}
    return write_experiment(tmp_path_factory.mktemp("report") / "exp", searches, spaces=spaces)


@pytest.mark.slow
def test_every_figure_and_the_html_page_are_written(experiment, tmp_path):
    data = analyse(str(experiment), n_resamples=100)
    files = write_report(data, tmp_path / "out")
    names = sorted(f.name for f in files.figures)
    expected = {f"{kind}_w.{ext}" for kind in ("final", "speed") for ext in ("png", "pdf")}
    expected |= {f"{kind}_w_{p}.{ext}" for kind in ("budget", "curves", "hparams")
                 for p in ("choi-full", "lr-only") for ext in ("png", "pdf")}
    assert set(names) == expected
    for f in files.figures:
        assert f.exists() and f.stat().st_size > 1000
        assert f.read_bytes()[:4] in (b"\x89PNG", b"%PDF")
    page = files.html.read_text()
    assert page.count('<img src="data:image/png;base64,') == 8
    for heading in ("Rankings", "Inclusion hierarchy", "Training speed", "Robustness of the ordering",
                    "Search-space diagnostics"):
        assert f"<h2>{heading}</h2>" in page
    assert page.count('<table class="ranking">') == 2 and "P(rank 3)" in page
    assert '<table class="inclusions">' in page and "momentum" in page
    assert "http://" not in page and "https://" not in page  # opens without a network


@pytest.mark.slow
def test_report_cli(experiment, tmp_path, capsys):
    out = tmp_path / "cli-out"
    assert main(["report", str(experiment), "--out", str(out), "--resamples", "50", "--budget", "4"]) == 0
    stdout = capsys.readouterr().out
    assert f"wrote {out / 'index.html'}" in stdout and "16 figure files" in stdout and "budget K=4" in stdout
    assert (out / "index.html").stat().st_size > 10_000


@pytest.mark.parametrize(("args", "message"), [(["--budget", "0"], "--budget must be >= 1"),
                                               (["--resamples", "0"], "--resamples must be >= 1")])
def test_report_bad_input_exits_2(experiment, tmp_path, capsys, args, message):
    assert main(["report", str(experiment), "--out", str(tmp_path / "o"), *args]) == 2
    assert message in capsys.readouterr().err


def test_report_out_must_be_a_directory(experiment, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["report", str(experiment), "--out", str(tmp_path / "file"), "--resamples", "10"]) == 2
    assert "--out" in capsys.readouterr().err


def test_analysis_imports_without_torch_or_ray():
    code = (
        "import importlib, pkgutil\n"
        "import analysis\n"
        "for m in pkgutil.iter_modules(analysis.__path__):\n"
        "    importlib.import_module('analysis.' + m.name)\n"
        "import analysis.figures, analysis.report\n"
        "analysis.figures._pyplot()\n"
    )
    assert modules_loaded(code, ("torch", "ray")) == []


@pytest.mark.parametrize("command", ["report", "rank"])
def test_an_experiment_without_finished_trials_says_so(tmp_path, capsys, command):
    exp = write_experiment(tmp_path / "exp", {("w", "p", "sgd"): [trial(0.3)]})
    for table in ("trials", "curves"):
        for part in (exp / table).rglob("part-*.parquet"):
            part.unlink()
    extra = ["--out", str(tmp_path / "out")] if command == "report" else []
    assert main([command, str(exp), *extra]) == 2
    err = capsys.readouterr().err
    assert "has no finished trials yet; run or resume it first" in err and "lacks column" not in err


@pytest.mark.slow
def test_report_warns_about_a_budget_above_the_largest_search(experiment, tmp_path, capsys):
    assert main(["report", str(experiment), "--out", str(tmp_path / "o"), "--resamples", "10", "--budget", "9"]) == 0
    err = capsys.readouterr().err
    assert "warning: --budget 9 exceeds the largest search (6 trials; N per search:" in err
    assert "<h2>Warnings</h2>" in (tmp_path / "o" / "index.html").read_text()
    assert main(["report", str(experiment), "--out", str(tmp_path / "o"), "--budget", "601"]) == 2
    assert "more than 100x the largest search (6 trials)" in capsys.readouterr().err


def test_hyperparameter_figure_shades_the_outer_edges(experiment, tmp_path, monkeypatch):
    import matplotlib.axes

    from analysis import figures
    from optcompare.space_range import SpaceRange

    bands = figures.edge_bands(SpaceRange(1e-4, 1.0, "log"), 0.05)
    np.testing.assert_allclose(bands, [(1e-4, 10 ** -3.8), (10 ** -0.2, 1.0)])
    np.testing.assert_allclose(figures.edge_bands(SpaceRange(0.5, 1.0, "linear"), 0.1), [(0.5, 0.55), (0.95, 1.0)])
    assert figures.edge_bands(SpaceRange(0.01, 2.0, "points", (0.01, 2.0)), 0.05) == []
    assert figures.edge_bands(SpaceRange(0.1, 0.3, "linear", source="observed"), 0.05) == []
    spans = []
    original = matplotlib.axes.Axes.axvspan
    monkeypatch.setattr(matplotlib.axes.Axes, "axvspan", lambda ax, a, b, **kw: spans.append((a, b)) or original(ax, a, b, **kw))
    data = analyse(str(experiment), n_resamples=10)
    diags = [d for d in data.diagnostics if d.protocol == "lr-only"]
    figures.plot_hyperparameters(diags, tmp_path / "h", title="t")
    assert len(spans) == 2 * len(diags) == 12  # 3 optimizers x 2 coordinates, two bands each
    # learning_rate in [1e-3, 1] (log): the lower band ends at 1e-3 * 1000^0.05 = 10^-2.85.
    assert any(a == 1e-3 and b == pytest.approx(10 ** -2.85) for a, b in spans)


def _hand_built(name: str) -> ReportData:
    """A ReportData made by hand: one ranking of one optimizer called ``name``, no Parquet."""
    score = OptimizerScore(name, 1, 4, 0.1234567, 0.1, 0.2, (1.0,))
    never = float("inf")
    unreached = SpeedScore(optimizer=name, rank=1, n_trials=4, n_reached=0, p_reached=0.0,
                           median=never, mean=never, p05=never, p95=never)
    speed = SpeedRanking("w", "p", 4, 0.5, (unreached,))
    return ReportData(
        experiment="exp <1>", path="/results/exp", budget=4, budgets=(1, 4), select={"p": "val_error"},
        report="test_error", n_resamples=10, seed=0, rankings=(Ranking("w", "p", [score]),),
        budget_curves={}, hierarchy=HierarchySummary(4, 0.05, (), ()), speed=(speed,), robustness=(),
        diagnostics=(), best_curves=(), reruns=(), targets={}, skipped=(), warnings=("K > N",),
    )


def test_the_template_renders_a_hand_built_result_and_escapes_names():
    page = render_page(_hand_built("<script>alert(1)</script>"), generated="2024-01-01T00:00:00+00:00")
    assert "<td>0.1235</td>" in page  # the mean, to 4 significant digits
    assert "<td>never</td>" in page  # a target never reached
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    assert "<title>optcompare report: exp &lt;1&gt;</title>" in page
    assert "<b>p: val_error</b>" in page and "generated 2024-01-01T00:00:00+00:00" in page
    assert '<table class="ranking">' in page and "<th>P(rank 1)</th>" in page
    assert "<h2>Warnings</h2>" in page and "<li class=\"warn\">K &gt; N</li>" in page
    assert "No pair of the inclusion hierarchy ran under a common protocol" in page
    assert "<h2>Figures</h2>" in page and "<img" not in page


@pytest.mark.parametrize(("value", "cell"), [(0.1234567, "0.1235"), (float("inf"), "never"),
                                             (float("-inf"), "-inf"), (float("nan"), "-"), (3, "3"),
                                             ("a", "a")])
def test_cells_are_formatted(value, cell):
    assert format_cell(value) == cell


def test_the_template_is_package_data():
    from importlib.resources import files

    assert (files("analysis") / "templates" / "report.html").is_file()


def test_the_figures_are_planned_as_data_before_any_is_drawn(experiment):
    data = analyse(str(experiment), n_resamples=10)
    plan = [(f.plot, f.stem) for f in data.figures]
    assert plan[:2] == [("final_error", "final_w"), ("steps_to_target", "speed_w")]
    assert plan[2:5] == [("budget_curves", "budget_w_choi-full"), ("training_curves", "curves_w_choi-full"),
                         ("hyperparameters", "hparams_w_choi-full")]
    assert len(plan) == 8
    budget = data.figures[2]
    assert sorted(budget.statistics) == sorted(OPTIMIZERS) and budget.options["metric"] == "test_error"
    assert "at K=6" in data.figures[0].caption  # K defaults to the smallest search (6 trials each)


@pytest.fixture(scope="module")
def two_workloads(tmp_path_factory):
    """sgd and momentum on workloads a and b under protocol p; momentum is better on both."""
    searches = {(w, "p", o): [trial(e + d, steps_to_target=s) for d in (0.0, 0.05)]
                for w, shift in (("a", 0.0), ("b", 0.1))
                for o, e, s in (("sgd", 0.3 + shift, 80), ("momentum", 0.2 + shift, 40))}
    return write_experiment(tmp_path_factory.mktemp("across") / "exp", searches)


def test_the_section_across_workloads_appears_with_two_workloads(two_workloads, tmp_path):
    data = analyse(str(two_workloads), n_resamples=50)
    summary = data.across_workloads
    assert summary is not None and summary.workloads == ("a", "b")
    (protocol,) = summary.protocols
    assert [(s.optimizer, s.mean_rank, s.wins) for s in protocol.standings] == [("momentum", 1.0, 2), ("sgd", 2.0, 0)]
    speed = protocol.profiles[0]  # steps: momentum 40, sgd 80 on both, r = 1 and 2
    assert [(o.optimizer, o.score) for o in speed.optimizers] == [("momentum", 1.0), ("sgd", pytest.approx(2 / 3))]
    assert [(f.plot, f.stem) for f in data.figures if f.plot == "performance_profiles"] == [
        ("performance_profiles", "profiles_p")]
    page = write_report(data, tmp_path / "out").html.read_text()
    assert "<h2>Across workloads</h2>" in page and '<table class="standings">' in page
    assert "<th>score steps_to_target</th>" in page and "<th>score test_error</th>" in page
    assert '<table class="across-verdicts">' in page and "<td>sgd &lt;= momentum</td>" in page
    across = page[page.index("<h2>Across workloads</h2>"):page.index("<h2>Training speed</h2>")]
    assert across.count('<img src="data:image/png;base64,') == 1  # the profiles, in this section
    figures = page[page.index("<h2>Figures</h2>"):]
    assert "performance profiles" not in figures and figures.count("<img") == 2 * 4  # final, speed, budget, curves


def test_no_section_across_workloads_with_one_workload(experiment):
    data = analyse(str(experiment), n_resamples=10)
    assert data.across_workloads is None
    assert all(f.plot != "performance_profiles" for f in data.figures)
    assert "Across workloads" not in render_page(data)


def test_the_hierarchy_section_shows_causes_space_inclusion_and_lost_ground():
    from dataclasses import replace

    from analysis.causes import BreakCause
    from analysis.inclusion import InclusionVerdict
    from analysis.lost_ground import LostGround

    verdict = InclusionVerdict("w", "p", "sgd", "momentum", 4, 0.28, 0.27, 0.29, 0.34, 0.33, 0.35, 0.99, "violated")
    data = replace(
        _hand_built("sgd"),
        hierarchy=HierarchySummary(4, 0.05, (verdict,), ()),
        causes=(BreakCause("w", "p", "sgd", "momentum", "b", "needs learning_rate = 3.18 outside [0.0001, 1] log"),),
        space_inclusion=({"protocol": "p", "narrow": "sgd", "wide": "momentum", "status": "partly covered",
                          "coverage": 0.75, "narrow_by_design": False, "message": "p: momentum cannot express it"},),
        lost_ground=(LostGround("w", "p", "rmsprop", 0, "val_error", "initial", 0.085, "final", 0.324, 0.906, 0.01),),
    )
    page = render_page(data)
    assert "<h3>Why each violated pair breaks</h3>" in page
    assert "<td>(b) the imitation lies outside the wide space</td>" in page
    assert "<td>needs learning_rate = 3.18 outside [0.0001, 1] log</td>" in page
    assert "<td>partly covered</td>" in page and "<td>75%</td>" in page
    assert "Refinement that lost ground" in page and "<td>0.324</td>" in page and "<td>0.906</td>" in page
    # An experiment written before the check says so instead of an empty table.
    assert "written before the space-inclusion check" in render_page(_hand_built("sgd"))
