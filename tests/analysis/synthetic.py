"""Synthetic experiments in the exact results layout (optcompare.schema), written by the real sink.

``write_experiment(tmp_path / "exp", {("w", "p", "sgd"): [trial(...), ...]})`` writes
experiment.json and one trials and one curves part file per search, through
``tuning.store.sink.ResultSink`` (atomic part files, the production schemas).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from optcompare import schema
from tuning.store.sink import ResultSink

STEPS = 100
EVAL_EVERY = 20
TARGET = 0.5


def trial(
    val_error: float,
    *,
    test_error: float | None = None,
    train_loss: float | None = None,
    status: str = "completed",
    steps_to_target: int | None = None,
    tuned: dict[str, float] | None = None,
    attempt: int = 0,
    index: int | None = None,
    phase: str = "search",
    curve: list[tuple[int, float]] | None = None,
    seed: int | None = None,
    stage: str | None = None,
    study: int | None = None,
) -> dict[str, Any]:
    """One trial. ``curve`` is [(step, val_error)]; by default a straight line from 0.9 at step
    20 to ``val_error`` at step 100 (every 20 steps), whose first step at or below the target
    is the default ``steps_to_target``. ``index`` overrides the trial's index in its search
    (default: its position), so two attempts of one trial can be written; ``seed`` its training
    seed (default: its index). ``stage`` and ``study`` are written as given (None: null, which
    reads as stage ``final``, study 0); a study > 0 puts ``sS/`` in the trial id."""
    if curve is None:
        steps = list(range(EVAL_EVERY, STEPS + 1, EVAL_EVERY))
        end = val_error if math.isfinite(val_error) else 0.9
        curve = [(s, 0.9 + (end - 0.9) * (i / (len(steps) - 1))) for i, s in enumerate(steps)]
    if steps_to_target is None and status != "failed":
        steps_to_target = next((s for s, e in curve if e <= TARGET), None)
    return {
        "val_error": val_error,
        "test_error": val_error + 0.01 if test_error is None else test_error,
        "train_loss": val_error if train_loss is None else train_loss,
        "status": status,
        "steps_to_target": steps_to_target,
        "tuned": tuned or {},
        "attempt": attempt,
        "index": index,
        "phase": phase,
        "curve": curve,
        "seed": seed,
        "stage": stage,
        "study": study,
    }


def write_experiment(
    path: Path,
    searches: dict[tuple[str, str, str], list[dict[str, Any]]],
    *,
    spaces: dict[tuple[str, str], dict[str, Any]] | None = None,
    inclusions: list[dict[str, Any]] | None = None,
    select: dict[str, str] | None = None,
    target: float = TARGET,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write the experiment directory ``path`` and return it; ``meta`` adds (or replaces)
    experiment.json keys (e.g. ``stages``, ``studies``, ``refined``)."""
    extra = meta or {}
    path.mkdir(parents=True, exist_ok=True)
    workloads = sorted({k[0] for k in searches})
    protocols = sorted({k[1] for k in searches})
    optimizers = sorted({k[2] for k in searches})
    meta: dict[str, Any] = {
        "name": path.name,
        "workloads": [
            {"name": w, "steps": STEPS, "eval_every": EVAL_EVERY, "target_metric": "val_error", "target_value": target}
            for w in workloads
        ],
        "optimizers": optimizers,
        "searches": [
            {"protocol": p, "optimizer": o, "schedule": "constant", "space": (spaces or {}).get((p, o), {}), "fixed": {}}
            for p in protocols
            for o in optimizers
        ],
        "select": select or {p: "val_error" for p in protocols},
        "trials_per_search": max(len(v) for v in searches.values()),
    }
    if inclusions is not None:
        meta["inclusions"] = inclusions
    meta.update(extra)
    (path / "experiment.json").write_text(json.dumps(meta, indent=2))
    sink = ResultSink(str(path), flush_rows=10**9, flush_seconds=10**9)
    for key, trials in searches.items():
        for position, t in enumerate(trials):
            i = position if t["index"] is None else t["index"]
            trial_id = schema.trial_id(*key, i, t["study"] or schema.FIRST_STUDY)
            nan = math.nan
            failed = t["status"] == "failed"
            curve = [] if failed else t["curve"]
            if curve:
                sink.add_curve_rows(
                    key,
                    [
                        {"trial_id": trial_id, "attempt": t["attempt"], "step": s, "learning_rate": 0.1,
                         "train_loss": e, "val_error": e, "val_loss": e, "test_error": e + 0.01,
                         "test_loss": e, "wall_time_s": 0.01 * s}
                        for s, e in curve
                    ],
                )
            row = {
                "trial_id": trial_id, "trial_index": i, "seed": i if t["seed"] is None else t["seed"], "attempt": t["attempt"], "phase": t["phase"],
                "stage": t["stage"], "study": t["study"], "status": t["status"],
                "final_train_loss": nan if failed else t["train_loss"],
                "final_val_error": nan if failed else t["val_error"],
                "final_val_loss": nan if failed else t["val_error"],
                "final_test_error": nan if failed else t["test_error"],
                "final_test_loss": nan if failed else t["test_error"],
                "best_val_error": nan if failed else min(e for _, e in curve),
                "best_val_step": -1 if failed else min(curve, key=lambda r: r[1])[0],
                "steps_to_target": t["steps_to_target"],
                "total_steps": 0 if failed else curve[-1][0],
                "wall_time_s": 1.0, "train_time_s": 0.9, "error": "boom" if failed else None,
            }
            hparams = {"learning_rate": 0.1, **{k: v for k, v in t["tuned"].items() if not k.startswith("one_minus")}}
            sink.add_trial_row(key, row, hparams, t["tuned"])
    sink.close()
    return path
