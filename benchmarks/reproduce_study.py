"""Measure the reproduce study (tuning/configs/reproduce.yaml) end to end and record its answer.

    .venv/bin/python benchmarks/reproduce_study.py [--results results] [--name reproduce]
    .venv/bin/python benchmarks/reproduce_study.py --without-cover-inclusions \
        --name reproduce-nocover --out benchmarks/results/reproduce_study_nocover.json

Runs the config through the same path as `optcompare run` (Ray started in-process) into
RESULTS/NAME (kept, to report on), then writes benchmarks/results/reproduce_study.json: trials,
wall time, training fraction (time inside training steps / (wall time x slots)), the training
fraction of each stage's window, and the inclusion verdicts per protocol and workload with the
probes' results (what the report's first table shows), the cause of every violated pair
(analysis.causes), every search whose refinement lost ground (analysis.lost_ground) and the
speed table (steps to each workload's target per protocol and optimizer, with the number of
distinct ranks: 1 means every optimizer tied).

``--only-choi-two-stage`` runs the same config with the shipped ``choi-two-stage`` only (the
other protocols' results do not depend on it). ``--without-cover-inclusions`` runs the same
config with ``choi-two-stage`` only, read from a
temporary copy of its file without ``cover_inclusions`` (same protocol name, so the same Halton
points and seeds: its initial stage is bitwise the shipped run's, and only the final spaces of
wide optimizers can differ).

Stage windows: the driver's progress hook is timed here (the benchmark's instrumentation, not the
product's): window 1 runs from the start to the moment the last first-stage trial of a staged
protocol finished, window 2 from then to the end. A window's fraction counts the training time
of the trials that finished in it, over (window length x slots): a trial straddling the boundary
counts whole in the window where it finished, so the two fractions are approximate; their
time-weighted mean is the overall fraction up to the set-up before the first trial.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _instrument_progress() -> dict[str, float]:
    """Record when each trial finishes (time.perf_counter()) by wrapping the progress hook."""
    from tuning.driver.progress import StudyProgress

    finished_at: dict[str, float] = {}
    original = StudyProgress.finished_trial

    def timed(self, trial_id, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        finished_at[trial_id] = time.perf_counter()
        return original(self, trial_id, *args, **kwargs)

    StudyProgress.finished_trial = timed  # type: ignore[method-assign]
    return finished_at


def _stage_windows(trials, finished_at: dict[str, float], started: float, ended: float, slots: int) -> dict:
    """Training fraction of the windows before and after the last first-stage trial finished."""
    first_stage = trials[(trials["stage"] == "initial") & (trials["phase"] == "search")]
    if first_stage.empty:
        return {}
    boundary = max(finished_at.get(t, started) for t in first_stage["trial_id"])
    windows = {"first_stage": (started, boundary), "after_first_stage": (boundary, ended)}
    record = {}
    for name, (low, high) in windows.items():
        inside = [finished_at.get(t, ended) for t in trials["trial_id"]]
        mask = [low < at <= high for at in inside]
        train = float(trials.loc[mask, "train_time_s"].fillna(0).sum())
        record[name] = {
            "wall_s": round(high - low, 1), "trials_finished": int(sum(mask)),
            "training_fraction": round(train / max(1e-9, (high - low) * slots), 3),
        }
    return record


def _inclusion_table(experiment_dir: str) -> dict[str, list[dict]]:
    """The report's first table ("Does the inclusion hierarchy hold?") as rows of data, for the
    final stage (what the report shows) and the initial stage (the one-stage baseline: the
    choi-full spaces searched with the initial stage's trials)."""
    from dataclasses import asdict

    from analysis import analyse

    tables: dict[str, list[dict]] = {}
    for stage in ("final", "initial"):
        data = analyse(experiment_dir, stage=stage)
        tables[stage] = [
            {**asdict(row), "probe_summary": row.probe_summary, "budget": data.budget}
            for row in data.hierarchy_rows
        ]
        tables[f"causes_{stage}"] = [{**asdict(c), "sentence": c.sentence} for c in data.causes]
        if stage == "final":
            tables["lost_ground"] = [{**asdict(x), "sentence": x.sentence} for x in data.lost_ground]
            tables["speed"] = [
                {"workload": r.workload, "protocol": r.protocol, "target": r.target, "budget": r.budget,
                 "optimizers": [{"optimizer": o.optimizer, "rank": o.rank, "median_steps": o.median if math.isfinite(o.median) else None,
                                 "p_reached": o.p_reached, "n_reached": o.n_reached, "n_trials": o.n_trials}
                                for o in r.optimizers],
                 "distinct_ranks": len({o.rank for o in r.optimizers})}
                for r in data.speed
            ]
    return tables


def _choi_two_stage_only(config: str, directory: Path, *, cover: bool) -> str:
    """A copy of ``config`` whose only protocol is choi-two-stage, with or without
    cover_inclusions (same protocol name: the same points and seeds)."""
    import yaml

    protocol = yaml.safe_load((HERE.parent / "tuning" / "protocols" / "choi-two-stage.yaml").read_text())
    if not cover:
        for stage in protocol["stages"]:
            (stage.get("refine") or {}).pop("cover_inclusions", None)
    path = directory / "choi-two-stage.yaml"
    path.write_text(yaml.safe_dump(protocol, sort_keys=False))
    raw = yaml.safe_load(Path(config).read_text())
    raw["protocols"] = [str(path)]
    out = directory / "reproduce-nocover.yaml"
    out.write_text(yaml.safe_dump(raw, sort_keys=False))
    return str(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(HERE.parent / "tuning" / "configs" / "reproduce.yaml"))
    parser.add_argument("--results", default=str(HERE.parent / "results"))
    parser.add_argument("--name", default="reproduce")
    parser.add_argument("--out", default=str(HERE / "results" / "reproduce_study.json"))
    parser.add_argument("--without-cover-inclusions", action="store_true",
                        help="choi-two-stage only, without cover_inclusions (module docstring)")
    parser.add_argument("--only-choi-two-stage", action="store_true",
                        help="choi-two-stage only, as shipped (lr-only and wilson2017 do not depend on it)")
    parser.add_argument("--analyse-only", action="store_true",
                        help="recompute the verdict table of the record's experiment; run nothing")
    args = parser.parse_args()
    out = Path(args.out)
    from study_record import rewrite_record, run_record

    if args.analyse_only:
        rewrite_record(out, "inclusion_table", _inclusion_table(json.loads(out.read_text())["experiment"]))
        return

    from analysis.load import load_experiment
    from tuning.commands.cli import run_config

    config = args.config
    if args.without_cover_inclusions or args.only_choi_two_stage:
        import tempfile

        config = _choi_two_stage_only(
            args.config, Path(tempfile.mkdtemp(prefix="reproduce-two-stage-")), cover=not args.without_cover_inclusions
        )
    finished_at = _instrument_progress()
    started = time.perf_counter()
    experiment_dir, summary = run_config(config, args.results, args.name, progress=True)
    ended = time.perf_counter()
    trials = load_experiment(experiment_dir)[1].table.to_pandas()
    record = {
        **run_record("reproduce_study", os.path.relpath(args.config, HERE.parent), summary),
        "cover_inclusions": not args.without_cover_inclusions,
        "experiment": experiment_dir,
        "trials_by_phase": trials.groupby("phase").size().to_dict(),
        "wall_time_s": round(summary.wall_time_s, 1),
        "train_time_s": round(summary.train_time_s, 1),
        "training_fraction": round(summary.training_fraction, 3),
        "stage_windows": _stage_windows(trials, finished_at, started, ended, summary.slots),
        "targets": {"wall_time_s_max": 3600, "training_fraction_min": 0.8},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2, default=str) + "\n")  # the run is on record first
    print(json.dumps(record, indent=2, default=str))
    record["inclusion_table"] = _inclusion_table(experiment_dir)
    out.write_text(json.dumps(record, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
