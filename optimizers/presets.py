"""The six optimizers of Choi et al. (2019), section 2, as presets of :class:`GeneralizedOptimizer`.

Each preset is an :class:`UpdateStructure` (:data:`STRUCTURES`) of the generalized update whose
equations are in :mod:`optimizers.update`; its factory's docstring (:data:`DOCS`,
``get_spec(name).doc``) writes its exact update out, and ``STRUCTURES[name].equations()`` the
same with the param-group keys. docs/method.md sets them beside the paper.

Weight decay: ``weight_decay`` is the paper's coupled L2 (added to ``g``);
``decoupled_weight_decay`` shrinks the parameters directly, theta <- theta * (1 - eta_t * lambda),
before the update (the AdamW convention of torch.optim.AdamW).

Departures from torch.optim: Adam's eps is added to the uncorrected root (torch adds it to the
corrected one); NAdam has no momentum-decay schedule; RMSProp keeps eps inside the root, starts
v at 1 and puts the learning rate inside the momentum buffer.

New presets of the generalized family are added with :func:`register_preset`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import torch

from optcompare.errors import InputError
from optcompare.intervals import Interval

from .generalized import GeneralizedOptimizer
from .registry import (
    HPARAM_RANGES,
    TORCH_KEYS,
    OptimizerSpec,
    check_name,
    get_spec,
    names,
    register,
)
from .schedules import is_real
from .structure import OPTIONAL_KEYS, UpdateStructure, check_group, group_ranges

if TYPE_CHECKING:
    from .inclusions import Inclusion

__all__ = ["DEFAULTS", "DESCRIPTIONS", "DOCS", "STRUCTURES", "register_preset"]

STRUCTURES: dict[str, UpdateStructure] = {
    "sgd": UpdateStructure(None, False, False, None, 0.0, "none", "outside", False),
    "momentum": UpdateStructure("momentum", False, False, None, 0.0, "none", "outside", False),
    "nesterov": UpdateStructure("momentum", False, True, None, 0.0, "none", "outside", False),
    "rmsprop": UpdateStructure("momentum", False, False, "rho", 1.0, "inside", "inside", False),
    "adam": UpdateStructure("beta1", True, False, "beta2", 0.0, "outside", "outside", True),
    "nadam": UpdateStructure("beta1", True, True, "beta2", 0.0, "outside", "outside", True),
}
"""Structural switches of each preset (see :class:`UpdateStructure` for the fields)."""

DEFAULTS: dict[str, dict[str, float]] = {
    "sgd": {"learning_rate": 0.01, "weight_decay": 0.0},
    "momentum": {"learning_rate": 0.01, "momentum": 0.9, "weight_decay": 0.0},
    "nesterov": {"learning_rate": 0.01, "momentum": 0.9, "weight_decay": 0.0},
    "rmsprop": {
        "learning_rate": 0.001,
        "momentum": 0.0,
        "rho": 0.9,
        "epsilon": 1e-10,
        "weight_decay": 0.0,
    },
    "adam": {
        "learning_rate": 0.001,
        "beta1": 0.9,
        "beta2": 0.999,
        "epsilon": 1e-8,
        "weight_decay": 0.0,
    },
    "nadam": {
        "learning_rate": 0.001,
        "beta1": 0.9,
        "beta2": 0.999,
        "epsilon": 1e-8,
        "weight_decay": 0.0,
    },
}

DESCRIPTIONS: dict[str, str] = {
    "sgd": "plain stochastic gradient descent",
    "momentum": "heavy-ball momentum, v <- gamma*v + g (no dampening)",
    "nesterov": "Nesterov momentum, step along gamma*v + g",
    "rmsprop": "RMSProp with momentum; eps inside the root, v0 = 1, lr inside the buffer",
    "adam": "Adam; eps added to the uncorrected root (differs from torch.optim.Adam)",
    "nadam": "NAdam without momentum-decay schedule (differs from torch.optim.NAdam)",
}

_COMMON = """

g is the minibatch gradient plus weight_decay * theta (coupled L2, the paper's; default 0),
eta_t the scheduled learning rate, t = 0 at the first update. decoupled_weight_decay = lambda
(default 0) first shrinks theta <- theta * (1 - eta_t * lambda) (the AdamW convention); the
coupled term uses theta before that shrink."""

DOCS: dict[str, str] = {
    "sgd": """SGD(eta), Choi et al. (2019), section 2.

    theta <- theta - eta_t * g

learning_rate = eta.""" + _COMMON,
    "momentum": """MOMENTUM(eta, gamma): heavy ball without dampening, Choi et al. (2019), section 2.

    v <- gamma*v + g                      (v0 = 0)
    theta <- theta - eta_t * v

learning_rate = eta, momentum = gamma in [0, 1).""" + _COMMON,
    "nesterov": """NESTEROV(eta, gamma), Choi et al. (2019), section 2.

    v <- gamma*v + g                      (v0 = 0)
    theta <- theta - eta_t * (gamma*v + g)

learning_rate = eta, momentum = gamma in [0, 1).""" + _COMMON,
    "rmsprop": """RMSPROP(eta, gamma, rho, eps) with momentum, Choi et al. (2019), section 2.

    v <- rho*v + (1-rho)*g^2              (v0 = 1)
    m <- gamma*m + eta_t * g / sqrt(v + eps)   (m0 = 0)
    theta <- theta - m

eps sits INSIDE the root and the learning rate inside the momentum buffer (unlike
torch.optim.RMSprop). learning_rate = eta, momentum = gamma in [0, 1), rho in [0, 1],
epsilon = eps >= 0; epsilon = 0 only with rho = 1 (v stays 1: exactly MOMENTUM).""" + _COMMON,
    "adam": """ADAM(alpha, beta1, beta2, eps), Choi et al. (2019), section 2.

    m <- beta1*m + (1-beta1)*g            (m0 = 0)
    v <- beta2*v + (1-beta2)*g^2          (v0 = 0)
    b_{t+1} = sqrt(1 - beta2^(t+1)) / (1 - beta1^(t+1))
    theta <- theta - alpha_t * b_{t+1} * m / (sqrt(v) + eps)

eps is OUTSIDE the root and added to the UNcorrected sqrt(v) (torch.optim.Adam adds it to the
corrected root). learning_rate = alpha, beta1 and beta2 in [0, 1), epsilon = eps > 0.""" + _COMMON,
    "nadam": """NADAM(alpha, beta1, beta2, eps), Choi et al. (2019), section 2.

    m <- beta1*m + (1-beta1)*g            (m0 = 0)
    v <- beta2*v + (1-beta2)*g^2          (v0 = 0)
    b_{t+1} = sqrt(1 - beta2^(t+1)) / (1 - beta1^(t+1))
    theta <- theta - alpha_t * b_{t+1} * (beta1*m + (1-beta1)*g) / (sqrt(v) + eps)

with m the freshly updated first moment; no momentum-decay schedule (torch.optim.NAdam is a
different algorithm). learning_rate = alpha, beta1 and beta2 in [0, 1), epsilon = eps > 0."""
    + _COMMON,
}
"""Each built-in preset's docstring: its exact update (Choi et al. 2019, section 2)."""


def _make_factory(
    name: str,
    structure: UpdateStructure,
    doc: str,
    optimizer_class: type[GeneralizedOptimizer] = GeneralizedOptimizer,
) -> Any:  # noqa: ANN401 - returns a factory callable
    def factory(
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        foreach: bool | None = None,
        **defaults: float,
    ) -> torch.optim.Optimizer:
        return optimizer_class(params, defaults, structure, foreach=foreach)

    factory.__name__ = factory.__qualname__ = f"{name}_factory"
    factory.__doc__ = doc
    return factory


def _project_name(torch_key: str) -> str:
    return {v: k for k, v in TORCH_KEYS.items()}.get(torch_key, torch_key)


def register_preset(
    name: str,
    structure: UpdateStructure,
    defaults: Mapping[str, float],
    *,
    description: str = "",
    doc: str | None = None,
    ranges: Mapping[str, Interval] | None = None,
    search_space: dict[str, Any] | None = None,
    includes: Iterable[Inclusion] = (),
    optimizer_class: type[GeneralizedOptimizer] = GeneralizedOptimizer,
    bundlable: bool | None = None,
    overwrite: bool = False,
) -> OptimizerSpec:
    """Register a new preset of the generalized update under ``name`` and return its spec.

    ``structure`` fixes the switches of :class:`UpdateStructure` (``structure.equations()`` writes
    the resulting update out); ``defaults`` lists every hyperparameter the preset accepts, in
    project names (``learning_rate``, ``epsilon``, and the structure's ``momentum_key`` and
    ``second_moment_key`` as they are), with its default. ``learning_rate``, the keys the
    structure reads and ``epsilon`` (unless ``eps_placement == "none"``) are required;
    ``weight_decay`` and ``decoupled_weight_decay`` are optional (absent: not accepted, 0).
    Each default must lie in its valid range: ``ranges`` where given, else :data:`HPARAM_RANGES`
    for the project-wide names, else the structure's own
    (:func:`optimizers.generalized.group_ranges`, which the optimizer also enforces, so
    ``ranges`` can narrow them, not widen them). With ``eps_placement == "outside"``, epsilon's
    range defaults to (0, inf).

    ``description``, ``search_space`` and ``overwrite`` are those of :class:`OptimizerSpec` and
    :func:`register`. ``doc`` becomes the factory's docstring (``spec.doc``; default:
    ``description`` followed by ``structure.equations()``). ``includes`` declares inclusions
    ``inc.narrow <= name`` (each :class:`Inclusion` with ``wide == name``), registered with the
    preset. ``optimizer_class`` is the :class:`GeneralizedOptimizer` (sub)class built, called as
    ``optimizer_class(params, defaults, structure, foreach=...)``. ``bundlable`` records the
    structure on the spec so that trials can be bundled (:class:`BundledUpdate` runs the
    structure's update, not ``optimizer_class.step``); default: True only for
    GeneralizedOptimizer itself. Raises InputError naming the bad argument; nothing is
    registered then.
    """
    check_name("optimizer", name)
    if not isinstance(structure, UpdateStructure):
        raise InputError(f"register_preset({name!r}): structure must be an UpdateStructure, got {structure!r}")
    if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, GeneralizedOptimizer)):
        raise InputError(
            f"register_preset({name!r}): optimizer_class={optimizer_class!r} is not a subclass of "
            "GeneralizedOptimizer"
        )
    label = f"register_preset({name!r})"
    structural = {_project_name(k): r for k, r in group_ranges(structure).items()}
    required = [k for k in structural if k not in OPTIONAL_KEYS]
    missing = [k for k in required if k not in defaults]
    if missing:
        raise InputError(
            f"{label}: defaults lack {', '.join(map(repr, missing))}, read by its structure; "
            f"required: {', '.join(required)}"
        )
    unread = sorted(set(defaults) - set(structural))
    if unread:
        raise InputError(
            f"{label}: hyperparameter {unread[0]!r} is not read by its structure; valid names: "
            f"{', '.join(structural)}"
        )
    # The registry checks HPARAM_RANGES for the project-wide names; the structure's own ranges
    # cover the rest (a custom momentum_key) and epsilon outside the root (0 would give 0/0).
    spec_ranges = {k: r for k, r in structural.items() if k not in HPARAM_RANGES}
    if structure.eps_placement == "outside":
        spec_ranges["epsilon"] = structural["epsilon"]
    spec_ranges.update(ranges or {})
    for key, value in defaults.items():
        interval = spec_ranges.get(key, HPARAM_RANGES.get(key))
        if interval is None:
            raise InputError(f"{label}: default {key}={value!r} has no valid range; give it one in ranges")
        if not is_real(value) or float(value) not in interval:
            raise InputError(f"{label}: default {key}={value!r} is out of range; valid range: {interval}")
    check_group(structure, {TORCH_KEYS.get(k, k): float(v) for k, v in defaults.items()}, label=label)
    includes = list(includes)
    _check_includes(name, includes, overwrite=overwrite)
    if not overwrite and name in names():
        raise InputError(f"optimizer {name!r} is already registered; pass overwrite=True to replace it")
    if bundlable is None:
        bundlable = optimizer_class is GeneralizedOptimizer
    default_doc = f"{description}\n\n" if description else ""
    spec = register(
        OptimizerSpec(
            name=name,
            factory=_make_factory(name, structure, doc or default_doc + structure.equations(), optimizer_class),
            defaults={k: float(v) for k, v in defaults.items()},
            description=description,
            ranges=spec_ranges,
            search_space=search_space,
            structure=structure if bundlable else None,
        ),
        overwrite=overwrite,
    )
    if includes:
        # Imported here: inclusions.py registers the built-in inclusions of these presets.
        from .inclusions import register_inclusion

        for inc in includes:
            register_inclusion(inc, overwrite=overwrite)
    return spec


def _check_includes(name: str, includes: list[Inclusion], *, overwrite: bool) -> None:
    if not includes:  # the built-ins are registered before inclusions.py can be imported
        return
    from .inclusions import Inclusion, list_inclusions

    declared = {(inc.narrow, inc.wide) for inc in list_inclusions()}
    for inc in includes:
        if not isinstance(inc, Inclusion) or inc.wide != name:
            raise InputError(
                f"register_preset({name!r}): includes takes Inclusion(narrow, {name!r}, mapping, exact), "
                f"got {inc!r}"
            )
        get_spec(inc.narrow)
        if (inc.narrow, inc.wide) in declared and not overwrite:
            raise InputError(
                f"inclusion {inc.narrow} <= {inc.wide} is already registered; pass overwrite=True"
            )


for _name, _structure in STRUCTURES.items():
    register_preset(
        _name,
        _structure,
        {**DEFAULTS[_name], "decoupled_weight_decay": 0.0},
        description=DESCRIPTIONS[_name],
        doc=DOCS[_name],
    )
