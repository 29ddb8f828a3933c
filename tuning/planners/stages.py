"""Staged protocols: an initial search, then searches in spaces refined from the stage before.

A protocol may declare its stages (docs/method.md, "Two-stage protocols")::

    stages:
      - {name: initial, fraction: 0.5}
      - {name: final, fraction: 0.5, refine: {best_fraction: 0.25, margin: 0.5}}

Stage k gets n_k of a search's T = ``trials_per_search`` trials, by cumulative rounding of the
fractions f_j (which sum to 1)::

    c_k = round(T * (f_1 + ... + f_k)),   n_k = c_k - c_(k-1),   c_0 = 0,

at trial indices c_(k-1) .. c_k - 1 of the search (and study). The first stage searches the
protocol's space for the optimizer; once every trial of stage k has finished (completed,
diverged or failed), stage k+1's space is the refinement of stage k's space from stage k's
trials by stage k+1's ``refine`` rule (:func:`tuning.plan.refine.refine_search`: a pure function of
the finished rows), and its n_(k+1) points are the first points of a scrambled Halton sequence
of that space seeded by SHA-256 of (experiment seed, workload, protocol, optimizer, study,
stage name). A stage with fewer than two completed trials cannot be refined: the next stage
then searches the same space, and the record says why. Training seeds follow the trial index as
for one-stage protocols.

:class:`StagePlanner` does this during a run (and again on resume, from the Parquet rows: the
same rows give bitwise the same spaces); each refinement is a :class:`dict` record that the
driver appends to ``experiment.json`` (``refined``). Only quasi-random protocols take stages.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from optcompare.errors import InputError
from optcompare.schema import (
    COMPLETED,
    METRICS,
    SEARCH_PHASE,
    TUNED_PREFIX,
    SearchKey,
)
from optcompare.searches import Search
from optcompare.validation import FieldError
from tuning.plan.cover import cover_space
from tuning.plan.refine import (
    TooFewTrials,
    best_trials,
    refine_search,
    show_dimension,
    validity_limits,
)
from tuning.plan.resolve import derive_seed, search_points, trial_at
from tuning.plan.space_inclusion import check_pair
from tuning.plan.tracks import Track, track_of
from tuning.spec.probe_pairs import inclusion_pairs
from tuning.spec.search import check_search
from tuning.spec.stages import (
    StageSlot,
    stage_layout,
    stage_seed_parts,
)

if TYPE_CHECKING:
    from tuning.plan.trial import PlannedTrial
    from tuning.spec.protocol import Protocol
    from tuning.spec.search import SearchSpec

__all__ = [
    "StagePlanner",
]



























@dataclass
class _Open:
    """A stage of one track whose trials are still running."""

    position: int
    spec: SearchSpec
    remaining: int
    finished: list[tuple[PlannedTrial, str, float]]
    """(trial, status, selection metric) of the stage's finished trials."""


class StagePlanner:
    """Plans each staged track's next stage when its current stage has finished (module doc).

    ``on_refined`` is called with each refinement's record (the driver appends it to
    experiment.json); :attr:`records` keeps them all in the order planned."""

    def __init__(
        self,
        plan: Iterable[PlannedTrial],
        protocols: Iterable[Protocol],
        trials_per_search: int,
        experiment_seed: int,
        on_refined: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.protocols = {p.name: p for p in protocols if p.stages}
        self.trials_per_search = trials_per_search
        self.seed = experiment_seed
        self.on_refined = on_refined
        self.layouts = {
            name: stage_layout(p.stages, trials_per_search) for name, p in self.protocols.items()
        }
        self.open: dict[Track, _Open] = {}
        for trial in plan:
            if trial.phase != SEARCH_PHASE or trial.protocol not in self.protocols:
                continue
            track = track_of(trial)
            if track not in self.open:
                spec = self.protocols[trial.protocol].for_optimizer(trial.optimizer)
                self.open[track] = _Open(0, spec, self.layouts[trial.protocol][0].count, [])
        self.ready: deque[PlannedTrial] = deque()
        self.records: list[dict[str, Any]] = []
        self.unexpressible: dict[Track, dict[str, str]] = {}
        """Wide track -> narrow optimizer -> why the protocol cannot express that inclusion at
        all (:func:`tuning.plan.space_inclusion.check_pair`): no cover is tried and nothing waits for it."""
        self.narrows = self._narrow_tracks()
        """Wide track -> the tracks of its narrow optimizers whose inclusion the protocol can
        express (protocols that cover inclusions): its next stage waits for theirs."""
        self.covered = {narrow for narrows in self.narrows.values() for narrow in narrows}
        """Tracks some wide track covers: their finished stages are kept in :attr:`done`."""
        self.done: dict[tuple[Track, int], tuple[SearchSpec, list[tuple[PlannedTrial, str, float]]]] = {}
        """(covered track, stage position) -> (the stage's search, its finished trials)."""
        self.waiting: set[Track] = set()
        """Tracks whose stage has finished and whose next stage waits for narrow tracks."""

    def _narrow_tracks(self) -> dict[Track, list[Track]]:
        """For each track of a protocol whose later stages cover inclusions, the tracks of the
        same workload, protocol and study whose optimizer has an inclusion path to its own."""
        covering = {
            name for name, p in self.protocols.items()
            if any(s.refine is not None and s.refine.cover_inclusions for s in p.stages)
        }
        tracks = [t for t in self.open if t.key.protocol in covering]
        if not tracks:
            return {}

        pairs = inclusion_pairs(dict.fromkeys(t.key.optimizer for t in tracks))
        why_not: dict[tuple[str, str, str], str | None] = {}
        narrows: dict[Track, list[Track]] = {}
        for track in tracks:
            for pair in pairs:
                if pair.wide != track.key.optimizer:
                    continue
                narrow = Track(SearchKey(track.key.workload, track.key.protocol, pair.narrow), track.study)
                if narrow not in self.open:
                    continue
                key = (track.key.protocol, pair.narrow, pair.wide)
                if key not in why_not:
                    coverage = check_pair(self.protocols[key[0]], pair.narrow, pair.wide, trials=self.trials_per_search)
                    why_not[key] = (
                        "; ".join(r.sentence() for r in coverage.requirements)
                        if coverage.status == "not expressible" else None
                    )
                if why_not[key] is not None:
                    self.unexpressible.setdefault(track, {})[pair.narrow] = (
                        f"not expressible under {key[0]}, whatever the ranges: {why_not[key]}"
                    )
                    continue
                narrows.setdefault(track, []).append(narrow)
        return narrows

    @property
    def max_stage_trials(self) -> int:
        """Trials of later stages still to be planned."""
        return sum(
            sum(s.count for s in self.layouts[t.key.protocol][o.position + 1 :]) for t, o in self.open.items()
        )

    def outstanding(self) -> bool:
        return bool(self.open)

    def record(self, trial: PlannedTrial, summary: dict[str, Any] | None) -> list[PlannedTrial]:
        """Note a finished trial (``summary`` None when it failed); return the next stage's
        trials when this was the last of its stage."""
        track = track_of(trial)
        state = self.open.get(track)
        if state is None or trial.phase != SEARCH_PHASE:
            return []
        layout = self.layouts[track.key.protocol]
        if trial.stage != layout[state.position].stage.name:
            return []
        select = METRICS[self.protocols[track.key.protocol].select].column
        status = "failed" if summary is None else str(summary.get("status"))
        value = math.nan if summary is None else _finite(summary.get(select))
        state.finished.append((trial, status, value))
        state.remaining -= 1
        if state.remaining > 0:
            return []
        planned = self._advance(track)
        if track in self.covered:
            self.done[(track, state.position)] = (state.spec, list(state.finished))
            for wide in sorted(self.waiting):
                if track in self.narrows[wide]:
                    planned += self._advance(wide)
        self.ready.extend(planned)
        return planned

    def _advance(self, track: Track) -> list[PlannedTrial]:
        """Plan ``track``'s next stage, unless it covers inclusions and a narrow track has not
        finished the same stage yet (then it waits; :meth:`record` tries again)."""
        state = self.open[track]
        layout = self.layouts[track.key.protocol]
        following = layout[state.position + 1].stage
        if following.refine is not None and following.refine.cover_inclusions and any(
            (narrow, state.position) not in self.done for narrow in self.narrows.get(track, ())
        ):
            self.waiting.add(track)
            return []
        self.waiting.discard(track)
        return self._next_stage(track, state, layout)

    def take(self) -> PlannedTrial | None:
        """The next planned trial of a later stage, if any."""
        return self.ready.popleft() if self.ready else None

    def _next_stage(self, track: Track, state: _Open, layout: tuple[StageSlot, ...]) -> list[PlannedTrial]:
        current, following = layout[state.position], layout[state.position + 1]
        spec, record = self._refine(track, state, current, following)
        self.records.append(record)
        if self.on_refined is not None:
            self.on_refined(record)
        names = tuple(track.key)
        seed = derive_seed(self.seed, *names, *stage_seed_parts(track.study), following.stage.name, "halton")
        points = search_points(spec.for_budget(self.trials_per_search), following.count, seed)
        template = state.finished[0][0]
        trials = [
            trial_at(template, spec, following.first + offset, point, self.seed, stage=following.stage.name)
            for offset, point in enumerate(points)
        ]
        if state.position + 2 < len(layout):
            self.open[track] = _Open(state.position + 1, spec, following.count, [])
        else:
            del self.open[track]
        return trials

    def _refine(
        self, track: Track, state: _Open, current: StageSlot, following: StageSlot
    ) -> tuple[SearchSpec, dict[str, Any]]:
        """The next stage's search and its record: the track's own refinement, then (with
        ``cover_inclusions``) widened to hold its narrow tracks' imitations (:mod:`tuning.plan.cover`)."""
        spec, record = self._refine_own(track, state, current, following)
        refine = following.stage.refine
        if refine is None or not refine.cover_inclusions:
            return spec, record
        skipped = {
            narrow: {"best_trial_ids": [], "covered": False, "why": why}
            for narrow, why in sorted(self.unexpressible.get(track, {}).items())
        }
        if track not in self.narrows:
            if not skipped:
                return spec, record
            return spec, {**record, "cover_inclusions": {"narrow": skipped, "moved": {}}}

        protocol = self.protocols[track.key.protocol]
        column = METRICS[protocol.select].column
        bests: dict[str, list[PlannedTrial]] = {}
        too_few: dict[str, Any] = {}
        for narrow in self.narrows[track]:
            narrow_spec, finished = self.done[(narrow, state.position)]
            rows = stage_rows(narrow.key, finished, narrow_spec, column)
            try:
                best, _ = best_trials(rows, protocol.select, refine.rule())
            except TooFewTrials as err:
                too_few[narrow.key.optimizer] = {"best_trial_ids": [], "covered": False, "why": str(err)}
                continue
            by_id = {t.trial_id: t for t, _, _ in finished}
            bests[narrow.key.optimizer] = [by_id[str(rows.trial_id[i])] for i in best]
        space, covered = cover_space(
            spec, spec.space, protocol.for_optimizer(track.key.optimizer), bests, validity_limits(spec)
        )
        covered["narrow"].update(too_few)
        covered["narrow"].update(skipped)
        widened = spec.model_copy(update={"space": space})
        try:
            check_search(widened)
        except (InputError, FieldError, ValueError) as err:
            return spec, {**record, "cover_inclusions": {**covered, "note": f"not applied: {err}"}}
        for c in record["coordinates"]:
            if c["name"] in covered["moved"]:
                c["new"] = dict(space[c["name"]])
                c["change"] = f"{show_dimension(c['old'])} -> {show_dimension(c['new'])}"
                c["notes"] = f"{c['notes']}; widened to cover inclusions"
        return widened, {**record, "cover_inclusions": covered}

    def _refine_own(
        self, track: Track, state: _Open, current: StageSlot, following: StageSlot
    ) -> tuple[SearchSpec, dict[str, Any]]:
        """The next stage's search from the track's own rows and its record; the current space
        when refining fails."""

        rule = following.stage.rule()
        assert rule is not None  # check_stages: every later stage has one
        protocol = self.protocols[track.key.protocol]
        record: dict[str, Any] = {
            "workload": track.key.workload, "protocol": track.key.protocol,
            "optimizer": track.key.optimizer, "study": track.study, "stage": following.stage.name,
            "from_stage": current.stage.name, "rule": rule.phrase(protocol.select),
        }
        rows = stage_rows(track.key, state.finished, state.spec, METRICS[protocol.select].column)
        try:
            refined = refine_search(rows, state.spec.space, rule, select=protocol.select,
                                    limits=validity_limits(state.spec))
            spec = state.spec.model_copy(update={"space": refined.space})
            check_search(spec)
        except (TooFewTrials, InputError, FieldError, ValueError) as err:
            coordinates = [
                {"name": n, "old": dict(d), "new": dict(d), "notes": "unchanged"} for n, d in sorted(state.spec.space.items())
            ]
            return state.spec, {**record, "completed": int(np.sum(rows.status == COMPLETED)),
                                "best_trial_ids": [], "coordinates": coordinates,
                                "note": f"not refined, the space of stage {current.stage.name!r} is kept: {err}"}
        coordinates = [
            {"name": c.name, "old": c.old, "new": c.new, "notes": c.notes(),
             "change": f"{show_dimension(c.old)} -> {show_dimension(c.new)}"}
            for c in refined.coordinates
        ]
        replaced = {"replaced": dict(refined.replaced)} if refined.replaced else {}
        return spec, {**record, "completed": refined.completed,
                      "best_trial_ids": list(refined.best_trial_ids), "coordinates": coordinates, **replaced}


def _finite(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]  # any value: its TypeError is caught
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def stage_rows(
    key: SearchKey, finished: list[tuple[PlannedTrial, str, float]], spec: SearchSpec, select_column: str
) -> Any:  # noqa: ANN401
    """The finished trials of one stage as an :class:`optcompare.searches.Search` (the rows
    :func:`tuning.plan.refine.refine_search` reads): ``trial_index``, the selection metric (column
    ``select_column``) and each ``tuned_<name>`` of ``spec``'s space, in trial-index order."""

    finished = sorted(finished, key=lambda item: item[0].trial_index)
    columns: dict[str, np.ndarray] = {
        "trial_index": np.array([t.trial_index for t, _, _ in finished], dtype=float),
    }
    for name in spec.space:
        columns[f"{TUNED_PREFIX}{name}"] = np.array(
            [float(t.tuned.get(name, math.nan)) for t, _, _ in finished], dtype=float
        )
    columns[select_column] = np.array([v for _, _, v in finished], dtype=float)
    return Search(
        key.workload, key.protocol, key.optimizer,
        trial_id=np.array([t.trial_id for t, _, _ in finished], dtype=object),
        status=np.array([s for _, s, _ in finished], dtype=object),
        columns=columns,
    )




