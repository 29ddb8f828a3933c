"""Compare refinement rules on the embedded workloads: does the final stage keep what the
initial stage found?

    .venv/bin/python benchmarks/refine_rules.py [--workloads mnist1d-mlp,mnist1d-cnn] [--seeds 1,2]

Per workload and seed: one initial search per optimizer over the choi-full spaces
(``--trials`` trials, default 12, the first stage of choi-two-stage at 24 trials per search),
then, from those same rows, each candidate rule's refined space
(:func:`tuning.commands.refine_experiment.refine_experiment`) searched with as many trials again, all in one run:

- ``axis``: the shipped rule, each coordinate's range the best trials' span plus the margin;
- ``decoupled``: the same rule on heavy-ball momentum's effective learning rate
  learning_rate / (1 - momentum) in place of the learning rate (momentum, Nesterov, RMSProp;
  :func:`tuning.plan.refine.decouple`).

The optimizers are momentum, nesterov and rmsprop by default: for the others the two rules are
the same. Per (workload, seed, optimizer, rule) the record has the initial and final best
val_error (completed trials), the final median, the final diverged count, and ``lost_ground``:
final best - initial best > 0.01 (analysis.lost_ground's tolerance).

Seed noise (``--noise-seeds R``, default 3, 0 to skip): the best trial of each search (initial,
and final per rule) is selected on the same evaluations that report it, so its value is biased
low, and one evaluation carries the seed's noise. A third experiment ``noise`` trains each of
those best configurations again, all hyperparameters fixed (one grid point per optimizer and
source) with ``rerun_best: {seeds: R}``: 1 + R fresh seeds per configuration, none of which
selected it. Per row the record adds their mean and standard deviation (m_i, s_i for the
initial best, m_f, s_f for the rule's final best, n = 1 + R each) and

    lost_ground_beyond_noise:  m_f - m_i > 2 * sqrt(s_i^2 / n + s_f^2 / n)

(a two-standard-error, Welch-style comparison of the two configurations' fresh means; it
assumes the fresh evaluations are independent draws of the seed noise at each configuration).
Writes benchmarks/results/refine_rules.json (``--out``).

``--work DIR`` keeps the experiments in DIR (``r-WORKLOAD-SEED/{initial,final,noise}``; default: a
temporary directory), so that a run cut short can be continued for the missing workloads and
seeds; ``--analyse-only`` runs nothing and writes the record from the experiments in DIR for the
given workloads and seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
RULES = {"axis": {}, "decoupled": {"decoupled": True}}
TOLERANCE = 0.01
NOISE_SEEDS = 3
SOURCES = ("initial", *RULES)
"""Where a configuration of the noise experiment comes from: the initial best, or a rule's final best."""


def _config(path: Path, name: str, workload: str, optimizers: list[str], protocols: list[str], trials: int, seed: int) -> Path:
    path.write_text(json.dumps({
        "name": name, "workloads": [{"name": workload}], "optimizers": optimizers,
        "protocols": protocols, "trials_per_search": trials, "seed": seed,
        "resources": {"cpus_per_trial": 1, "gpus_per_trial": 0}, "max_failures": 2, "bundle_size": "auto",
    }))
    return path


def _values(experiment_dir: str, phases: tuple[str, ...] = ("search",)) -> dict[tuple[str, str], dict[str, Any]]:
    """(protocol, optimizer) -> best, median, diverged of its rows of ``phases`` (val_error),
    the best row's hyperparameters (``hp_*`` without the prefix, nulls left out), and every
    completed value (``all``; the noise experiment reads its search and rerun rows)."""
    from analysis.load import load_results
    from optcompare.searches import group_searches

    table = load_results(experiment_dir, curves=False).trials
    out = {}
    hp_columns = [c for c in table.column_names if c.startswith("hp_")]
    for key, search in group_searches(table, phases).items():
        column = search.column("final_val_error")
        ok = search.completed & np.isfinite(column)
        values = column[ok]
        best_row = int(np.flatnonzero(ok)[np.argmin(values)]) if len(values) else None
        hparams = {}
        if best_row is not None:
            for c in hp_columns:
                value = float(search.column(c)[best_row])
                if np.isfinite(value):
                    hparams[c[3:]] = value
        out[(key.protocol, key.optimizer)] = {
            "best": float(values.min()) if len(values) else None,
            "median": float(np.median(values)) if len(values) else None,
            "completed": int(len(values)),
            "diverged": int(np.sum(search.status == "diverged")),
            "hparams": hparams,
            "all": [float(v) for v in values],
        }
    return out


def _noise_protocol(path: Path, source: str, schedule: str, points: dict[str, dict[str, float]], seeds: int) -> Path:
    """A grid protocol with one fixed point per optimizer (its best configuration from
    ``source``) and ``rerun_best: {seeds}``."""
    import yaml

    path.write_text(yaml.safe_dump({
        "name": f"noise-{source}", "schedule": schedule, "search": "grid", "select": "val_error",
        "rerun_best": {"seeds": seeds}, "optimizers": points,
    }, sort_keys=False))
    return path


def noise(workload: str, seed: int, optimizers: list[str], seeds: int, tmp: Path) -> None:
    """The noise experiment of one workload and seed (module doc), from its initial and final runs."""
    from tuning.commands.cli import run_config
    from tuning.spec.protocol import load_protocol

    base = tmp / f"r-{workload}-{seed}"
    initial, final = _values(str(base / "initial")), _values(str(base / "final"))
    schedule = load_protocol("choi-full").schedule
    protocols = []
    for source in SOURCES:
        found = initial if source == "initial" else final
        protocol = "choi-full" if source == "initial" else f"refined-{source}"
        points = {opt: found[(protocol, opt)]["hparams"] for opt in optimizers if found[(protocol, opt)]["hparams"]}
        protocols.append(str(_noise_protocol(tmp / f"noise-{source}-{workload}-{seed}.yaml", source, schedule, points, seeds)))
    config = _config(tmp / f"n-{workload}-{seed}.yaml", "noise", workload, optimizers, protocols, 1, seed)
    run_config(str(config), str(base), "noise", num_cpus=2, progress=False, dashboard=False)


def one(workload: str, seed: int, optimizers: list[str], trials: int, tmp: Path) -> list[dict[str, Any]]:
    """The initial run and the rules' final runs of one workload and seed."""
    from tuning.commands.cli import run_config
    from tuning.commands.refine_experiment import refine_experiment
    from tuning.plan.refine import write_refined_protocol
    from tuning.spec.refine_rule import RefineRule

    started = time.perf_counter()
    tmp.mkdir(parents=True, exist_ok=True)
    config = _config(tmp / f"i-{workload}-{seed}.yaml", "initial", workload, optimizers, ["choi-full"], trials, seed)
    initial_dir, _ = run_config(str(config), str(tmp / f"r-{workload}-{seed}"), "initial", num_cpus=2,
                                progress=False, dashboard=False)
    protocols = []
    for rule, options in RULES.items():
        refined = refine_experiment(initial_dir, "choi-full", workload=workload, rule=RefineRule(**options))
        refined.raw["name"] = f"refined-{rule}"
        protocols.append(str(write_refined_protocol(refined, tmp / f"refined-{rule}-{workload}-{seed}.yaml")))
    config = _config(tmp / f"f-{workload}-{seed}.yaml", "final", workload, optimizers, protocols, trials, seed)
    final_dir, _ = run_config(str(config), str(tmp / f"r-{workload}-{seed}"), "final", num_cpus=2,
                              progress=False, dashboard=False)
    print(f"{workload} seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    return rows_of(workload, seed, optimizers, initial_dir, final_dir)


def _fresh(values: dict[tuple[str, str], dict[str, Any]] | None, source: str, opt: str) -> list[float] | None:
    if values is None or (f"noise-{source}", opt) not in values:
        return None
    return values[(f"noise-{source}", opt)]["all"]


def beyond_noise(initial: list[float] | None, final: list[float] | None) -> dict[str, Any]:
    """Fresh means, standard deviations and the two-standard-error verdict (module doc)."""
    if not initial or not final or len(initial) < 2 or len(final) < 2:
        return {"initial_fresh_mean": None, "final_fresh_mean": None, "initial_fresh_sd": None,
                "final_fresh_sd": None, "fresh_seeds": None, "lost_ground_beyond_noise": None}
    mi, mf = float(np.mean(initial)), float(np.mean(final))
    si, sf = float(np.std(initial, ddof=1)), float(np.std(final, ddof=1))
    margin = 2.0 * float(np.sqrt(si**2 / len(initial) + sf**2 / len(final)))
    return {
        "initial_fresh_mean": round(mi, 5), "final_fresh_mean": round(mf, 5), "initial_fresh_sd": round(si, 5),
        "final_fresh_sd": round(sf, 5), "fresh_seeds": [len(initial), len(final)],
        "lost_ground_beyond_noise": mf - mi > margin,
    }


def rows_of(workload: str, seed: int, optimizers: list[str], initial_dir: str, final_dir: str) -> list[dict[str, Any]]:
    """The record's rows of one workload and seed, from its two experiments."""
    initial, final = _values(initial_dir), _values(final_dir)
    noise_dir = Path(initial_dir).parent / "noise"
    fresh = _values(str(noise_dir), ("search", "rerun")) if noise_dir.exists() else None
    rows = []
    for opt in optimizers:
        before = initial[("choi-full", opt)]
        for rule in RULES:
            after = final[(f"refined-{rule}", opt)]
            lost = None if before["best"] is None or after["best"] is None else after["best"] - before["best"] > TOLERANCE
            rows.append({
                "workload": workload, "seed": seed, "optimizer": opt, "rule": rule,
                "initial_best": before["best"], "final_best": after["best"], "final_median": after["median"],
                "final_diverged": after["diverged"], "final_completed": after["completed"], "lost_ground": lost,
                **beyond_noise(_fresh(fresh, "initial", opt), _fresh(fresh, rule, opt)),
            })
    return rows


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per rule: searches that lost ground, mean final best - initial best, mean final median."""
    out = {}
    for rule in RULES:
        mine = [r for r in rows if r["rule"] == rule and r["final_best"] is not None and r["initial_best"] is not None]
        out[rule] = {
            "searches": len(mine),
            "lost_ground": sum(bool(r["lost_ground"]) for r in mine),
            "lost_ground_beyond_noise": sum(bool(r.get("lost_ground_beyond_noise")) for r in mine),
            "noise_measured": sum(r.get("lost_ground_beyond_noise") is not None for r in mine),
            "mean_final_minus_initial_fresh_mean": round(float(np.mean(diffs)), 4) if (diffs := [
                r["final_fresh_mean"] - r["initial_fresh_mean"] for r in mine if r.get("final_fresh_mean") is not None
            ]) else None,
            "mean_final_minus_initial_best": round(float(np.mean([r["final_best"] - r["initial_best"] for r in mine])), 4) if mine else None,
            "mean_final_median": round(float(np.mean([r["final_median"] for r in mine])), 4) if mine else None,
            "final_diverged": sum(r["final_diverged"] for r in mine),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="mnist1d-mlp,mnist1d-cnn")
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--optimizers", default="momentum,nesterov,rmsprop")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--noise-seeds", type=int, default=NOISE_SEEDS, help="fresh reruns per best configuration (module doc); 0 skips")
    parser.add_argument("--out", default=str(HERE / "results" / "refine_rules.json"))
    parser.add_argument("--work", default=None, help="keep the experiments here (module docstring)")
    parser.add_argument("--analyse-only", action="store_true", help="write the record from --work; run nothing")
    parser.add_argument("--runs", nargs="*", default=None,
                        help="WORKLOAD=SEED,SEED ... in place of --workloads and --seeds (seeds per workload)")
    args = parser.parse_args()
    optimizers = args.optimizers.split(",")
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    runs = [(w, int(s)) for w in args.workloads.split(",") for s in args.seeds.split(",")]
    if args.runs:
        runs = [(w, int(s)) for item in args.runs for w, seeds in [item.split("=", 1)] for s in seeds.split(",")]
    if args.analyse_only:
        if args.work is None:
            parser.error("--analyse-only needs --work")
        for workload, seed in runs:
            base = Path(args.work) / f"r-{workload}-{seed}"
            rows += rows_of(workload, seed, optimizers, str(base / "initial"), str(base / "final"))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(args.work or tmp)
            for workload, seed in runs:
                base = work / f"r-{workload}-{seed}"
                if not (base / "final").exists():
                    one(workload, seed, optimizers, args.trials, work)
                if args.noise_seeds and not (base / "noise").exists():
                    noise(workload, seed, optimizers, args.noise_seeds, work)
                rows += rows_of(workload, seed, optimizers, str(base / "initial"), str(base / "final"))
    from tuning.store.experiment import package_versions

    record = {
        "benchmark": "refine_rules",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count()},
        "versions": package_versions(),
        "trials_per_stage": args.trials,
        "tolerance": TOLERANCE,
        "noise_seeds": args.noise_seeds,
        "wall_s": None if args.analyse_only else round(time.perf_counter() - started, 1),
        "runs": [f"{w}={s}" for w, s in runs],
        "summary": summary(rows),
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record["summary"], indent=2))


if __name__ == "__main__":
    main()
