"""Tuning protocols as data: what is tuned, over which space, and what stays fixed.

A protocol file (YAML) names a learning-rate schedule and, per optimizer, a value for each
hyperparameter in *tuned coordinates*: a number (fixed), ``{min, max, scaling}`` or
``{feasible_points}`` (searched). Tuned coordinates map to the optimizer's hyperparameters:

- ``one_minus_momentum``, ``one_minus_beta1``, ``one_minus_beta2``, ``one_minus_rho``:  x = 1 - value
- ``learning_rate_over_epsilon``:  learning_rate = value * epsilon  (the relative space of Choi et al.)
- any optimizer hyperparameter (``learning_rate``, ``epsilon``, ...) or schedule parameter by its name.

Hyperparameters a protocol does not mention keep the optimizer's defaults.

Beyond the plain forms, a searched coordinate may carry:

- ``from_trials: N`` (quasi-random searches only): searched only when a search has at least N
  trials (the tuning playbook's budget ladder); below that it keeps the optimizer's default.
- ``num: K`` (grid searches only): a range becomes K grid points, evenly spaced in its scaling,
  ends included.

Top-level ``search: quasirandom`` (scrambled Halton, ``trials_per_search`` points) or
``search: grid`` (the Cartesian product of every coordinate's points, whatever
``trials_per_search`` says), and ``rerun_best: {seeds: N}``: once a search's trials have all
finished, its best trial by ``select`` is trained again with N new seeds (DeepOBS).

An optimizer the protocol does not list (e.g. one registered by a plugin) gets its registered
default search space, adapted to the protocol (see :func:`default_search`): schedule parameters
of other schedules are dropped, missing ones are taken from the protocol's own entries, and under
a grid search each plain range becomes grid points.
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
DIM_KEYS = ("min", "max", "scaling", "feasible_points", *EXTRA_DIM_KEYS)
SELECT_METRICS = ("val_error", "train_loss")
LR_KEYS = ("learning_rate", RELATIVE_LR)
GRID_POINTS_LR = 10
"""Grid points of a default space's learning-rate range under a grid protocol that has no
learning-rate grid of its own (otherwise the protocol's learning-rate grid size is used)."""
GRID_POINTS_OTHER = 3
"""Grid points of a default space's other ranges under a grid protocol (both ends and the middle
in its scaling): few, because every searched coordinate multiplies the grid's size."""


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
                    f"the protocol defines: {', '.join(self.searches)}; add an entry for "
                    f"{optimizer!r} under optimizers: in {self.source}"
                )
            self.searches[optimizer] = fallback
        return self.searches[optimizer]


def shipped_protocols() -> list[str]:
    """Names of the protocols that ship with optcompare."""
    return sorted(p.stem for p in PROTOCOL_DIR.glob("*.yaml"))


def protocol_path(name_or_path: str, base_dir: Path | None = None, where: str = "protocol") -> Path:
    """A shipped protocol by name, or a YAML file path (relative to ``base_dir``).

    ``where`` prefixes the error message (e.g. ``"CONFIG: protocols[1]"``)."""
    if isinstance(name_or_path, str) and "\0" not in name_or_path:
        if "/" not in name_or_path and (PROTOCOL_DIR / f"{name_or_path}.yaml").is_file():
            return PROTOCOL_DIR / f"{name_or_path}.yaml"
        candidate = Path(name_or_path)
        if not candidate.is_absolute() and base_dir is not None:
            candidate = base_dir / candidate
        if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
            return candidate
    raise InputError(
        f"{where}: unknown protocol {name_or_path!r}; valid choices: {', '.join(shipped_protocols())} "
        "or the path of a protocol YAML file"
    )


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _first_unknown(keys: Any, allowed: Any) -> object | None:  # noqa: ANN401
    """The first key (in a stable order, whatever the keys' types) not in ``allowed``."""
    unknown = sorted((k for k in keys if k not in allowed), key=repr)
    return unknown[0] if unknown else None


def _choice(source: str, key: str, value: object, choices: Any) -> str:  # noqa: ANN401
    """``value`` if it is one of the strings ``choices``, else InputError naming ``key``."""
    if not isinstance(value, str) or value not in choices:
        raise InputError(f"{source}: {key}: {value!r} is not one of {', '.join(choices)}")
    return value


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
    if from_trials is not None and search == "grid":
        raise InputError(
            f"{path}.from_trials: only a quasirandom search takes from_trials (a budget ladder); "
            "a grid search plans every grid point whatever trials_per_search says. Remove "
            "from_trials, or use search: quasirandom"
        )
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
        if not math.isfinite(value):
            raise InputError(f"{path}: expected a finite number, got {value!r}")
        return
    if not isinstance(value, dict):
        raise InputError(
            f"{path}: expected a number (fixed) or {{min, max, scaling}} or {{feasible_points}}, got {value!r}"
        )
    unknown = _first_unknown(value, DIM_KEYS)
    if unknown is not None:
        raise InputError(f"{path}: unknown key {unknown!r}; allowed: {', '.join(DIM_KEYS)}")
    if isinstance(value.get("feasible_points"), list):
        bad = [v for v in value["feasible_points"] if not _is_number(v) or not math.isfinite(v)]
        if bad:
            raise InputError(f"{path}.feasible_points: {bad[0]!r} is not a finite number")
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


def _check_relative_lr(source: str, search: SearchSpec, corner: dict[str, float]) -> None:
    """With ``learning_rate_over_epsilon``, blame that field or ``epsilon`` (what the user wrote),
    not the learning rate derived from them."""
    coords = {**search.fixed, **corner}
    if RELATIVE_LR not in coords:
        return
    path = f"{source}: optimizers.{search.optimizer}"
    ratio = float(coords[RELATIVE_LR])
    if not (ratio > 0 and math.isfinite(ratio)):
        raise InputError(
            f"{path}.{RELATIVE_LR}: expected a finite number > 0 (learning_rate = {RELATIVE_LR} "
            f"* epsilon), got {ratio!r}"
        )
    hparams, _ = search.resolve(corner)
    epsilon = hparams["epsilon"]
    if not (epsilon > 0 and math.isfinite(epsilon)):
        origin = "" if "epsilon" in coords else " (the optimizer's default)"
        raise InputError(
            f"{path}.epsilon: {RELATIVE_LR} needs epsilon > 0 (learning_rate = {RELATIVE_LR} "
            f"* epsilon), got epsilon={epsilon!r}{origin}"
        )


def _check_fixed_values(source: str, search: SearchSpec) -> None:
    """Fixed values and the extremes of every range must map to valid optimizer values."""
    opt = search.optimizer
    for corner in _corners(search.space) if search.space else [{}]:
        tuned = {k: v for k, v in corner.items() if k in ONE_MINUS or k == RELATIVE_LR}
        hint = f" (reached at {tuned})" if tuned else ""
        _check_relative_lr(source, search, corner)
        try:
            hparams, schedule = search.resolve(corner)
            optimizers.validate_hparams(opt, hparams)
            optimizers.make_schedule(search.schedule, 1.0, 1, **schedule)
        except ValueError as err:
            message = str(err).removeprefix(f"{opt}: ")  # the path below names the optimizer
            if RELATIVE_LR in {**search.fixed, **corner} and message.startswith("learning_rate="):
                message += f" (learning_rate = {RELATIVE_LR} * epsilon)"
            raise InputError(f"{source}: optimizers.{opt}: {message}{hint}") from None


def parse_search(
    source: str, opt_name: str, coords: Any, schedule: str, search: str = "quasirandom"  # noqa: ANN401
) -> SearchSpec:
    """Validate one optimizer's entry of a protocol; InputError names ``source`` and the field."""
    if not isinstance(coords, dict):
        raise InputError(
            f"{source}: optimizers.{opt_name}: expected a mapping hyperparameter -> value or range, "
            f"got {coords!r}"
        )
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


def _protocol_lr_grid_size(protocol: Protocol) -> int | None:
    """Points of the learning-rate grid of the protocol's first entry that has one."""
    for opt in protocol.raw.get("optimizers", {}):
        search = protocol.searches.get(opt)
        for key in LR_KEYS:
            if search is not None and key in search.space and "feasible_points" in search.space[key]:
                return len(search.space[key]["feasible_points"])
    return None


def default_search(protocol: Protocol, optimizer: str) -> SearchSpec | None:
    """The optimizer's registered default search space adapted to ``protocol``, if it has one.

    - Schedule parameters of other schedules are dropped.
    - Parameters the protocol's schedule needs and the default space lacks are taken from the
      protocol's first optimizer entry that sets them (as written there: fixed, range or grid).
    - Under a grid protocol, a plain ``{min, max, scaling}`` range becomes ``num`` grid points
      evenly spaced in its scaling: for the learning rate (``learning_rate`` or
      ``learning_rate_over_epsilon``) as many as the protocol's own learning-rate grid has
      (:data:`GRID_POINTS_LR` if it has none), for any other coordinate
      :data:`GRID_POINTS_OTHER`.

    If the result is still not a valid search under the protocol, the InputError says to add
    the optimizer to the protocol file."""
    space = optimizers.get_spec(optimizer).search_space
    if space is None:
        return None
    other = {p for spec in optimizers.SCHEDULES.values() for p in spec.all_params}
    mine = optimizers.SCHEDULES[protocol.schedule].all_params
    coords: dict[str, Any] = {k: v for k, v in space.items() if k not in other or k in mine}
    entries = protocol.raw.get("optimizers", {})
    for param in mine:
        if param not in coords:
            given = [e[param] for e in entries.values() if isinstance(e, dict) and param in e]
            if given:
                coords[param] = given[0]
    if protocol.search == "grid":
        lr_points = _protocol_lr_grid_size(protocol) or GRID_POINTS_LR
        for key, value in list(coords.items()):
            if isinstance(value, dict) and "feasible_points" not in value and "num" not in value:
                coords[key] = {**value, "num": lr_points if key in LR_KEYS else GRID_POINTS_OTHER}
    try:
        return parse_search(
            f"default search space of {optimizer!r}", optimizer, coords, protocol.schedule, protocol.search
        )
    except InputError as err:
        raise InputError(
            f"{protocol.source}: protocol {protocol.name!r} has no entry for optimizer {optimizer!r} "
            f"and its registered default search space does not fit this protocol ({err}); add an "
            f"entry for {optimizer!r} under optimizers: in {protocol.source}"
        ) from None


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
    unknown = _first_unknown(raw, TOP_KEYS)
    if unknown is not None:
        raise InputError(f"{source}: unknown key {unknown!r}; allowed: {', '.join(sorted(TOP_KEYS))}")
    for key in ("name", "schedule", "optimizers"):
        if key not in raw:
            raise InputError(f"{source}: missing required key {key!r}")
    try:
        optimizers.registry.check_name("protocol", raw["name"])
    except ValueError as err:
        raise InputError(f"{source}: name: {err}") from None
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise InputError(f"{source}: description: expected a string (quote it), got {description!r}")
    schedule = _choice(source, "schedule", raw["schedule"], tuple(optimizers.SCHEDULES))
    search = _choice(source, "search", raw.get("search", "quasirandom"), SEARCH_KINDS)
    select = _choice(source, "select", raw.get("select", "val_error"), SELECT_METRICS)
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
        name=raw["name"],
        description=description,
        schedule=schedule,
        search=search,
        select=select,
        searches=searches,
        source=source,
        raw=raw,
        rerun_seeds=rerun_seeds,
    )
