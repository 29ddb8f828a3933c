"""``optcompare export optuna``: an experiment's searches as Optuna studies, for optuna-dashboard.

One study per (workload, protocol, optimizer, study, stage) of the search-phase rows, named

    EXPERIMENT/W/P/O          study 0 of a one-stage protocol
    EXPERIMENT/W/P/O/sS       study S > 0
    .../STAGE                 each stage of a staged protocol

(reruns and probes are not searches and are left out). Its trials are those of
:func:`analysis.optuna_study.rebuilt_trials`: params in the tuned coordinates with their
distributions (log, linear, feasible points), the value the protocol's selection metric
(diverged trials at the search's worst finite value, failed trials as FAIL), user attributes
``trial_id``, ``status``, ``study``, ``stage`` (staged protocols), ``trial_index``, and as
intermediate values the selection metric's curve (step -> value of the trial's latest attempt;
non-finite values left out). The study's user attributes name the experiment, workload,
protocol, optimizer, search kind, study and stage.

Storage: an RDB URL (``sqlite:///studies.db``, any URL SQLAlchemy opens) or a journal file
path (``optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))``);
a path ending in ``.db`` / ``.sqlite`` / ``.sqlite3`` is refused as ambiguous. A study of the
same name already in the storage is an error unless ``overwrite`` (then it is deleted and
written again); every name is checked before anything is written.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from optcompare.errors import InputError, ParameterError
from optcompare.schema import FIRST_STUDY, METRICS, SearchKey

from .ask_order import DEFAULT_SEARCH, protocol_searches
from .diagnostics import space_ranges
from .load import load_results, with_stage_and_study
from .optuna_study import RebuiltTrials, create_study, rebuilt_trials
from .selection import select_for, selection
from .stages import stage_names
from .studies import searches_by_study

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

__all__ = [
    "SQLITE_SUFFIXES",
    "ExportResult",
    "ExportedStudy",
    "export_optuna",
    "intermediate_values",
    "open_storage",
    "study_name",
]

SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
"""File suffixes refused as journal paths: they look like SQLite files (give ``sqlite:///``)."""

STORAGE_HELP = ("an RDB URL such as sqlite:///studies.db, or a journal file path such as "
                "studies.log in an existing directory")


@dataclass(frozen=True)
class ExportedStudy:
    """One study written: its name, its search and what its trials are."""

    name: str
    workload: str
    protocol: str
    optimizer: str
    study: int
    stage: str
    n_trials: int
    n_complete: int
    """Completed trials with their own value."""
    n_diverged: int
    """Trials written as COMPLETE at the worst finite value."""
    n_failed: int


@dataclass(frozen=True)
class ExportResult:
    """The studies written into ``storage``; ``replaced`` the names that were overwritten."""

    experiment: str
    storage: str
    studies: tuple[ExportedStudy, ...]
    replaced: tuple[str, ...]
    skipped: tuple[str, ...]

    @property
    def n_trials(self) -> int:
        return sum(s.n_trials for s in self.studies)


def _storage_error(target: str, reason: str) -> ParameterError:
    return ParameterError("storage", f"cannot open {{name}} {target!r}: {reason}; give {STORAGE_HELP}")


def _rdb_errors() -> tuple[type[BaseException], ...]:
    import sqlalchemy.exc
    from optuna.exceptions import StorageInternalError

    return (ValueError, ImportError, OSError, sqlalchemy.exc.SQLAlchemyError, StorageInternalError)


def open_storage(target: str) -> BaseStorage:
    """The Optuna storage ``target`` names (module doc); ParameterError about ``storage`` when it
    cannot be opened."""
    import optuna

    if "://" in target:
        try:
            return optuna.storages.RDBStorage(target)
        except _rdb_errors() as err:
            raise _storage_error(target, f"{type(err).__name__}: {err}") from err
    path = Path(target)
    if path.suffix in SQLITE_SUFFIXES:
        raise _storage_error(target, f"a path ending in {path.suffix} looks like an SQLite file "
                                     f"(for an RDB give sqlite:///{target})")
    if path.is_dir() or not path.parent.is_dir():
        where = "it is a directory" if path.is_dir() else f"directory {path.parent} does not exist"
        raise _storage_error(target, where)
    try:
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(target))
    except (ValueError, KeyError, OSError) as err:
        raise _storage_error(target, f"not an Optuna journal file ({type(err).__name__}: {err})") from err


def study_name(experiment: str, key: SearchKey, study: int, stage: str, staged: bool) -> str:
    """``EXPERIMENT/W/P/O[/sS][/STAGE]`` (module doc)."""
    name = f"{experiment}/{key.prefix()}"
    if study != FIRST_STUDY:
        name += f"/s{study}"
    return f"{name}/{stage}" if staged else name


def intermediate_values(
    curves: pa.Table, attempts: Mapping[str, int], metric: str
) -> dict[str, dict[int, float]]:
    """Trial id -> {step: ``metric``} of the curve rows of the trial's attempt ``attempts[id]``;
    non-finite values are left out."""
    if curves.num_rows == 0 or metric not in curves.column_names:
        return {}
    ids = curves.column("trial_id").to_pylist()
    attempt = pc.fill_null(curves.column("attempt"), -1).to_numpy()
    step = pc.fill_null(curves.column("step"), -1).to_numpy()
    value = pc.cast(curves.column(metric), pa.float64()).to_numpy(zero_copy_only=False)
    out: dict[str, dict[int, float]] = {}
    for tid, a, s, v in zip(ids, attempt.tolist(), step.tolist(), value.tolist(), strict=True):
        if attempts.get(tid) == a and math.isfinite(v):
            out.setdefault(tid, {})[int(s)] = v
    return out


@dataclass(frozen=True, eq=False)
class _Planned:
    """A study to write: its name, its trials and its study user attributes."""

    name: str
    key: SearchKey
    study: int
    stage: str
    rebuilt: RebuiltTrials
    attrs: Mapping[str, Any]


def _planned(path: str) -> tuple[list[_Planned], tuple[str, ...], str]:
    """Every study of experiment ``path`` (module doc), the skipped files and the name."""
    exp = load_results(path)
    trials = with_stage_and_study(exp.trials)
    chosen, ranges, kinds = selection(exp.meta), space_ranges(exp.meta), protocol_searches(exp.meta)
    stages = stage_names(exp.meta, sorted(set(trials.column("protocol").to_pylist())))
    attempts: dict[str, int] = {}
    per_stage = {}
    for stage in sorted(set(trials.column("stage").to_pylist())):
        per_stage[stage] = searches_by_study(trials.filter(pc.equal(trials.column("stage"), stage)))
        for searches in per_stage[stage].values():
            for s in searches.values():
                attempts.update(zip(s.trial_id.tolist(), s.column("attempt").astype(int).tolist(),
                                    strict=True))
    curves: dict[str, dict[str, dict[int, float]]] = {}
    planned = []
    for stage, by_study in per_stage.items():
        for study, searches in by_study.items():
            for key, search in searches.items():
                metric = select_for(chosen, key.protocol)
                if metric not in curves:
                    curves[metric] = intermediate_values(exp.curves, attempts, METRICS[metric].name)
                staged = len(stages.get(key.protocol, ())) > 1
                rebuilt = rebuilt_trials(search, ranges.get((key.protocol, key.optimizer), {}),
                                         metric, intermediate=curves[metric],
                                         stage=stage if staged else "")
                attrs = {"experiment": exp.name, **key._asdict(), "study": study, "stage": stage,
                         "search": kinds.get(key.protocol, DEFAULT_SEARCH), "select": metric}
                name = study_name(exp.name, key, study, stage, staged)
                planned.append(_Planned(name, key, study, stage, rebuilt, attrs))
    if not planned:
        raise InputError(f"{path} has no search trials yet; run or resume it first")
    return planned, exp.skipped, exp.name


def _existing(storage: BaseStorage, names: list[str], overwrite: bool) -> list[str]:
    """The planned names already in ``storage``; InputError naming them unless ``overwrite``."""
    import optuna

    there = set(optuna.get_all_study_names(storage))
    clash = [n for n in names if n in there]
    if clash and not overwrite:
        shown = ", ".join(clash[:5]) + (f" and {len(clash) - 5} more" if len(clash) > 5 else "")
        raise ParameterError(
            "overwrite", f"the storage already holds {len(clash)} of these studies ({shown}); "
            "set {name} to replace them, or export into another storage")
    return clash


def _written(plan: _Planned) -> ExportedStudy:
    r = plan.rebuilt
    return ExportedStudy(plan.name, *plan.key, plan.study, plan.stage, len(r.trials), r.n_completed,
                         r.n_imputed, r.n_failed)


def _each(planned: list[_Planned]) -> Iterator[_Planned]:
    yield from sorted(planned, key=lambda p: p.name)


def export_optuna(experiment: str, storage: str, *, overwrite: bool = False) -> ExportResult:
    """Write every study of ``experiment`` into ``storage`` (module doc)."""
    import optuna

    target = open_storage(storage)
    planned, skipped, name = _planned(experiment)
    replaced = _existing(target, [p.name for p in planned], overwrite)
    for study in replaced:
        optuna.delete_study(study_name=study, storage=target)
    for plan in _each(planned):
        create_study(plan.rebuilt, storage=target, name=plan.name, user_attrs=plan.attrs)
    return ExportResult(name, storage, tuple(_written(p) for p in _each(planned)),
                        tuple(replaced), skipped)

