"""Figures and the HTML report are produced; analysis imports without torch or ray."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from synthetic import trial, write_experiment

from analysis import analyse, write_report
from optcompare.cli import main

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
        "import sys, importlib, pkgutil\n"
        "import analysis\n"
        "for m in pkgutil.iter_modules(analysis.__path__):\n"
        "    importlib.import_module('analysis.' + m.name)\n"
        "import analysis.figures, analysis.report\n"
        "analysis.figures._pyplot()\n"
        "bad = [m for m in ('torch', 'ray') if m in sys.modules]\n"
        "sys.exit(f'imported {bad}' if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr + result.stdout
