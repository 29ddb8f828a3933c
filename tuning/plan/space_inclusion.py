"""Can a protocol's wide search space express its inclusions? A check that computes, not trains.

The paper's argument (Choi et al. 2019) rests on this: for an inclusion ``narrow <= wide``, the
wide optimizer's search space contains the imitation of the narrow optimizer's space, so the
wide search can reach whatever the narrow one reaches. A protocol whose spaces break it ranks a
narrow optimizer first for a reason no budget removes. For every pair of a protocol's
optimizers with an inclusion path (:func:`tuning.planners.probes.inclusion_pairs`, chains included),
:func:`check_space_inclusion` maps the narrow search's space through the imitation into the
wide search's tuned coordinates and compares:

1. **Points.** ``n`` = :data:`SAMPLE_POINTS` scrambled Halton points of the narrow space
   (:func:`tuning.plan.quasirandom.sample`, seed :data:`SAMPLE_SEED`) plus its corners
   (:func:`tuning.spec.search.corners`, which hold every coordinate's extremes). Each is resolved to
   the narrow optimizer's hyperparameters and schedule parameters (:meth:`SearchSpec.resolve`)
   and imitated as a trial of the wide optimizer (:func:`tuning.plan.probe_trials.express_imitation`: the
   wide hyperparameters, the named schedule times a constant, perhaps with ``lr_ramp``) over
   :data:`CHECK_STEPS` updates.
2. **Coordinates.** Each wide hyperparameter and schedule parameter is held by the wide
   search's coordinate that sets it (a range, points or a fixed value), else by the default
   (the optimizer's, or the schedule's optional default). The imitation's value is written in
   that coordinate (:func:`optcompare.coordinates.coordinate` ``.inverse``: ``one_minus_momentum
   = 1 - momentum``, ``learning_rate_over_epsilon = learning_rate / epsilon``) and tested:
   a range holds ``v`` when ``min <= v <= max`` (relative slack :data:`REL_SLACK`; a log range
   never holds ``v <= 0``), points or a fixed value when ``v`` equals one of them (same slack).
3. **Requirements.** A coordinate is a *requirement*, not a share, when the imitation needs a
   value the coordinate cannot hold whatever the narrow point: its image is one constant that
   the holder does not hold (``one_minus_rho = 0`` on a log range, ``one_minus_beta2 = 1``
   against a cap of 0.1, momentum 0 against a fixed 0.9), or the holder is fixed or a default
   and the image varies (an ``lr_ramp`` that no space tunes). So is an imitation that does not
   exist at any point (momentum <= rmsprop needs a constant rate; the schedule decays).
4. **Coverage.** The share of the ``n`` Halton points (corners excluded) whose imitation exists
   and is held on every coordinate; per coordinate, the image's interval over all points
   against the holder; the first coordinate (hyperparameters in the optimizer's order, then
   schedule parameters) whose image leaves its holder, with the part outside.

Status: ``not expressible`` (a requirement; no coverage number), else ``covered`` (share 1),
``partly covered`` or ``not covered`` (share 0).

Limit inclusions (``epsilon -> infinity``, momentum <= adam) are evaluated at the largest
epsilon the wide search allows (its ``epsilon`` range's top, its fixed value, else its
default): that is the closest the space gets to the limit. The result quotes the trajectory gap
this epsilon leaves, from the gaps the inclusion records (:func:`optimizers.limit_gap`: about
3.9e-4 at epsilon 1e2 on the check problem, falling as 1 / epsilon).

A protocol may say it is narrow by design (``narrow_by_design: true``: lr-only, wilson2017,
deepobs2019, playbook-adam); its pairs are classified the same way, and :func:`run_warnings`
skips them: not covering is their point.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import optimizers
from optcompare.coordinates import coordinate
from optcompare.errors import InputError
from optcompare.space import HOLD_SLACK, holds
from tuning.plan.probe_trials import PROBE_EPSILON, express_imitation
from tuning.plan.quasirandom import sample
from tuning.spec.probe_pairs import inclusion_pairs
from tuning.spec.protocol import Protocol
from tuning.spec.search import SearchSpec, corners

if TYPE_CHECKING:
    from tuning.spec.config import ExperimentConfig

__all__ = [
    "CHECK_STEPS",
    "REL_SLACK",
    "SAMPLE_POINTS",
    "SAMPLE_SEED",
    "CoordinateImage",
    "Holder",
    "PairCoverage",
    "Requirement",
    "check_pair",
    "check_space_inclusion",
    "config_space_inclusion",
    "covering_ranges",
    "holders",
    "largest_epsilon",
    "run_warnings",
    "value_in_coordinate",
]

SAMPLE_POINTS = 128
"""Halton points of the narrow space behind a coverage share (its resolution: 1/128)."""
SAMPLE_SEED = 0
"""The Halton seed of those points: the check is deterministic."""
CHECK_STEPS = 50
"""Updates over which an imitation's schedule is matched to a named one (the schedules'
factors are fractions of the run, so the match does not depend on this number)."""
REL_SLACK = HOLD_SLACK
"""Relative slack of "holds" (:func:`optcompare.space.holds`): the imitation's arithmetic
(1 - (1 - x)) rounds."""

IMITATION = "imitation"
"""A requirement's coordinate when the imitation itself does not exist."""

Status = Literal["covered", "partly covered", "not covered", "not expressible"]


@dataclass(frozen=True)
class CoordinateImage:
    """One coordinate of the wide search: what holds it, and the narrow space's image in it."""

    coordinate: str
    """The wide search's coordinate (``learning_rate``, ``one_minus_momentum``, ``lr_ramp``)."""
    holder: str
    """What the wide search can hold there: ``log [0.0001, 1]``, ``points [...]``, ``fixed 0.9``
    or ``default 0``."""
    low: float
    high: float
    """The image's interval over the checked points where the imitation exists."""
    inside: float
    """The share of the Halton points whose image this coordinate holds."""
    range: tuple[float, float] | None = None
    """The wide range's (min, max) when a range holds the coordinate."""

    @property
    def constant(self) -> bool:
        return math.isclose(self.low, self.high, rel_tol=REL_SLACK, abs_tol=1e-300)

    def image(self) -> str:
        return f"{self.low:.4g}" if self.constant else f"[{self.low:.4g}, {self.high:.4g}]"


@dataclass(frozen=True)
class Requirement:
    """A value the imitation needs that the wide search cannot hold at any point."""

    coordinate: str
    """The coordinate (or ``imitation`` when the imitation itself does not exist)."""
    needs: str
    """What is needed, e.g. ``one_minus_rho = 0 (rho = 1)``."""
    why: str
    """Why the wide search cannot hold it, e.g. ``its range is log [0.0001, 1]``."""

    def sentence(self) -> str:
        if self.coordinate == IMITATION:
            return f"no imitation at any point of the narrow space: {self.why}"
        return f"needs {self.needs}; {self.why}"


@dataclass(frozen=True)
class PairCoverage:
    """How much of ``narrow``'s space ``wide``'s space expresses under ``protocol``."""

    protocol: str
    narrow: str
    wide: str
    exact: bool
    status: Status
    coverage: float | None
    """Share of the narrow space's Halton points whose imitation the wide space holds; None
    when not expressible."""
    coordinates: tuple[CoordinateImage, ...]
    requirements: tuple[Requirement, ...]
    first_outside: str | None
    """The first coordinate whose image leaves the wide search's range."""
    outside: str = ""
    """Its part outside, e.g. ``(1, 10]``."""
    at: tuple[tuple[str, float], ...] = ()
    """The hyperparameters the imitation pins (searched by the wide search, constant in the
    image), e.g. ``(("momentum", 0.0),)``."""
    epsilon: float | None = None
    """The epsilon of a limit inclusion's imitation (the largest the wide search allows)."""
    gap: float | None = None
    """The trajectory gap that epsilon leaves (:func:`optimizers.limit_gap`)."""
    narrow_by_design: bool = False
    missing_points: int = 0
    """Halton points with no imitation (e.g. a decaying rate where a constant one is needed)."""
    notes: tuple[str, ...] = field(default=())

    def message(self) -> str:
        """One line: ``PROTOCOL: WIDE cannot express NARROW's X in (a, b] at H = v (...)``."""
        head = f"{self.protocol}: {self.wide}"
        limit = (
            f" (limit inclusion at epsilon = {self.epsilon:g}, the largest the space allows: trajectory gap ~{self.gap:.1g}"
            + ("; at this epsilon the imitation does not follow the narrow trajectory" if self.gap >= 1.0 else "")
            + ")"
            if self.epsilon is not None and self.gap is not None else ""
        )
        if self.status == "not expressible":
            return f"{head} cannot imitate {self.narrow}: " + "; ".join(r.sentence() for r in self.requirements)
        if self.status == "covered":
            return f"{head} expresses all of {self.narrow}'s space{limit}"
        at = f" at {', '.join(f'{k} = {v:g}' for k, v in self.at)}" if self.at else ""
        share = f"{self.coverage:.0%}" if self.coverage is not None else "?"
        if self.first_outside is None:  # every image held: some points have no imitation
            why = self.notes[0] if self.notes else "some points have no imitation"
            return f"{head} covers {share} of {self.narrow}'s space: {why}{limit}"
        return (
            f"{head} cannot express {self.narrow}'s {self.first_outside} in {self.outside}{at} "
            f"(covers {share} of {self.narrow}'s space){limit}"
        )

    def record(self) -> dict[str, Any]:
        """JSON-ready (experiment.json ``space_inclusion``), with :meth:`message`; a NaN or
        infinite number (an image no point reached) is null."""
        return _finite_json({**asdict(self), "message": self.message()})


class _PairFields(TypedDict):
    """The fields of a :class:`PairCoverage` that :func:`check_pair` knows before the outcome."""

    protocol: str
    narrow: str
    wide: str
    exact: bool
    epsilon: float | None
    gap: float | None
    narrow_by_design: bool
    missing_points: int


def _finite_json(value: Any) -> Any:  # noqa: ANN401 - JSON data
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_json(v) for v in value]
    return value


# ------------------------------------------------------------------------------------------
# Holders: what the wide search can put in each coordinate
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Holder:
    """What a search can put in one coordinate: a range, points, a fixed value or the default."""

    coordinate: str
    kind: Literal["range", "points", "fixed", "default"]
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    values: tuple[float, ...] = ()

    def holds(self, value: float) -> bool:
        if self.kind == "range":
            return holds({"min": self.low, "max": self.high, "scaling": "log" if self.log else "linear"}, value)
        return holds({"feasible_points": self.values}, value)

    def phrase(self) -> str:
        if self.kind == "range":
            return f"{'log' if self.log else 'linear'} [{self.low:g}, {self.high:g}]"
        if self.kind == "points":
            return "points [" + ", ".join(f"{v:g}" for v in self.values) + "]"
        return f"{self.kind} {self.values[0]:g}"

    def outside(self, low: float, high: float) -> str:
        """The part of [low, high] this range does not hold, e.g. ``(1, 10]``."""
        parts = []
        if self.kind != "range":
            return f"[{low:.4g}, {high:.4g}]"
        if low < self.low and not self.holds(low):
            parts.append(f"[{low:.4g}, {self.low:g})")
        if high > self.high and not self.holds(high):
            parts.append(f"({self.high:g}, {high:.4g}]")
        return " and ".join(parts) or f"[{low:.4g}, {high:.4g}]"


def holders(search: SearchSpec) -> list[tuple[str, str | None, Holder]]:
    """(hyperparameter or schedule parameter, its coordinate in ``search`` or None, holder), in
    the optimizer's hyperparameter order, then the schedule's parameters."""
    spec = optimizers.get_spec(search.optimizer)
    schedule = optimizers.SCHEDULES[search.schedule]
    by_target = {coordinate(c).target: c for c in (*search.fixed, *search.space) if c not in search.schedule_params}
    out: list[tuple[str, str | None, Holder]] = []
    defaults = {**spec.defaults, **{k: d for k, (_, _, d) in schedule.optional.items()}}
    for target in (*spec.defaults, *schedule.all_params):
        name = target if target in search.schedule_params else by_target.get(target)
        if name is not None and name in search.space:
            dim = search.space[name]
            if "feasible_points" in dim:
                holder = Holder(name, "points", values=tuple(float(p) for p in dim["feasible_points"]))
            else:
                holder = Holder(name, "range", float(dim["min"]), float(dim["max"]), dim["scaling"] == "log")
        elif name is not None and name in search.fixed:
            holder = Holder(name, "fixed", values=(float(search.fixed[name]),))
        else:
            holder = Holder(target, "default", values=(float(defaults[target]),))
            name = None
        out.append((target, name, holder))
    return out


def value_in_coordinate(target: str, name: str | None, hparams: Mapping[str, float], schedule: Mapping[str, Any],
                        schedule_params: Sequence[str], schedule_defaults: Mapping[str, float]) -> float:
    """The imitation's value of ``target`` written in coordinate ``name`` (None: itself)."""
    if target in schedule_params:
        return float(schedule.get(target, schedule_defaults.get(target, math.nan)))
    if name is None:
        return float(hparams[target])
    try:
        return float(coordinate(name).inverse(float(hparams[target]), hparams))
    except ZeroDivisionError:
        return math.nan


def largest_epsilon(search: SearchSpec) -> float:
    """The largest epsilon ``search`` can set (range top, fixed value, else the default)."""
    if "epsilon" in search.space:
        dim = search.space["epsilon"]
        return float(max(dim["feasible_points"]) if "feasible_points" in dim else dim["max"])
    if "epsilon" in search.fixed:
        return float(search.fixed["epsilon"])
    return float(optimizers.get_spec(search.optimizer).defaults.get("epsilon", PROBE_EPSILON))


def _why(holder: Holder, low: float, target: str, wide: str, protocol: str) -> str:
    """Why ``holder`` cannot hold what the imitation needs."""
    if holder.kind == "range" and holder.log and low <= 0:
        return f"a log range ({holder.phrase()}) cannot hold {low:g}"
    if holder.kind == "range":
        return f"its range is {holder.phrase()}"
    if holder.kind == "points":
        return f"its points are {holder.phrase().removeprefix('points ')}"
    if holder.kind == "fixed":
        return f"{wide} fixes {holder.coordinate} = {holder.values[0]:g} under {protocol}"
    return f"no space of {wide} under {protocol} tunes {target} (it stays at its default {holder.values[0]:g})"


def _needs(target: str, name: str | None, low: float, high: float) -> str:
    if not math.isclose(low, high, rel_tol=REL_SLACK, abs_tol=1e-300):
        return f"{name or target} in [{low:.4g}, {high:.4g}]"
    if name is not None and name.startswith("one_minus_"):
        return f"{name} = {low:.4g} ({target} = {1 - low:.4g})"
    return f"{name or target} = {low:.4g}"


# ------------------------------------------------------------------------------------------
# The check
# ------------------------------------------------------------------------------------------


def check_pair(
    protocol: Protocol, narrow: str, wide: str, *, trials: int | None = None,
    samples: int = SAMPLE_POINTS, seed: int = SAMPLE_SEED,
) -> PairCoverage:
    """How much of ``narrow``'s search space under ``protocol`` the ``wide`` search expresses
    (module docstring); ``trials`` applies the protocol's budget ladder (``from_trials``)."""
    narrow_search = protocol.for_optimizer(narrow)
    wide_search = protocol.for_optimizer(wide)
    if trials is not None:
        narrow_search, wide_search = narrow_search.for_budget(trials), wide_search.for_budget(trials)
    exact = all(inc.exact for inc in optimizers.inclusion_path(narrow, wide))
    epsilon = None if exact else largest_epsilon(wide_search)
    halton = sample(narrow_search.space, samples, seed) if narrow_search.space else [{}]
    points = [*halton, *(corners(narrow_search.space) if narrow_search.space else [])]
    wide_holders = holders(wide_search)
    schedule_spec = optimizers.SCHEDULES[wide_search.schedule]
    schedule_defaults = {k: d for k, (_, _, d) in schedule_spec.optional.items()}
    images: list[list[float] | None] = []
    failures: list[str] = []
    for point in points:
        hparams, schedule = narrow_search.resolve(point)
        try:
            expressed = express_imitation(
                narrow, wide, hparams, narrow_search.schedule, schedule, CHECK_STEPS,
                epsilon=epsilon if epsilon is not None else PROBE_EPSILON,
            )
        except InputError as err:
            images.append(None)
            failures.append(str(err))
            continue
        images.append([
            value_in_coordinate(t, n, expressed.hparams, expressed.schedule_params, wide_search.schedule_params, schedule_defaults)
            for t, n, _ in wide_holders
        ])
    n_halton = len(halton)
    missing = sum(image is None for image in images[:n_halton])
    gap = None if epsilon is None else optimizers.limit_gap(narrow, wide, epsilon)
    common: _PairFields = {
        "protocol": protocol.name, "narrow": narrow, "wide": wide, "exact": exact, "epsilon": epsilon,
        "gap": gap, "narrow_by_design": protocol.narrow_by_design, "missing_points": missing,
    }
    present = [image for image in images if image is not None]
    if not present:
        requirement = Requirement(IMITATION, "an imitation", f"{failures[0]} ({narrow}'s schedule: {narrow_search.schedule})")
        return PairCoverage(**common, status="not expressible", coverage=None, coordinates=(),
                            requirements=(requirement,), first_outside=None)
    coords: list[CoordinateImage] = []
    requirements: list[Requirement] = []
    first: tuple[str, str] | None = None
    at: list[tuple[str, float]] = []
    for j, (target, name, holder) in enumerate(wide_holders):
        column = [image[j] for image in present]
        finite = [v for v in column if math.isfinite(v)]
        low, high = (min(finite), max(finite)) if finite else (math.nan, math.nan)
        inside = sum(1 for image in images[:n_halton] if image is not None and holder.holds(image[j])) / n_halton
        bounds = (holder.low, holder.high) if holder.kind == "range" else None
        image = CoordinateImage(name or target, holder.phrase(), low, high, inside, bounds)
        all_held = all(holder.holds(v) for v in column)
        if holder.kind in ("range", "points"):
            coords.append(image)
        if all_held:
            if image.constant and holder.kind in ("range", "points"):
                label = target if name in (None, target) or name.startswith("one_minus_") else name
                at.append((label, _target_value(name or target, column[0])))
            continue
        if image.constant or holder.kind in ("fixed", "default"):
            why = _why(holder, low, target, wide, protocol.name)
            requirements.append(Requirement(name or target, _needs(target, name, low, high), why))
        elif first is None:
            first = (name or target, holder.outside(low, high))
    inside_all = sum(
        1 for image in images[:n_halton]
        if image is not None and all(h.holds(v) for (_, _, h), v in zip(wide_holders, image, strict=True))
    ) / n_halton
    notes = (f"{missing} of {n_halton} points have no imitation: {failures[0]}",) if missing else ()
    if requirements:
        return PairCoverage(**common, status="not expressible", coverage=None, coordinates=tuple(coords),
                            requirements=tuple(requirements), first_outside=None, notes=notes)
    status: Status = "covered" if inside_all == 1.0 else "not covered" if inside_all == 0.0 else "partly covered"
    return PairCoverage(
        **common, status=status, coverage=inside_all, coordinates=tuple(coords), requirements=(),
        first_outside=first[0] if first else None, outside=first[1] if first else "",
        at=tuple(at), notes=notes,
    )


def _target_value(name: str, value: float) -> float:
    """A ``one_minus_X`` coordinate's value as X's (``one_minus_momentum = 1`` -> momentum 0);
    any other coordinate's value as it is."""
    return 1.0 - value if name.startswith("one_minus_") else value


def check_space_inclusion(
    protocol: Protocol, optimizer_names: Iterable[str] | None = None, *, trials: int | None = None,
) -> list[PairCoverage]:
    """Every inclusion pair among ``optimizer_names`` (default: the protocol's own entries)
    checked under ``protocol`` (:func:`check_pair`), wide-major in the names' order."""
    names = list(optimizer_names) if optimizer_names is not None else list(protocol.searches)
    return [check_pair(protocol, p.narrow, p.wide, trials=trials) for p in inclusion_pairs(names)]


def config_space_inclusion(config: ExperimentConfig) -> list[PairCoverage]:
    """The check for every protocol of ``config`` over its optimizers, at its
    ``trials_per_search`` (the budget ladder applied)."""
    return [
        coverage
        for protocol in config.protocols
        for coverage in check_space_inclusion(
            protocol.bound(config.optimizers), config.optimizers, trials=config.trials_per_search
        )
    ]


def covering_ranges(coverages: Iterable[PairCoverage]) -> dict[str, dict[str, tuple[float, float]]]:
    """The covering rule (docs/method.md): for every pair that is partly or not covered and
    needs nothing a range cannot hold (no requirement), each of the wide search's ranges that
    the image leaves becomes the hull of itself and the image, ``[min(a, lo), max(b, hi)]``;
    wide optimizer -> coordinate -> the widened (min, max), hulls of several pairs merged.
    Empty when every such pair is covered (the rule's fixed point)."""
    widened: dict[str, dict[str, tuple[float, float]]] = {}
    for c in coverages:
        if c.status not in ("partly covered", "not covered") or c.requirements:
            continue
        for image in c.coordinates:
            if image.range is None or image.range[0] <= image.low and image.high <= image.range[1]:
                continue
            low, high = widened.get(c.wide, {}).get(image.coordinate, image.range)
            widened.setdefault(c.wide, {})[image.coordinate] = (min(low, image.low), max(high, image.high))
    return widened


def run_warnings(coverages: Iterable[PairCoverage]) -> list[str]:
    """One warning per pair a wide protocol does not cover (narrow-by-design ones: none)."""
    return [c.message() for c in coverages if c.status != "covered" and not c.narrow_by_design]
