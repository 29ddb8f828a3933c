"""Driver time spent in Optuna per ask of an adaptive search, and its share of a real study.

Part 1 (``per_ask``): for each sampler, a study of choi-full's Adam space (six coordinates) is
rebuilt with N told trials (:meth:`tuning.planners.adaptive.AdaptivePlanner.restore` from synthetic rows),
then ``--asks`` asks are timed, each told at once (ask + tell through
:class:`tuning.planners.adaptive.AdaptiveStudy`, the driver's own code path, sampler construction
included); the record holds the median and every time, at each N of ``--told``.

Part 2 (``study``, unless ``--skip-study``): a real study on mnist1d-mlp with bundles through
:func:`tuning.driver.run_study.run_study` (in-process Ray), TPE over choi-full's spaces for Adam and
momentum; the Optuna share is the planner's time in Optuna (asks and tells) over the study's
wall time.

    .venv/bin/python benchmarks/adaptive_overhead.py
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

SPACE_OPTIMIZER = "adam"


def _search(sampler: str, budget: int, options: dict | None = None):  # noqa: ANN202
    """An adaptive search of choi-full's Adam space under ``sampler`` with room for ``budget`` asks."""
    from optcompare.schema import SearchKey
    from tuning.plan.adaptive_search import AdaptiveSearch
    from tuning.plan.resolve import search_template
    from tuning.plan.tracks import Track
    from tuning.spec.config import WorkloadEntry
    from tuning.spec.protocol import load_protocol
    from tuning.spec.samplers import check_sampler

    protocol = load_protocol("choi-full")
    protocol = protocol.model_copy(update={"name": f"choi-full-{sampler}", "search": sampler})
    entry = WorkloadEntry(name="mnist1d-mlp", steps=3000, eval_every=250)

    class Config:  # what search_template reads of a config
        seed = 0

    template = search_template(Config, entry, protocol, SPACE_OPTIMIZER, 0)  # type: ignore[arg-type]
    return AdaptiveSearch(
        track=Track(SearchKey(entry.name, protocol.name, SPACE_OPTIMIZER), 0),
        spec=protocol.for_optimizer(SPACE_OPTIMIZER), sampler=sampler,
        options=check_sampler(sampler, options), seed=1, budget=budget, select="val_error",
        template=template, experiment_seed=0,
    )


def _objective(point: dict) -> float:
    """A synthetic validation error: best near learning rate 1e-3 (lr = ratio * epsilon)."""
    lr = point["learning_rate_over_epsilon"] * point["epsilon"]
    return min(1.0, 0.1 + 0.1 * abs(math.log10(lr) + 3) + 0.05 * point["decay_steps_factor"])


def per_ask(sampler: str, told: int, asks: int, options: dict | None = None) -> dict:
    """Median seconds per ask+tell after ``told`` trials (``options``: sampler_options)."""
    from tuning.plan.quasirandom import sample
    from tuning.planners.adaptive import AdaptivePlanner

    search = _search(sampler, told + asks, options)
    points = sample(search.spec.space, told, 3)
    rows = [
        {"trial_id": search.trial(i, p).trial_id, "trial_index": i, "study": 0, "phase": "search",
         "status": "completed", "final_val_error": _objective(p), **{f"tuned_{k}": v for k, v in p.items()}}
        for i, p in enumerate(points)
    ]
    planner = AdaptivePlanner([search])
    started = time.perf_counter()
    planner.restore(rows, lambda tid: True)
    rebuild_s = time.perf_counter() - started
    study = planner.study(search.track)
    times = []
    for _ in range(asks):
        started = time.perf_counter()
        trial = study.ask()
        study.tell(trial.trial_index, "completed", _objective(trial.tuned))
        times.append(time.perf_counter() - started)
    return {"told": told, "asks": asks, "median_s": statistics.median(times), "times_s": times,
            "rebuild_s": rebuild_s}


STUDY_CONFIG = """name: adaptive-overhead
workloads: [{{name: mnist1d-mlp, steps: {steps}, eval_every: {steps}}}]
optimizers: [momentum, adam]
protocols: [choi-full-tpe]
trials_per_search: {trials}
resources: {{cpus_per_trial: 1}}
bundle_size: {bundle}
"""


def study_share(trials: int, steps: int, bundle: int) -> dict:
    """One TPE study on mnist1d-mlp: wall time and the time in Optuna."""
    from study_record import run_record

    from tuning.driver.ray_env import RayTarget
    from tuning.driver.run_study import run_study
    from tuning.driver.study_options import StudyOptions
    from tuning.plan.resolve import resolve_plan
    from tuning.planners.bundles import RunState
    from tuning.spec.config import load_config

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.yaml"
        path.write_text(STUDY_CONFIG.format(trials=trials, steps=steps, bundle=bundle))
        config = load_config(path)
        options = StudyOptions.from_config(config, ray=RayTarget(num_cpus=2, dashboard=False), progress=False)
        plan = resolve_plan(config)
        state = RunState(options.planners(plan))
        summary = run_study(plan, str(Path(tmp) / "r"), options, state=state)
        optuna_s = state.planners.adaptive.optuna_seconds()
        record = run_record("adaptive_overhead", "choi-full-tpe on mnist1d-mlp", summary)
        return {
            **record, "trials_per_search": trials, "steps": steps, "wall_time_s": summary.wall_time_s,
            "train_time_s": summary.train_time_s, "optuna_s": optuna_s,
            "optuna_share_of_wall": optuna_s / summary.wall_time_s,
            "mean_trial_train_s": summary.train_time_s / max(1, summary.finished),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samplers", default="tpe,random,qmc,gp")
    parser.add_argument("--told", default="1000,5000")
    parser.add_argument("--tpe-variants", default='{"multivariate": false}|{"n_ei_candidates": 8}',
                        help="'|'-separated JSON sampler_options of TPE also timed (what to do past 5%%)")
    parser.add_argument("--asks", type=int, default=10)
    parser.add_argument("--gp-told", default="200,1000", help="GP's told counts (its fit is cubic in them)")
    parser.add_argument("--skip-study", action="store_true")
    parser.add_argument("--study-trials", type=int, default=250, help="trials per search of the real study (2 searches)")
    parser.add_argument("--study-steps", type=int, default=3000)
    parser.add_argument("--study-bundle", type=int, default=8)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "adaptive_overhead.json"))
    args = parser.parse_args()

    import importlib.util

    from tuning.store.experiment import package_versions

    record: dict = {
        "benchmark": "adaptive_overhead",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": {**package_versions(), "optuna": importlib.metadata.version("optuna")},
        "space": f"choi-full {SPACE_OPTIMIZER} (6 coordinates)",
        "per_ask": {},
    }
    runs = [(name, None) for name in args.samplers.split(",")]
    if "tpe" in args.samplers.split(",") and args.tpe_variants:
        runs += [("tpe", json.loads(v)) for v in args.tpe_variants.split("|")]
    for sampler, options in runs:
        label = sampler if options is None else f"{sampler} {json.dumps(options)}"
        for told in (int(n) for n in (args.gp_told if sampler == "gp" else args.told).split(",")):
            result = per_ask(sampler, told, args.asks, options)
            record["per_ask"].setdefault(label, []).append(result)
            print(f"{label} at {told} told: {result['median_s'] * 1e3:.1f} ms per ask (rebuild {result['rebuild_s']:.1f} s)", flush=True)
    if not args.skip_study:
        record["study"] = study_share(args.study_trials, args.study_steps, args.study_bundle)
        s = record["study"]
        print(f"study: {s['trials_finished']} trials in {s['wall_time_s']:.1f} s, Optuna {s['optuna_s']:.2f} s "
              f"({100 * s['optuna_share_of_wall']:.2f}% of wall)", flush=True)
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
