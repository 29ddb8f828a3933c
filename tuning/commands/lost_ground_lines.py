"""The run summary's lines on refinement that lost ground, read from the finished study's results."""

from __future__ import annotations

from analysis.load import load_results
from analysis.lost_ground import lost_ground

__all__ = [
    "lost_ground_lines",
]


def lost_ground_lines(experiment_dir: str, staged: bool) -> list[str]:
    """The run summary's lines on refinement that lost ground (:mod:`analysis.lost_ground`):
    every search of a staged protocol whose later stage's best is worse than its earlier stage's;
    empty when none did. ``staged``: whether the study has a staged protocol (when not, the
    results are not read at all)."""
    if not staged:
        return []

    try:
        experiment = load_results(experiment_dir, curves=False)
        lost = lost_ground(experiment.trials, experiment.meta)
    except Exception as err:  # noqa: BLE001 - a diagnostic after the study must not fail the finished run
        return [f"warning: the check for refinement that lost ground failed ({type(err).__name__}: {err}); "
                f"the study's results are complete: optcompare report {experiment_dir} shows them"]
    if not lost:
        return []
    return [
        f"refinement lost ground in {len(lost)} search{'es' if len(lost) > 1 else ''} "
        "(docs/method.md, section 6.3; rank --stage initial to compare):",
        *(f"  {item.sentence}" for item in lost),
    ]
