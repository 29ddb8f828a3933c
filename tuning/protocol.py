"""Tuning protocols as data: what is tuned, over which space, and what stays fixed.

A protocol file (YAML) names a learning-rate schedule and, per optimizer, a value for each
hyperparameter in *tuned coordinates*: a number (fixed), ``{min, max, scaling}`` or
``{feasible_points}`` (searched). Tuned coordinates map to the optimizer's hyperparameters:

- ``one_minus_momentum``, ``one_minus_beta1``, ``one_minus_beta2``, ``one_minus_rho``:  x = 1 - value
- ``learning_rate_over_epsilon``:  learning_rate = value * epsilon  (the relative space of Choi et al.)
- any optimizer hyperparameter (``learning_rate``, ``epsilon``, ...) or schedule parameter by its name.

Hyperparameters a protocol does not mention keep the optimizer's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optimizers
from optcompare.errors import InputError

from .quasirandom import validate_space
from .yaml_io import read_yaml

__all__ = ["Protocol", "SearchSpec", "load_protocol", "protocol_path", "shipped_protocols"]

PROTOCOL_DIR = Path(__file__).parent / "protocols"
ONE_MINUS = {f"one_minus_{k}": k for k in ("momentum", "beta1", "beta2", "rho")}
RELATIVE_LR = "learning_rate_over_epsilon"
TOP_KEYS = {"name", "description", "schedule", "search", "select", "optimizers"}
SEARCH_KINDS = ("quasirandom",)
SELECT_METRICS = ("val_error", "train_loss")


@dataclass(frozen=True)
class SearchSpec:
    """One optimizer's part of a protocol, in tuned coordinates."""

    optimizer: str
    fixed: dict[str, float]
    space: dict[str, dict[str, Any]]
    schedule: str
    schedule_params: tuple[str, ...]

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


def _check_coordinate(source: str, optimizer: str, key: str, value: Any, schedule: str) -> None:  # noqa: ANN401
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
    try:
        validate_space({key: value}, where=f"optimizers.{optimizer}")
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


def parse_search(source: str, opt_name: str, coords: Any, schedule: str) -> SearchSpec:  # noqa: ANN401
    """Validate one optimizer's entry of a protocol; InputError names ``source`` and the field."""
    if not isinstance(coords, dict):
        raise InputError(f"{source}: optimizers.{opt_name}: expected a mapping, got {coords!r}")
    targets: dict[str, str] = {}
    for key, value in coords.items():
        _check_coordinate(source, opt_name, key, value, schedule)
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
    spec = SearchSpec(
        optimizer=opt_name,
        fixed={k: float(v) for k, v in coords.items() if _is_number(v)},
        space={k: v for k, v in coords.items() if isinstance(v, dict)},
        schedule=schedule,
        schedule_params=optimizers.SCHEDULES[schedule].all_params,
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
    return parse_search(f"default search space of {optimizer!r}", optimizer, coords, protocol.schedule)


def load_protocol(
    name_or_path: str, base_dir: Path | None = None, where: str = "protocol"
) -> Protocol:
    """Load and validate a protocol; InputError names the file, field path and what is allowed."""
    path = protocol_path(name_or_path, base_dir, where)
    source = str(path)
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise InputError(f"{source}: expected a mapping with keys {', '.join(sorted(TOP_KEYS))}")
    unknown = sorted(set(raw) - TOP_KEYS)
    if unknown:
        raise InputError(f"{source}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(TOP_KEYS))}")
    for key in ("name", "schedule", "optimizers"):
        if key not in raw:
            raise InputError(f"{source}: missing required key {key!r}")
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
        searches[opt_name] = parse_search(source, opt_name, coords, schedule)
    return Protocol(
        name=str(raw["name"]),
        description=str(raw.get("description", "")),
        schedule=schedule,
        search=search,
        select=select,
        searches=searches,
        source=source,
        raw=raw,
    )
