"""What runs inside a Ray worker: train one planned trial and report its rows in batches.

Reports cost a round trip to the driver (about 15-30 ms here), so evaluation rows are batched:
a report goes out when ``report_every_s`` seconds have passed since the last one, and a final
report carries the remaining rows and the trial summary. Workloads (and their data) are cached
per worker process, so a reused actor does not reload them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["execute_trial", "ray_trainable"]

_WORKLOAD_CACHE: dict[tuple[str, str | None, str], Any] = {}


def execute_trial(config: dict[str, Any], report: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Train the planned trial ``config`` (a PlannedTrial dict); return its summary.

    ``report`` receives ``{"curve": [rows]}`` batches and, last, ``{"curve": [...],
    "summary": {...}, "final": True}``.
    """
    import torch

    import workloads

    from .plugins import load_plugins

    load_plugins(config.get("plugins", ()))

    threads = int(config.get("threads", 0) or 0)
    if threads > 0:
        torch.set_num_threads(threads)
    options = config.get("workload_options") or {}
    key = (config["workload"], config.get("data_dir"), repr(sorted(options.items())))
    if key not in _WORKLOAD_CACHE:
        _WORKLOAD_CACHE[key] = workloads.get(config["workload"], config.get("data_dir"), **options)
    workload = _WORKLOAD_CACHE[key]
    pending: list[dict[str, Any]] = []
    every_s = float(config.get("report_every_s", 10.0))
    last = time.monotonic()

    def on_eval(row: workloads.EvalRow) -> None:
        nonlocal last
        pending.append(row.as_dict())
        if time.monotonic() - last >= every_s:
            report({"curve": list(pending)})
            pending.clear()
            last = time.monotonic()

    outcome = workloads.train(
        workload,
        config["optimizer"],
        config["hparams"],
        config["schedule"],
        config["schedule_params"],
        int(config["seed"]),
        steps=int(config["steps"]),
        eval_every=int(config["eval_every"]),
        device=config.get("device"),
        on_eval=on_eval,
    )
    summary = outcome.summary()
    report({"curve": list(pending), "summary": summary, "final": True})
    return summary


def ray_trainable(config: dict[str, Any]) -> None:
    """The Ray Tune function trainable: :func:`execute_trial` reporting through ``tune.report``.

    An exception is first reported as ``{"failure": "Type: message"}`` (so the driver records a
    readable error whatever Tune kept of it), then re-raised for Tune to retry the trial."""
    from ray import tune

    try:
        execute_trial(config, tune.report)
    except Exception as err:
        try:
            tune.report({"failure": f"{type(err).__name__}: {err}"[:2000]})
        finally:
            raise
