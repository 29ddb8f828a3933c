"""Adaptive searches: an Optuna sampler asks each search point when a slot frees.

A protocol whose ``search:`` names a sampler (:data:`optcompare.schema.ADAPTIVE_SEARCHES`)
plans nothing up front. The driver keeps one in-memory Optuna study per search and study
(:class:`~tuning.planners.stages.Track`), over the same coordinates as a quasi-random search: one
distribution per tuned coordinate (:func:`distributions`: a log range is
``FloatDistribution(min, max, log=True)``, a linear one ``FloatDistribution(min, max)``,
``feasible_points`` a ``CategoricalDistribution``). A point asked is turned into hyperparameters
exactly as a quasi-random point is (:meth:`tuning.spec.search.SearchSpec.resolve`), and its trial id,
training seed and trials row are those of planned trial ``i``, ``i`` being the ask order in the
study (:func:`tuning.plan.resolve.trial_at`). A bundle of B asks B points at once; at most
``trials_per_search`` points are asked per search and study.

What the sampler is told when a trial ends (:func:`told`):

- completed: its selection metric (``select:``, e.g. ``final_val_error``);
- diverged: the metric's worst value (:attr:`optcompare.schema.Metric.worst`: 1.0 for an error
  rate, ``inf`` for a loss; Optuna refuses only NaN), as COMPLETE: a diverged point is a bad
  point, and the sampler should learn to stay away from it. A sampler that needs finite values
  (CMA-ES) is told FAIL instead of ``inf``;
- failed (out of retries: an exception, a dead worker): FAIL, which samplers ignore: a crash
  says nothing about the point.

Running trials (asked, not yet told) are RUNNING in the study: TPE treats them with its
constant liar (``constant_liar: true`` by default), GP with its q-batch acquisition (running
points condition the next one), CMA-ES and QMC ignore them (QMC's next Halton index is the
next one whatever runs; CMA-ES fills a generation from the points it asked), random needs
nothing. Retries of a failed attempt run the same point (the same trial id); nothing new is
asked for them.

Determinism. Sampler ``i`` of a study is built afresh with seed ``sha256(sampler seed, i)``
(QMC keeps one seed: it indexes one scrambled sequence), so what ask ``i`` returns depends only
on the trials told before it, not on how many asks the process made: a study rebuilt from its
Parquet rows (:meth:`AdaptivePlanner.restore`, told in ask order) asks on exactly as the
uninterrupted one would with one slot. Samplers that keep state in the study's storage (CMA-ES's
generations, QMC's sequence index) are rebuilt by replaying each row through the sampler
(enqueue its point, ask, let the sampler sample as it did for the ask, tell); the others by
adding the rows as finished trials.

Optuna is imported inside functions (``optcompare --help`` stays fast).
"""

from __future__ import annotations

import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from optcompare.schema import (
    ADAPTIVE_SEARCHES,
    FAILED,
    FIRST_STUDY,
    METRICS,
    SEARCH_PHASE,
    TUNED_PREFIX,
    SearchKey,
)
from tuning.plan.adaptive_search import AdaptiveSearch, distributions, told
from tuning.plan.resolve import derive_seed
from tuning.plan.tracks import Track, track_of
from tuning.spec.samplers import (
    SAMPLERS,
)

if TYPE_CHECKING:
    from optuna import Study
    from optuna.distributions import BaseDistribution
    from optuna.samplers import BaseSampler

    from tuning.plan.trial import PlannedTrial

__all__ = [
    "AdaptivePlanner",
    "AdaptiveStudy",
]


# --- sampler options, as data in the protocol file ----------------------------------------------

























if tuple(SAMPLERS) != ADAPTIVE_SEARCHES:  # pragma: no cover - checked at import
    raise RuntimeError(f"SAMPLERS {tuple(SAMPLERS)} and ADAPTIVE_SEARCHES {ADAPTIVE_SEARCHES} differ")












# --- one search's study ------------------------------------------------------------------------




class AdaptiveStudy:
    """The in-memory Optuna study of one :class:`AdaptiveSearch`: trial number = ask order =
    ``trial_index``."""

    def __init__(self, search: AdaptiveSearch) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        self.search = search
        self.entry = SAMPLERS[search.sampler]
        self.distributions = distributions(search.spec.space)
        self.study: Study = optuna.create_study(
            direction="minimize", study_name=search.track.key.prefix(), sampler=self._sampler(0)
        )
        self.asked = 0
        self.running: set[int] = set()
        """Trial numbers asked and not yet told."""
        self.optuna_seconds = 0.0
        """Time spent in Optuna asking and telling (sampler construction included)."""

    def _sampler(self, index: int) -> BaseSampler:
        from optuna.exceptions import ExperimentalWarning

        seed = derive_seed(self.search.seed, index, "ask") if self.entry.seed_per_ask else self.search.seed
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            return self.entry.build(self.entry.options.model_validate(dict(self.search.options)), seed)

    @property
    def left(self) -> int:
        return max(0, self.search.budget - self.asked)

    def ask(self) -> PlannedTrial:
        """The next point, as its planned trial (RUNNING in the study until told)."""
        from optuna.exceptions import ExperimentalWarning

        started = time.perf_counter()
        self.study.sampler = self._sampler(self.asked)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            trial = self.study.ask(self.distributions)
        self.optuna_seconds += time.perf_counter() - started
        if trial.number != self.asked:  # pragma: no cover - the study is ours alone
            raise RuntimeError(f"{self.search.track}: Optuna numbered ask {self.asked} as {trial.number}")
        self.asked += 1
        self.running.add(trial.number)
        return self.search.trial(trial.number, trial.params)

    def tell(self, index: int, status: str, value: object) -> None:
        """Tell trial ``index``'s outcome (:func:`told`); a trial already told is left as it is."""
        from optuna.trial import TrialState

        started = time.perf_counter()
        state, number = told(status, value, self.search.select, finite_only=self.entry.finite_only)
        if index in self.running:
            self.running.discard(index)
            self.study.tell(index, number, state=TrialState[state])
        self.optuna_seconds += time.perf_counter() - started

    def add(self, point: Mapping[str, Any], outcome: tuple[str, object] | None) -> None:
        """Rebuild: add the next trial in ask order at ``point``, told ``outcome`` ((status,
        selection value); None: it is to run again, RUNNING)."""
        from optuna.trial import TrialState, create_trial

        params = self.point_params(point)
        if self.entry.stateful:
            self.study.sampler = self._sampler(self.asked)
            self.study.enqueue_trial(params)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                trial = self.study.ask()
                # An enqueued point skips the sampler; let it sample as for the original ask,
                # before the point's coordinates are set, for what it records of an ask in the
                # study (QMC's sequence index, CMA-ES's generation).
                _ = trial.relative_params
                for name, dist in self.distributions.items():
                    _suggest(trial, name, dist)
            number = trial.number
            self.asked += 1
            self.running.add(number)
            if outcome is not None:
                self.tell(number, *outcome)
            return
        if outcome is None:
            self.study.add_trial(create_trial(params=params, distributions=self.distributions, state=TrialState.RUNNING))
            self.running.add(self.asked)
        else:
            state, value = told(outcome[0], outcome[1], self.search.select, finite_only=self.entry.finite_only)
            self.study.add_trial(create_trial(
                params=params, distributions=self.distributions, state=TrialState[state], value=value,
            ))
        self.asked += 1

    def point_params(self, point: Mapping[str, Any]) -> dict[str, Any]:
        """A point read back from Parquet (float64) in each distribution's own values: a
        feasible point is the choice it equals (``2.0`` -> ``2``)."""
        from optuna.distributions import CategoricalDistribution

        params: dict[str, Any] = {}
        for name, dist in self.distributions.items():
            value = point[name]
            if isinstance(dist, CategoricalDistribution):
                value = next((c for c in dist.choices if c == value), value)
            params[name] = value
        return params


# --- the driver's planner ----------------------------------------------------------------------


class AdaptivePlanner:
    """The adaptive searches of a study: asks on demand (:meth:`ask`), tells finished trials
    (:meth:`record`), and rebuilds its studies from rows on resume (:meth:`restore`).

    Searches take turns (round robin in plan order) so that each study's asks spread over the
    run rather than one search taking every slot."""

    def __init__(self, searches: Iterable[AdaptiveSearch] = ()) -> None:
        self.searches: dict[Track, AdaptiveSearch] = {s.track: s for s in searches}
        self.studies: dict[Track, AdaptiveStudy] = {}
        self.ready: deque[PlannedTrial] = deque()
        """Asked trials not yet handed out (the book bundles them at once)."""
        self._turn = 0

    def study(self, track: Track) -> AdaptiveStudy:
        """``track``'s study (made on first use: Optuna is imported then)."""
        if track not in self.studies:
            self.studies[track] = AdaptiveStudy(self.searches[track])
        return self.studies[track]

    def left(self, track: Track) -> int:
        """Points still to ask in ``track``."""
        study = self.studies.get(track)
        return self.searches[track].budget if study is None else study.left

    @property
    def max_asks(self) -> int:
        """Trials still to ask, at most (every search)."""
        return sum(self.left(t) for t in self.searches)

    def has_asks(self) -> bool:
        return self.max_asks > 0

    def max_bundles(self, size_of: Callable[[PlannedTrial], int]) -> int:
        """Bundles the remaining asks form at most (no failures)."""
        return sum(-(-self.left(t) // max(1, size_of(s.template))) for t, s in self.searches.items())

    def ask(self, size_of: Callable[[PlannedTrial], int], limit: int | None = None) -> list[PlannedTrial]:
        """Ask the next search with points left for one bundle's worth (its bundle size, at most
        ``limit``), into :attr:`ready`; return the trials asked."""
        tracks = list(self.searches)
        for step in range(len(tracks)):
            track = tracks[(self._turn + step) % len(tracks)]
            left = self.left(track)
            if left == 0:
                continue
            self._turn = (self._turn + step + 1) % len(tracks)
            count = min(left, max(1, size_of(self.searches[track].template)))
            if limit is not None:
                count = min(count, limit)
            study = self.study(track)
            asked = [study.ask() for _ in range(max(0, count))]
            self.ready.extend(asked)
            return asked
        return []

    def record(self, trial: PlannedTrial, summary: dict[str, Any] | None) -> None:
        """Tell ``trial``'s study how it ended (``summary`` None: it failed)."""
        track = track_of(trial)
        if trial.phase != SEARCH_PHASE or track not in self.searches:
            return
        search = self.searches[track]
        status = FAILED if summary is None else str(summary.get("status"))
        value = None if summary is None else summary.get(METRICS[search.select].column)
        self.study(track).tell(trial.trial_index, status, value)

    def restore(
        self, rows: Iterable[Mapping[str, Any]], finished: Callable[[str], bool]
    ) -> tuple[list[PlannedTrial], list[PlannedTrial]]:
        """Rebuild every study from the latest trials row of each of its trials (``trial_id``,
        ``trial_index``, ``study``, ``phase``, ``status``, ``tuned_<name>`` and the selection
        metric's column), told in ask order; return (finished trials, trials to run).

        A row that ``finished`` refuses (a failed trial to retry) stays RUNNING and runs again
        at the same point. An index below the search's highest with no row at all (it was
        running when the driver stopped; its point was never written) is asked again now; its
        old attempt's checkpoint does not apply to the new point."""
        by_track: dict[Track, dict[int, Mapping[str, Any]]] = {}
        for row in rows:
            tid = str(row["trial_id"])
            if row.get("phase", SEARCH_PHASE) != SEARCH_PHASE:
                continue
            track = _row_track(tid, row)
            if track in self.searches:
                by_track.setdefault(track, {})[int(row["trial_index"])] = row
        done: list[PlannedTrial] = []
        to_run: list[PlannedTrial] = []
        for track, indexed in by_track.items():
            search, study = self.searches[track], self.study(track)
            column = METRICS[search.select].column
            for index in range(min(max(indexed) + 1, search.budget)):
                found = indexed.get(index)
                if found is None:
                    to_run.append(study.ask())
                    continue
                point = {name: found[f"{TUNED_PREFIX}{name}"] for name in sorted(search.spec.space)}
                trial = search.trial(index, study.point_params(point))
                if finished(trial.trial_id):
                    study.add(point, (str(found["status"]), found.get(column)))
                    done.append(trial)
                else:
                    study.add(point, None)
                    to_run.append(trial)
        return done, to_run

    def optuna_seconds(self) -> float:
        """Time spent in Optuna asking and telling, over every study."""
        return sum(s.optuna_seconds for s in self.studies.values())


def _suggest(trial: Any, name: str, dist: BaseDistribution) -> object:  # noqa: ANN401 - an optuna Trial
    """``trial.suggest_*`` of ``dist`` (an enqueued trial returns its fixed value)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    assert isinstance(dist, FloatDistribution)  # distributions() makes only these two kinds
    return trial.suggest_float(name, dist.low, dist.high, log=dist.log)


def _row_track(trial_id: str, row: Mapping[str, Any]) -> Track:
    study = row.get("study")
    return Track(SearchKey.of_trial_id(trial_id), FIRST_STUDY if study is None else int(study))
