"""The optimizer registry: names, hyperparameters, valid ranges and ``create``.

``create(name, params, **hparams)`` is how every other package builds an optimizer (the
optimizer contract of docs/architecture.md). Hyperparameters use the
project-wide names (``learning_rate momentum rho epsilon beta1 beta2 weight_decay``); inside the
torch optimizer they map to torch's param-group keys (``lr``, ``eps``, ...).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from optcompare.errors import InputError
from optcompare.intervals import Interval

from .schedules import is_real
from .structure import UpdateStructure, root_epsilon_problem

__all__ = [
    "HPARAM_RANGES",
    "Interval",
    "OptimizerSpec",
    "create",
    "get_spec",
    "names",
    "register",
    "check_schedule",
    "validate_hparams",
]


HPARAM_RANGES: dict[str, Interval] = {
    "learning_rate": Interval(0.0, math.inf, low_closed=False, high_closed=False),
    "momentum": Interval(0.0, 1.0, high_closed=False),
    "beta1": Interval(0.0, 1.0, high_closed=False),
    "beta2": Interval(0.0, 1.0, high_closed=False),
    # rho = 1 is allowed: it freezes v at v0 = 1 and realises MOMENTUM inside RMSPROP.
    "rho": Interval(0.0, 1.0),
    "epsilon": Interval(0.0, math.inf, high_closed=False),
    "weight_decay": Interval(0.0, math.inf, high_closed=False),
    "decoupled_weight_decay": Interval(0.0, math.inf, high_closed=False),
}
"""Valid values of every project-wide hyperparameter name."""

TORCH_KEYS: dict[str, str] = {"learning_rate": "lr", "epsilon": "eps"}
"""Project hyperparameter name -> torch param-group key, where they differ."""


@dataclass(frozen=True)
class OptimizerSpec:
    """A registered optimizer: how to build it and which hyperparameters it takes."""

    name: str
    factory: Callable[..., torch.optim.Optimizer]
    """Called as ``factory(params, **torch_kwargs)`` with torch param-group keys."""
    defaults: dict[str, float]
    """Every hyperparameter the optimizer accepts, with its default (project names)."""
    description: str = ""
    ranges: dict[str, Interval] = field(default_factory=dict)
    """Valid values; names missing here fall back to :data:`HPARAM_RANGES`."""
    search_space: dict[str, Any] | None = None
    """Default search space in protocol form (tuned coordinates, schedule parameters), used by a
    protocol that does not mention this optimizer."""
    torch_keys: dict[str, str] = field(default_factory=lambda: dict(TORCH_KEYS))
    """Project hyperparameter name -> keyword of ``factory`` (and param-group key), where they differ."""
    structure: UpdateStructure | None = None
    """For presets of the generalized family: the update's structure. It lets trial bundles
    (:mod:`optimizers.bundled`) train many trials of this optimizer at once; None: not bundlable."""
    modes: bool = False
    """The optimizer has a train and an eval mode (``optimizer.train()``, ``optimizer.eval()``,
    e.g. Schedule-Free): the training loop evaluates in eval mode and trains in train mode."""
    roles: bool = False
    """The optimizer updates parameters by role (a hybrid, ``muon``): the training loop passes
    the workload's hidden 2-D weight matrices as a group with ``role: hidden``
    (:meth:`workloads.base.Workload.hidden_matrices`), the rest as another group."""
    group_keys: tuple[str, ...] = ()
    """Param-group keys besides hyperparameters that the optimizer reads (``role`` for a hybrid
    optimizer: which of its parts updates the group), passed through unchecked."""
    constant_schedule: bool = False
    """The optimizer replaces a decaying schedule itself (Schedule-Free's averaging): only the
    ``constant`` schedule (with its optional warm-up) may drive it."""

    @property
    def hparam_names(self) -> tuple[str, ...]:
        return tuple(self.defaults)

    @property
    def doc(self) -> str:
        """What the optimizer computes: the factory's docstring (for presets, the exact update
        equations), else :attr:`description`."""
        return inspect.getdoc(self.factory) or self.description

    def range_of(self, hparam: str) -> Interval | None:
        return self.ranges.get(hparam, HPARAM_RANGES.get(hparam))


_REGISTRY: dict[str, OptimizerSpec] = {}


def register(spec: OptimizerSpec, *, overwrite: bool = False) -> OptimizerSpec:
    """Add an optimizer under ``spec.name``; refuses to replace one unless ``overwrite``."""
    check_name("optimizer", spec.name)
    if spec.name in _REGISTRY and not overwrite:
        raise InputError(
            f"optimizer {spec.name!r} is already registered; pass overwrite=True to replace it"
        )
    _REGISTRY[spec.name] = spec
    return spec


def check_name(kind: str, name: object) -> None:
    """Names become trial ids and hive partition values: no '/', '=', whitespace, or empty."""
    if (
        not isinstance(name, str)
        or not name
        or name.startswith((".", "_"))
        or any(c in name for c in "/=\\") or any(c.isspace() for c in name)
    ):
        raise InputError(
            f"{kind} name {name!r} is not usable as a path component; use letters, digits, '-' "
            "and '.', not starting with '.' or '_'"
        )


def names() -> list[str]:
    """Registered optimizer names, in registration order."""
    return list(_REGISTRY)


def get_spec(name: str) -> OptimizerSpec:
    """The spec registered under ``name``; InputError listing the valid names otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InputError(
            f"unknown optimizer {name!r}; valid choices: {', '.join(names())}"
        ) from None


def validate_hparams(
    name: str, hparams: dict[str, Any], *, fill_defaults: bool = True
) -> dict[str, float]:
    """Check names and ranges; return the hyperparameters as floats, defaults filled in unless
    ``fill_defaults`` is False (then only the given names are returned)."""
    spec = get_spec(name)
    unknown = sorted(set(hparams) - set(spec.defaults))
    if unknown:
        raise InputError(
            f"optimizer {name!r} has no hyperparameter {unknown[0]!r}; "
            f"valid names: {', '.join(spec.hparam_names)}"
        )
    resolved: dict[str, float] = {}
    for key, default in spec.defaults.items():
        if key not in hparams and not fill_defaults:
            continue
        raw = hparams.get(key, default)
        interval = spec.range_of(key)
        if not is_real(raw):
            raise InputError(f"{name}: {key}={raw!r} is not a number; valid range: {interval}")
        value = float(raw)
        if math.isnan(value) or (interval is not None and value not in interval):
            raise InputError(f"{name}: {key}={raw!r} is out of range; valid range: {interval}")
        resolved[key] = value
    if fill_defaults and spec.structure is not None:
        _check_structure(spec, resolved)
    return resolved


def _check_structure(spec: OptimizerSpec, resolved: dict[str, float]) -> None:
    """Constraints that tie several hyperparameters of a preset together (eps = 0 needs rho = 1)."""
    structure = spec.structure
    if structure is None or structure.second_moment_key is None:
        return
    project = {v: k for k, v in spec.torch_keys.items()}
    eps_name = project.get("eps", "eps")
    rho_name = project.get(structure.second_moment_key, structure.second_moment_key)
    problem = root_epsilon_problem(
        structure, resolved.get(eps_name), resolved.get(rho_name), eps_name=eps_name, rho_name=rho_name
    )
    if problem is not None:
        raise InputError(f"{spec.name}: {problem}")


def check_schedule(name: str, schedule: str) -> None:
    """InputError when optimizer ``name`` may not run under ``schedule``: one that replaces a
    decaying schedule itself (:attr:`OptimizerSpec.constant_schedule`) takes ``constant`` only."""
    if get_spec(name).constant_schedule and schedule != "constant":
        raise InputError(
            f"optimizer {name!r} averages its iterates in place of a decaying schedule: give it the "
            f"constant schedule (a warm-up, warmup_steps_factor, is allowed), not {schedule!r}; in a "
            f"protocol whose schedule decays, add schedules: {{{name}: constant}}"
        )


def create(
    name: str,
    params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
    *,
    foreach: bool | None = None,
    **hparams: float,
) -> torch.optim.Optimizer:
    """Build the optimizer ``name`` over ``params`` (the optimizer contract of docs/architecture.md).

    ``params`` is an ordered iterable of tensors or param-group dicts, as for torch.optim;
    a ``set`` is refused because its order (and so the state_dict) would not be reproducible.
    Unknown names and out-of-range values raise ``InputError`` naming the valid choices.
    ``foreach`` selects the kernel: True, False, or None for the optimizer's default (for the
    presets: foreach on CUDA, single-tensor otherwise); anything else raises InputError.
    """
    if isinstance(params, (set, frozenset)):
        raise InputError(
            "params must be an ordered iterable (list or model.parameters()), not a set: "
            "a set's order is not reproducible"
        )
    if foreach is not None and not isinstance(foreach, bool):
        raise InputError(
            f"{name}: foreach={foreach!r} is not a bool; valid values: True, False or None "
            "(the optimizer's default kernel)"
        )
    spec = get_spec(name)
    resolved = validate_hparams(name, hparams)
    torch_kwargs = {spec.torch_keys.get(k, k): v for k, v in resolved.items()}
    items: list[Any] = list(params)
    if items and isinstance(items[0], dict):
        items = [_translate_group(spec, group) for group in items]
    if foreach is not None:
        torch_kwargs["foreach"] = foreach
    return spec.factory(items, **torch_kwargs)


def _translate_group(spec: OptimizerSpec, group: dict[str, Any]) -> dict[str, Any]:
    """Validate a param group's overrides and map them to torch keys.

    Overrides may use project names (``learning_rate``) or torch's (``lr``), not both."""
    name = spec.name
    if "params" not in group:
        raise InputError(f"{name}: a param group needs a 'params' entry, got keys {sorted(group)}")
    if isinstance(group["params"], (set, frozenset)):
        raise InputError(
            f"{name}: a param group's 'params' must be an ordered iterable (list or "
            "model.parameters()), not a set: a set's order is not reproducible"
        )
    project = {v: k for k, v in spec.torch_keys.items()}
    overrides: dict[str, Any] = {}
    for key, value in group.items():
        if key == "params" or key in spec.group_keys:
            continue
        canonical = project.get(key, key)
        if canonical in overrides:
            raise InputError(f"{name}: param group sets {canonical!r} twice (as {key!r} too); keep one")
        overrides[canonical] = value
    checked = validate_hparams(name, overrides, fill_defaults=False)
    passed = {k: group[k] for k in spec.group_keys if k in group}
    return {"params": group["params"], **passed, **{spec.torch_keys.get(k, k): v for k, v in checked.items()}}
