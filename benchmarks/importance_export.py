"""Time ``importance`` and ``export optuna`` on a synthetic 10,000-trial experiment.

    .venv/bin/python benchmarks/importance_export.py [--trials 10000] [--keep DIR]

The experiment: 1 workload x 2 protocols (quasirandom, tpe) x 2 optimizers (4 searches), 10,000
trials in all, 3 tuned coordinates per search (a log learning rate, a linear
``one_minus_beta1``, feasible points ``decay``), 5 curve rows per trial, written through
``tuning.store.sink.ResultSink`` with an experiment.json; about 5% of trials diverge and 1% fail. The
selection metric depends on the learning rate mostly.

Measured once each, in one process, load of the experiment included:
- ``importance_ped_anova_s``: ``analysis.importance.experiment_importance`` with the default
  evaluator (rebuild the 4 studies in memory, then Optuna's PED-ANOVA);
- ``importance_fanova_s_at_<N>``: the same with ``fanova`` on an experiment of ``--fanova-trials``
  trials (default 1,000): Optuna's fANOVA (64 trees, unbounded depth) grows much faster than
  linearly with the trials of a search (more than 8 minutes at 2,500 per search here), so it is
  timed on a smaller experiment of the same layout;
- ``export_journal_s`` / ``export_sqlite_s``: ``analysis.export.export_optuna`` into a journal
  file and into ``sqlite:///`` (params, values, user attributes and 5 intermediate values per
  trial). Target: the importance under 10 s.
Writes benchmarks/results/importance_export.json.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shutil
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from analysis.export import export_optuna  # noqa: E402
from analysis.importance import experiment_importance  # noqa: E402
from optcompare import schema  # noqa: E402
from tuning.store.sink import ResultSink  # noqa: E402

PROTOCOLS = {"choi-quasirandom": "quasirandom", "choi-tpe": "tpe"}
OPTIMIZERS = ("momentum", "adam")
SPACE = {
    "learning_rate": {"min": 1e-4, "max": 1.0, "scaling": "log"},
    "one_minus_beta1": {"min": 0.01, "max": 0.5, "scaling": "linear"},
    "decay": {"feasible_points": [0.1, 0.5, 0.9]},
}
STEPS = (20, 40, 60, 80, 100)


def write(path: Path, n_trials: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    keys = [("mnist1d-mlp", p, o) for p in PROTOCOLS for o in OPTIMIZERS]
    meta = {
        "name": path.name,
        "workloads": [{"name": "mnist1d-mlp", "steps": 100, "eval_every": 20,
                       "target_metric": "val_error", "target_value": 0.5}],
        "optimizers": list(OPTIMIZERS),
        "protocols": {p: {"name": p, "search": s} for p, s in PROTOCOLS.items()},
        "searches": [{"protocol": p, "optimizer": o, "schedule": "constant", "space": SPACE,
                      "fixed": {}} for p in PROTOCOLS for o in OPTIMIZERS],
        "select": {p: "val_error" for p in PROTOCOLS},
    }
    path.mkdir(parents=True)
    (path / "experiment.json").write_text(json.dumps(meta))
    sink = ResultSink(str(path), flush_rows=5000, flush_seconds=10**9)
    per_search = n_trials // len(keys)
    for key in keys:
        for i in range(per_search):
            lr = float(10 ** rng.uniform(-4, 0))
            tuned = {"learning_rate": lr, "one_minus_beta1": float(rng.uniform(0.01, 0.5)),
                     "decay": float(rng.choice(SPACE["decay"]["feasible_points"]))}
            error = 0.1 + 0.2 * abs(math.log10(lr) + 2) + 0.02 * rng.standard_normal()
            status = "failed" if rng.random() < 0.01 else "diverged" if rng.random() < 0.05 else "completed"
            value = error if status == "completed" else math.nan
            trial_id = schema.trial_id(*key, i)
            if status != "failed":
                sink.add_curve_rows(key, [
                    {"trial_id": trial_id, "attempt": 0, "step": s, "learning_rate": lr,
                     "train_loss": error, "val_error": 0.9 + (error - 0.9) * j / 4,
                     "val_loss": error, "test_error": error, "test_loss": error,
                     "wall_time_s": 0.01 * s}
                    for j, s in enumerate(STEPS)])
            row = {"trial_id": trial_id, "trial_index": i, "seed": i, "attempt": 0,
                   "phase": "search", "stage": "final", "study": 0, "status": status,
                   **{schema.METRICS[m].column: value for m in schema.CURVE_METRICS},
                   "best_val_error": value, "best_val_step": 100, "steps_to_target": None,
                   "total_steps": 100, "wall_time_s": 1.0, "train_time_s": 0.9,
                   "error": "boom" if status == "failed" else None}
            sink.add_trial_row(key, row, {"learning_rate": lr}, tuned)
    sink.close()


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--fanova-trials", type=int, default=1000)
    parser.add_argument("--keep", default=None, help="write the experiment here and keep it")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="importance-export-"))
    exp = work / "exp"
    shutil.rmtree(exp, ignore_errors=True)
    write_s, _ = timed(lambda: write(exp, args.trials))
    small = work / "small"
    shutil.rmtree(small, ignore_errors=True)
    write(small, args.fanova_trials)
    results: dict[str, float] = {}
    for evaluator, path, label in (("ped-anova", exp, "importance_ped_anova_s"),
                                   ("fanova", small, f"importance_fanova_s_at_{args.fanova_trials}")):
        seconds, result = timed(lambda e=evaluator, p=path: experiment_importance(str(p), evaluator=e))
        top = {f"{s.protocol}/{s.optimizer}": s.coordinates[0].name for s in result.searches}
        assert set(top.values()) == {"learning_rate"}, top
        results[label] = round(seconds, 3)
    for kind, storage in (("journal", str(work / "studies.log")),
                          ("sqlite", f"sqlite:///{work / 'studies.db'}")):
        seconds, written = timed(lambda s=storage: export_optuna(str(exp), s, overwrite=True))
        assert written.n_trials == args.trials, written.n_trials
        results[f"export_{kind}_s"] = round(seconds, 3)
    record = {
        "benchmark": "importance_export",
        "trials": args.trials,
        "searches": len(PROTOCOLS) * len(OPTIMIZERS),
        "curve_rows_per_trial": len(STEPS),
        "write_experiment_s": round(write_s, 3),
        **results,
        "target_importance_s": 10.0,
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "optuna": metadata.version("optuna")},
    }
    out = HERE / "results" / "importance_export.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
