"""Inclusion relationships of Choi et al. (2019), section 3, as code (docs/method.md).

An inclusion ``narrow <= wide`` comes with a mapping: given the narrow optimizer's
hyperparameters and learning-rate schedule, it returns hyperparameters and a schedule of the wide
optimizer that imitate it, exactly or in the limit ``epsilon -> infinity``:

- ``sgd <= momentum``, ``sgd <= nesterov``:  momentum = 0 (exact).
- ``momentum <= rmsprop``:  rho = 1 (v stays at v0 = 1), epsilon = 0, same momentum and learning
  rate (exact for a constant learning rate: RMSProp keeps eta_t inside its momentum buffer).
- ``momentum <= adam``, ``nesterov <= nadam``:  beta1 = gamma, beta2 = 0, epsilon = E, and
  alpha_t = eta_t * E * (1 - beta1^(t+1)) / (1 - beta1)   (sqrt(1 - beta2^(t+1)) = 1 with beta2 = 0),
  so that alpha_t * b_{t+1} * m / (sqrt(v) + E) = eta_t * v_heavy_ball * E / (|g| + E): the error is
  of order |g| / E.

:func:`imitate` composes inclusions along a chain (``sgd -> momentum -> adam``). Users add their
own with :func:`register_inclusion`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from optcompare.errors import InputError

from .registry import get_spec, validate_hparams
from .schedules import Schedule

__all__ = [
    "Imitation", "Inclusion", "imitate", "inclusion_path", "limit_gap", "list_inclusions", "register_inclusion",
]

Mapping = Callable[[dict[str, float], Schedule, float], tuple[dict[str, float], Schedule]]
"""(narrow hparams with defaults, narrow schedule, epsilon) -> (wide hparams, wide schedule)."""


@dataclass(frozen=True)
class Inclusion:
    """``narrow`` is a special case (or limit) of ``wide``, realised by ``mapping``."""

    narrow: str
    wide: str
    mapping: Mapping
    exact: bool
    """True when the mapping reproduces the trajectory exactly (up to rounding)."""
    requires_constant_lr: bool = False
    description: str = ""
    recorded_gap: tuple[float, float] | None = None
    """A limit inclusion's measured error: (epsilon, gap), the relative trajectory gap of
    :func:`~optimizers.inclusion_check.check_inclusion` on its float64 problem at learning rate
    0.1, momentum 0.9 (tests/optimizers/test_inclusions.py keeps it true). The gap is of order
    |g| / epsilon, so at epsilon E it is about ``gap * epsilon / E`` (:func:`limit_gap`)."""


@dataclass(frozen=True)
class Imitation:
    """Hyperparameters and schedule of ``optimizer`` that imitate a narrower optimizer."""

    optimizer: str
    hparams: dict[str, float]
    schedule: Schedule
    """The wide optimizer's learning rate at update t (set into param_groups each step)."""
    exact: bool
    path: tuple[str, ...]


_INCLUSIONS: dict[tuple[str, str], Inclusion] = {}


def register_inclusion(inclusion: Inclusion, *, overwrite: bool = False) -> Inclusion:
    """Declare ``inclusion.narrow <= inclusion.wide``; both must be registered optimizers."""
    get_spec(inclusion.narrow)
    get_spec(inclusion.wide)
    key = (inclusion.narrow, inclusion.wide)
    if key in _INCLUSIONS and not overwrite:
        raise InputError(f"inclusion {key[0]} <= {key[1]} is already registered; pass overwrite=True")
    _INCLUSIONS[key] = inclusion
    return inclusion


def list_inclusions() -> list[Inclusion]:
    """Every registered inclusion (direct ones; chains follow by composition)."""
    return list(_INCLUSIONS.values())


def inclusion_path(narrow: str, wide: str) -> list[Inclusion]:
    """The shortest chain of registered inclusions from ``narrow`` to ``wide``."""
    get_spec(narrow)
    get_spec(wide)
    previous: dict[str, Inclusion | None] = {narrow: None}
    queue = deque([narrow])
    while queue:
        node = queue.popleft()
        if node == wide:
            break
        for inc in _INCLUSIONS.values():
            if inc.narrow == node and inc.wide not in previous:
                previous[inc.wide] = inc
                queue.append(inc.wide)
    if wide not in previous or narrow == wide:
        reachable = sorted(k for k in previous if k != narrow)
        raise InputError(
            f"no registered inclusion {narrow} <= {wide}; {narrow} is included in: "
            f"{', '.join(reachable) or 'nothing'}"
        )
    chain: list[Inclusion] = []
    node = wide
    while (step := previous[node]) is not None:
        chain.append(step)
        node = step.narrow
    return chain[::-1]


def imitate(
    narrow: str,
    wide: str,
    hparams: dict[str, float],
    schedule: Schedule | None = None,
    *,
    epsilon: float = 1e8,
    horizon: int = 10_000,
) -> Imitation:
    """Hyperparameters and schedule of ``wide`` that imitate ``narrow`` with ``hparams``.

    ``schedule`` is the narrow optimizer's learning rate at update t (default: constant
    ``hparams["learning_rate"]``); ``epsilon`` is the large epsilon of limit inclusions.
    An inclusion that needs a constant rate checks ``schedule(t) == schedule(0)`` exactly for
    every ``t`` in ``0 .. horizon - 1`` (steps past ``horizon`` are not checked).

    A mapping may return hyperparameters of the narrow optimizer that the wide one lacks (as
    ``{**hp, ...}`` does): one whose value is 0 and whose default in the narrow optimizer is 0
    (off, e.g. ``decoupled_weight_decay``) is dropped; any other value cannot be carried and
    raises InputError naming it.
    """
    full = validate_hparams(narrow, hparams)
    if schedule is None:
        lr = full["learning_rate"]
        schedule = lambda t: lr  # noqa: E731
    chain = inclusion_path(narrow, wide)
    exact = True
    for inc in chain:
        if inc.requires_constant_lr:
            first = schedule(0)
            if any(schedule(t) != first for t in range(1, horizon)):
                raise InputError(
                    f"{inc.narrow} <= {inc.wide} holds only for a constant learning rate "
                    f"(the wide optimizer keeps eta_t inside its buffer); use a constant schedule"
                )
        full, schedule = inc.mapping(full, schedule, epsilon)
        full = validate_hparams(inc.wide, _drop_uncarried(inc, full))
        exact = exact and inc.exact
    return Imitation(wide, full, schedule, exact, (narrow, *(inc.wide for inc in chain)))


def limit_gap(narrow: str, wide: str, epsilon: float) -> float | None:
    """The expected relative trajectory gap of ``wide``'s imitation of ``narrow`` at
    ``epsilon``: the sum over the chain's limit inclusions of ``gap_r * epsilon_r / epsilon``
    ((epsilon_r, gap_r) their :attr:`Inclusion.recorded_gap`, the O(|g| / epsilon) error term);
    0.0 for an exact chain, None when a limit inclusion of the chain records no gap."""
    total = 0.0
    for inc in inclusion_path(narrow, wide):
        if inc.exact:
            continue
        if inc.recorded_gap is None:
            return None
        eps_r, gap_r = inc.recorded_gap
        total += gap_r * eps_r / epsilon
    return total


def _drop_uncarried(inc: Inclusion, hp: dict[str, float]) -> dict[str, float]:
    """``hp`` without the narrow optimizer's hyperparameters that ``inc.wide`` lacks and that
    are off (value 0, narrow default 0); InputError for one that is on."""
    wide = get_spec(inc.wide).defaults
    narrow = get_spec(inc.narrow).defaults
    kept: dict[str, float] = {}
    for key, value in hp.items():
        if key in wide or key not in narrow:
            kept[key] = value  # unknown to both: validate_hparams names the valid choices
        elif narrow[key] != 0.0 or value != 0.0:
            raise InputError(
                f"{inc.narrow} <= {inc.wide}: {key}={value!r} cannot be carried, {inc.wide} has no "
                f"{key!r} (valid names: {', '.join(wide)}); only a hyperparameter left at its zero "
                f"default is dropped, so set {key}=0 or give the inclusion a mapping that translates it"
            )
    return kept


def _no_decoupled_decay(hp: dict[str, float], inclusion: str) -> None:
    if hp.get("decoupled_weight_decay", 0.0) != 0.0:
        raise InputError(
            f"{inclusion}: decoupled_weight_decay must be 0 (the wide optimizer would need a "
            "time-varying decay); use the coupled weight_decay"
        )


def _sgd_to_heavy_ball(hp: dict[str, float], schedule: Schedule, eps: float) -> tuple[dict[str, float], Schedule]:
    del eps
    return {**hp, "momentum": 0.0}, schedule


def _momentum_to_rmsprop(hp: dict[str, float], schedule: Schedule, eps: float) -> tuple[dict[str, float], Schedule]:
    del eps
    return {**hp, "rho": 1.0, "epsilon": 0.0}, schedule


def _heavy_ball_to_adam_family(hp: dict[str, float], schedule: Schedule, eps: float) -> tuple[dict[str, float], Schedule]:
    _no_decoupled_decay(hp, "momentum/nesterov <= adam/nadam")
    beta1 = hp["momentum"]

    def alpha(t: int) -> float:
        return schedule(t) * eps * (1.0 - beta1 ** (t + 1)) / (1.0 - beta1)

    wide = {
        "learning_rate": alpha(0),
        "beta1": beta1,
        "beta2": 0.0,
        "epsilon": eps,
        "weight_decay": hp.get("weight_decay", 0.0),
        "decoupled_weight_decay": 0.0,
    }
    return wide, alpha


for _inc in (
    Inclusion("sgd", "momentum", _sgd_to_heavy_ball, exact=True, description="momentum = 0"),
    Inclusion("sgd", "nesterov", _sgd_to_heavy_ball, exact=True, description="momentum = 0"),
    Inclusion(
        "momentum", "rmsprop", _momentum_to_rmsprop, exact=True, requires_constant_lr=True,
        description="rho = 1 (v stays 1), epsilon = 0",
    ),
    Inclusion(
        "momentum", "adam", _heavy_ball_to_adam_family, exact=False,
        description="beta1 = gamma, beta2 = 0, epsilon -> inf, alpha_t = eta_t*eps*(1-beta1^(t+1))/(1-beta1)",
        recorded_gap=(1e2, 3.9e-4),
    ),
    Inclusion(
        "nesterov", "nadam", _heavy_ball_to_adam_family, exact=False,
        description="beta1 = gamma, beta2 = 0, epsilon -> inf, alpha_t = eta_t*eps*(1-beta1^(t+1))/(1-beta1)",
        recorded_gap=(1e2, 3.8e-4),
    ),
):
    register_inclusion(_inc)
