"""Tuning protocols as data: what is tuned, over which space, and what stays fixed.

A protocol file (YAML) names a learning-rate schedule and, per optimizer, a value for each
hyperparameter in *tuned coordinates*: a number (fixed), ``{min, max, scaling}`` or
``{feasible_points}`` (searched). Tuned coordinates map to the optimizer's hyperparameters:

- ``one_minus_momentum``, ``one_minus_beta1``, ``one_minus_beta2``, ``one_minus_rho``:  x = 1 - value
- ``learning_rate_over_epsilon``:  learning_rate = value * epsilon  (the relative space of Choi et al.)
- any optimizer hyperparameter (``learning_rate``, ``epsilon``, ...) or schedule parameter by its name.

Hyperparameters a protocol does not mention keep the optimizer's defaults.

Beyond the plain forms, a searched coordinate may carry:

- ``from_trials: N``: searched only when a search has at least N trials (the tuning playbook's
  budget ladder); below that it keeps the optimizer's default.
- ``num: K`` (grid searches only): a range becomes K grid points, evenly spaced in its scaling,
  ends included.

Top-level ``search: quasirandom`` (scrambled Halton, ``trials_per_search`` points) or
``search: grid`` (the Cartesian product of every coordinate's points, whatever
``trials_per_search`` says), and ``rerun_best: {seeds: N}``: once a search's trials have all
finished, its best trial by ``select`` is trained again with N new seeds (DeepOBS).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import optimizers
from optcompare.errors import InputError

from .quasirandom import validate_space
from .yaml_io import read_yaml

__all__ = [
    "Protocol",
    "SearchSpec",
    "load_protocol",
    "parse_protocol",
    "protocol_path",
    "shipped_protocols",
]

PROTOCOL_DIR = Path(__file__).parent / "protocols"
ONE_MINUS = {f"one_minus_{k}": k for k in ("momentum", "beta1", "beta2", "rho")}
RELATIVE_LR = "learning_rate_over_epsilon"
TOP_KEYS = {"name", "description", "schedule", "search", "select", "optimizers", "rerun_best"}
SEARCH_KINDS = ("quasirandom", "grid")
EXTRA_DIM_KEYS = ("from_trials", "num")
SELECT_METRICS = ("val_error", "train_loss")


@dataclass(frozen=True)
class SearchSpec:
    """One optimizer's part of a protocol, in tuned coordinates."""

    optimizer: str
    fixed: dict[str, float]
    space: dict[str, dict[str, Any]]
    """Searched coordinates: ``{min, max, scaling}`` or ``{feasible_points}`` (grid: points only)."""
    schedule: str
    schedule_params: tuple[str, ...]
    search: str = "quasirandom"
    ladder: dict[str, int] = field(default_factory=dict)
    """Coordinate -> smallest number of trials at which it is searched (``from_trials``)."""

    def for_budget(self, trials: int) -> SearchSpec:
        """This search with the ladder applied: coordinates whose ``from_trials`` exceeds
        ``trials`` are dropped (they keep the optimizer's defaults)."""
        space = {k: v for k, v in self.space.items() if self.ladder.get(k, 0) <= trials}
        return replace(self, space=space) if len(space) != len(self.space) else self

    def grid(self) -> list[dict[str, Any]]:
        """All grid points, coordinates in sorted name order, last coordinate fastest."""
        names = sorted(self.space)
        values = [self.space[n]["feasible_points"] for n in names]
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]

    def resolve(self, point: dict[str, Any]) -> tuple[dict[str, float], dict[str, float]]:
        """Map one search point (tuned coordinates) to (optimizer hparams, schedule params).

        Defaults of the optimizer fill in hyperparameters the protocol does not mention.
        """
        coords = {**self.fixed, **point}
        hparams: dict[str, float] = {}
        schedule: dict[str, float] = {}
        for key, value in coords.items():
            if key in self.schedule_params:
                schedule[key] = float(value)
            elif key in ONE_MINUS:
                hparams[ONE_MINUS[key]] = 1.0 - float(value)
            elif key != RELATIVE_LR:
                hparams[key] = float(value)
        defaults = optimizers.get_spec(self.optimizer).defaults
        hparams = {**defaults, **hparams}
        if RELATIVE_LR in coords:
            hparams["learning_rate"] = float(coords[RELATIVE_LR]) * hparams["epsilon"]
        return hparams, schedule


@dataclass(frozen=True)
class Protocol:
    """A loaded, validated protocol file."""

    name: str
    description: str
    schedule: str
    search: str
    select: str
    searches: dict[str, SearchSpec]
    source: str
    raw: dict[str, Any]
    rerun_seeds: int = 0
    """``rerun_best.seeds``: reruns of each search's best trial (0: none)."""

    def for_optimizer(self, optimizer: str) -> SearchSpec:
        """This protocol's search for ``optimizer``, else the optimizer's registered default
        search space (under this protocol's schedule)."""
        if optimizer not in self.searches:
            fallback = default_search(self, optimizer) if optimizer in optimizers.names() else None
            if fallback is None:
                raise InputError(
                    f"{self.source}: protocol {self.name!r} has no search space for optimizer "
                    f"{optimizer!r} and the optimizer registers no default search space; "
                    f"the protocol defines: {', '.join(self.searches)}"
                )
            self.searches[optimizer] = fallback
        return self.searches[optimizer]


def shipped_protocols() -> list[str]:
    """Names of the protocols that ship with optcompare."""
    return sorted(p.stem for p in PROTOCOL_DIR.glob("*.yaml"))


def protocol_path(name_or_path: str, base_dir: Path | None = None, where: str = "protocol") -> Path:
    """A shipped protocol by name, or a YAML file path (relative to ``base_dir``).

    ``where`` prefixes the error message (e.g. ``"CONFIG: protocols[1]"``)."""
    if (PROTOCOL_DIR / f"{name_or_path}.yaml").exists():
        return PROTOCOL_DIR / f"{name_or_path}.yaml"
    candidate = Path(name_or_path)
    if not candidate.is_absolute() and base_dir is not None:
        candidate = base_dir / candidate
    if candidate.suffix in (".yaml", ".yml") and candidate.exists():
        return candidate
    raise InputError(
        f"{where}: unknown protocol {name_or_path!r}; valid choices: {', '.join(shipped_protocols())} "
        "or the path of a protocol YAML file"
    )


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _grid_points(dim: dict[str, Any]) -> list[float]:
    """``num`` points of a range, evenly spaced in its scaling, ends included."""
    low, high, num = float(dim["min"]), float(dim["max"]), int(dim["num"])
    if num == 1:
        return [low]
    if dim["scaling"] == "log":
        step = (math.log(high) - math.log(low)) / (num - 1)
        points = [math.exp(math.log(low) + i * step) for i in range(num)]
    else:
        points = [low + i * (high - low) / (num - 1) for i in range(num)]
    points[0], points[-1] = low, high
    return points


def _split_dimension(
    source: str, optimizer: str, key: str, value: dict[str, Any], search: str
) -> tuple[dict[str, Any], int | None]:
    """(plain dimension for validate_space, from_trials) of one searched coordinate."""
    path = f"{source}: optimizers.{optimizer}.{key}"
    plain = {k: v for k, v in value.items() if k not in EXTRA_DIM_KEYS}
    from_trials = value.get("from_trials")
    if from_trials is not None and (
        isinstance(from_trials, bool) or not isinstance(from_trials, int) or from_trials < 1
    ):
        raise InputError(f"{path}.from_trials: expected an integer >= 1, got {from_trials!r}")
    if "num" in value:
        num = value["num"]
        if search != "grid":
            raise InputError(f"{path}.num: only a grid search takes num; this protocol's search is {search!r}")
        if "feasible_points" in value:
            raise InputError(f"{path}: give either num with min/max/scaling or feasible_points, not both")
        if isinstance(num, bool) or not isinstance(num, int) or num < 1:
            raise InputError(f"{path}.num: expected an integer >= 1, got {num!r}")
    elif search == "grid" and "feasible_points" not in value:
        raise InputError(
            f"{path}: a grid search needs feasible_points or a range with num (grid points), got {value!r}"
        )
    return plain, from_trials


def _check_coordinate(source: str, optimizer: str, key: str, value: Any, schedule: str, search: str = "quasirandom") -> None:  # noqa: ANN401
    spec = optimizers.get_spec(optimizer)
    schedule_params = optimizers.SCHEDULES[schedule].all_params
    target = ONE_MINUS.get(key, key)
    path = f"{source}: optimizers.{optimizer}.{key}"
    if key == RELATIVE_LR:
        if "epsilon" not in spec.defaults:
            raise InputError(f"{path}: {optimizer} has no epsilon, so {RELATIVE_LR} is undefined")
    elif target not in spec.defaults and key not in schedule_params:
        allowed = sorted(
            {*spec.hparam_names, *(k for k, v in ONE_MINUS.items() if v in spec.defaults)}
            | set(schedule_params)
            | ({RELATIVE_LR} if "epsilon" in spec.defaults else set())
        )
        raise InputError(f"{path}: not a hyperparameter of {optimizer}; allowed: {', '.join(allowed)}")
    if _is_number(value):
        return
    if isinstance(value, dict) and isinstance(value.get("feasible_points"), list):
        bad = [v for v in value["feasible_points"] if not _is_number(v)]
        if bad:
            raise InputError(f"{path}.feasible_points: {bad[0]!r} is not a number")
    if not isinstance(value, dict):
        raise InputError(f"{path}: expected a number (fixed) or {{min, max, scaling}}, got {value!r}")
    plain, _ = _split_dimension(source, optimizer, key, value, search)
    try:
        validate_space({key: plain}, where=f"optimizers.{optimizer}")
    except ValueError as err:
        raise InputError(f"{source}: {err}") from None


def _corners(space: dict[str, dict[str, Any]]) -> list[dict[str, float]]:
    """Points where every resolved hyperparameter takes its extreme values.

    Each mapping from tuned coordinates is monotone in each coordinate and depends on at most two
    of them (``learning_rate_over_epsilon`` and ``epsilon``), so it suffices to take, for every
    pair of coordinates, the four combinations of their ends, with the others all at their low
    or all at their high end.
    """
    ends = {}
    for key, dim in space.items():
        values = dim["feasible_points"] if "feasible_points" in dim else [dim["min"], dim["max"]]
        ends[key] = (min(values), max(values))
    keys = list(ends)
    corners: list[dict[str, float]] = []
    for side in (0, 1):
        base = {k: ends[k][side] for k in keys}
        corners.append(base)
        for i, a in enumerate(keys):
            for b in keys[i:]:
                for ea in ends[a]:
                    for eb in ends[b]:
                        corners.append({**base, a: ea, b: eb} if a != b else {**base, a: ea})
    return corners


def _check_fixed_values(source: str, search: SearchSpec) -> None:
    """Fixed values and the extremes of every range must map to valid optimizer values."""
    for corner in _corners(search.space) if search.space else [{}]:
        try:
            hparams, schedule = search.resolve(corner)
            optimizers.validate_hparams(search.optimizer, hparams)
            optimizers.make_schedule(search.schedule, 1.0, 1, **schedule)
        except ValueError as err:
            tuned = {k: v for k, v in corner.items() if k in ONE_MINUS or k == RELATIVE_LR}
            hint = f" (reached at {tuned})" if tuned else ""
            raise InputError(f"{source}: optimizers.{search.optimizer}: {err}{hint}") from None


def parse_search(
    source: str, opt_name: str, coords: Any, schedule: str, search: str = "quasirandom"  # noqa: ANN401
) -> SearchSpec:
    """Validate one optimizer's entry of a protocol; InputError names ``source`` and the field."""
    if not isinstance(coords, dict):
        raise InputError(f"{source}: optimizers.{opt_name}: expected a mapping, got {coords!r}")
    targets: dict[str, str] = {}
    for key, value in coords.items():
        _check_coordinate(source, opt_name, key, value, schedule, search)
        target = "learning_rate" if key == RELATIVE_LR else ONE_MINUS.get(key, key)
        if target in targets:
            raise InputError(
                f"{source}: optimizers.{opt_name}: {key!r} and {targets[target]!r} both set "
                f"{target}; keep one"
            )
        targets[target] = key
    missing = [p for p in optimizers.SCHEDULES[schedule].hparams if p not in coords]
    if missing:
        raise InputError(
            f"{source}: optimizers.{opt_name}: schedule {schedule!r} needs {', '.join(missing)}"
        )
    space: dict[str, dict[str, Any]] = {}
    ladder: dict[str, int] = {}
    for key, value in coords.items():
        if not isinstance(value, dict):
            continue
        plain, from_trials = _split_dimension(source, opt_name, key, value, search)
        if "num" in value:
            plain = {"feasible_points": _grid_points({**plain, "num": value["num"]})}
        space[key] = plain
        if from_trials is not None:
            ladder[key] = from_trials
    spec = SearchSpec(
        optimizer=opt_name,
        fixed={k: float(v) for k, v in coords.items() if _is_number(v)},
        space=space,
        schedule=schedule,
        schedule_params=optimizers.SCHEDULES[schedule].all_params,
        search=search,
        ladder=ladder,
    )
    _check_fixed_values(source, spec)
    return spec


def default_search(protocol: Protocol, optimizer: str) -> SearchSpec | None:
    """The optimizer's registered default search space under ``protocol``'s schedule, if any.

    Schedule parameters of other schedules are dropped from the default space; parameters the
    protocol's schedule needs must be in it."""
    space = optimizers.get_spec(optimizer).search_space
    if space is None:
        return None
    other = {p for spec in optimizers.SCHEDULES.values() for p in spec.all_params}
    mine = set(optimizers.SCHEDULES[protocol.schedule].all_params)
    coords = {k: v for k, v in space.items() if k not in other or k in mine}
    return parse_search(
        f"default search space of {optimizer!r}", optimizer, coords, protocol.schedule, protocol.search
    )


def load_protocol(
    name_or_path: str, base_dir: Path | None = None, where: str = "protocol"
) -> Protocol:
    """Load and validate a protocol; InputError names the file, field path and what is allowed."""
    path = protocol_path(name_or_path, base_dir, where)
    return parse_protocol(read_yaml(path), str(path))


def parse_protocol(raw: Any, source: str) -> Protocol:  # noqa: ANN401
    """Validate a protocol already read (from a file, or from experiment.json on resume)."""
    if not isinstance(raw, dict):
        raise InputError(f"{source}: expected a mapping with keys {', '.join(sorted(TOP_KEYS))}")
    unknown = sorted(set(raw) - TOP_KEYS)
    if unknown:
        raise InputError(f"{source}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(TOP_KEYS))}")
    for key in ("name", "schedule", "optimizers"):
        if key not in raw:
            raise InputError(f"{source}: missing required key {key!r}")
    try:
        optimizers.registry.check_name("protocol", raw["name"])
    except ValueError as err:
        raise InputError(f"{source}: name: {err}") from None
    schedule = raw["schedule"]
    if schedule not in optimizers.SCHEDULES:
        raise InputError(
            f"{source}: schedule: {schedule!r} is not one of {', '.join(optimizers.SCHEDULES)}"
        )
    search = raw.get("search", "quasirandom")
    if search not in SEARCH_KINDS:
        raise InputError(f"{source}: search: {search!r} is not one of {', '.join(SEARCH_KINDS)}")
    select = raw.get("select", "val_error")
    if select not in SELECT_METRICS:
        raise InputError(f"{source}: select: {select!r} is not one of {', '.join(SELECT_METRICS)}")
    if not isinstance(raw["optimizers"], dict) or not raw["optimizers"]:
        raise InputError(f"{source}: optimizers: expected a mapping optimizer -> hyperparameters")
    searches: dict[str, SearchSpec] = {}
    for opt_name, coords in raw["optimizers"].items():
        if opt_name not in optimizers.names():
            raise InputError(
                f"{source}: optimizers.{opt_name}: unknown optimizer; valid choices: "
                f"{', '.join(optimizers.names())}"
            )
        searches[opt_name] = parse_search(source, opt_name, coords, schedule, search)
    rerun = raw.get("rerun_best")
    rerun_seeds = 0
    if rerun is not None:
        seeds = rerun.get("seeds") if isinstance(rerun, dict) else None
        if (
            not isinstance(rerun, dict)
            or set(rerun) != {"seeds"}
            or isinstance(seeds, bool)
            or not isinstance(seeds, int)
            or seeds < 1
        ):
            raise InputError(f"{source}: rerun_best: expected {{seeds: N}} with N >= 1, got {rerun!r}")
        rerun_seeds = seeds
    return Protocol(
        name=str(raw["name"]),
        description=str(raw.get("description", "")),
        schedule=schedule,
        search=search,
        select=select,
        searches=searches,
        source=source,
        raw=raw,
        rerun_seeds=rerun_seeds,
    )
