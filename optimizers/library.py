"""Optimizers people compare today, registered from the libraries that define them (not
re-implemented): ``adamw``, ``nadamw``, ``lion``, ``muon``, ``soap`` and ``schedule-free-adamw``.

Each runs the library's own ``torch.optim.Optimizer`` (one and ten steps through
:func:`optimizers.create` equal the library's optimizer bitwise, tests/optimizers/test_library.py).
Hyperparameters take the project's names; where the library's parametrisation differs from the
paper's family (:mod:`optimizers.presets`), the spec's description says so:

- ``adamw``: ``torch.optim.AdamW``. epsilon is added to the bias-corrected root,
  ``theta <- theta - eta * m_hat / (sqrt(v_hat) + epsilon)``, where the paper's Adam adds it
  inside the correction (``m_hat / sqrt(v_hat + epsilon^2)``-like placements differ by a
  step-dependent factor), so ``adam <= adamw`` is not an exact inclusion;
  ``decoupled_weight_decay`` lambda shrinks ``theta <- theta * (1 - eta * lambda)`` first.
- ``nadamw``: ``torch.optim.NAdam(decoupled_weight_decay=True)``: Dozat's NAdam with torch's
  momentum-decay schedule ``mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay))``, which the
  paper's NAdam does not have, and the same decoupled weight decay.
- ``lion``: ``lion_pytorch.Lion``: ``theta <- theta * (1 - eta * lambda) - eta *
  sign(beta1 * m + (1 - beta1) * g)``, ``m <- beta2 * m + (1 - beta2) * g``. A sign update: it is
  no generalisation of Adam and takes part in no inclusion.
- ``muon``: ``torch.optim.Muon`` (Newton-Schulz orthogonalised momentum) on the hidden 2-D
  weight matrices and ``torch.optim.AdamW`` on the rest, one optimizer (:class:`MuonWithAdamW`);
  the training loop groups the parameters by the workload's
  :meth:`~workloads.base.Workload.hidden_matrices`. Not a generalisation of Adam: no inclusion.
- ``soap``: ``heavyball.SOAP``: Adam run in the eigenbasis of Shampoo's preconditioner, which
  is refreshed every 2 steps (``shampoo_beta`` its average's decay), decoupled weight decay;
  heavyball's step functions run eagerly (``heavyball.utils.compile_mode = None``). No inclusion.
- ``schedule-free-adamw``: ``schedulefree.AdamWScheduleFree``: gradients at
  ``y = (1 - beta1) z + beta1 x``, iterate averaging of x in place of a decaying schedule. It
  has a train and an eval mode (``optimizer.train()`` / ``optimizer.eval()``): the training
  loop evaluates in eval mode (the average x) and trains in train mode (:attr:`OptimizerSpec.modes`).
  It runs with a constant learning rate (a protocol's warm-up applies: its own
  ``warmup_steps`` is 0, so two warm-ups never act together); a decaying schedule is refused
  (:attr:`OptimizerSpec.constant_schedule`).

A missing library is an :class:`~optcompare.errors.InputError` naming the package and the
version pinned in constraints.txt. They run unbundled (no :attr:`OptimizerSpec.structure`).
"""

from __future__ import annotations

import collections
import importlib
import math
import warnings
from collections.abc import Callable, Iterable
from importlib import metadata
from types import ModuleType
from typing import Any

import torch

from optcompare.errors import InputError

from . import presets as _presets  # noqa: F401 - the paper's six register first (names() order)
from .registry import Interval, OptimizerSpec, register

__all__ = ["HIDDEN", "LIBRARIES", "MuonWithAdamW", "library_module"]

LIBRARIES: dict[str, tuple[str, str]] = {
    "heavyball": ("heavyball", "3.2.1"),
    "lion_pytorch": ("lion-pytorch", "0.2.5"),
    "schedulefree": ("schedulefree", "1.4.1"),
}
"""Import name -> (package, the version constraints.txt pins and the tests compare against)."""

_TORCH_NAMES = {"learning_rate": "lr", "epsilon": "eps", "decoupled_weight_decay": "weight_decay"}
"""Project hyperparameter name -> the libraries' keyword, where they differ (beta1 and beta2
are combined into ``betas`` by each factory)."""


def library_module(name: str) -> ModuleType:
    """The library ``name`` (a key of :data:`LIBRARIES`), imported; InputError naming the package
    and its pinned version when it is missing."""
    package, pinned = LIBRARIES[name]
    try:
        return importlib.import_module(name)
    except ImportError as err:
        try:
            installed = metadata.version(package)
        except metadata.PackageNotFoundError:
            installed = "not installed"
        raise InputError(
            f"this optimizer needs the package {package} (tested: {package}=={pinned}, pinned in "
            f"constraints.txt; here: {installed}: {err}); install it with "
            f"pip install -c constraints.txt '{package}=={pinned}'"
        ) from None


def _adamw(
    params: Iterable[Any], *, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
    foreach: bool | None = None,
) -> torch.optim.Optimizer:
    return torch.optim.AdamW(
        params, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay, foreach=foreach
    )


def _nadamw(
    params: Iterable[Any], *, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
    momentum_decay: float, foreach: bool | None = None,
) -> torch.optim.Optimizer:
    return torch.optim.NAdam(
        params, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay,
        momentum_decay=momentum_decay, decoupled_weight_decay=True, foreach=foreach,
    )


def _lion(
    params: Iterable[Any], *, lr: float, beta1: float, beta2: float, weight_decay: float,
    foreach: bool | None = None,
) -> torch.optim.Optimizer:
    del foreach  # one kernel
    lion: Any = library_module("lion_pytorch")
    return lion.Lion(params, lr=lr, betas=(beta1, beta2), weight_decay=weight_decay)


def _soap(
    params: Iterable[Any], *, lr: float, beta1: float, beta2: float, shampoo_beta: float, eps: float,
    weight_decay: float, foreach: bool | None = None,
) -> torch.optim.Optimizer:
    del foreach  # heavyball's own multi-tensor kernels
    heavyball: Any = library_module("heavyball")
    # Eager: heavyball compiles each step function with torch.compile (max-autotune) by default,
    # 90 s on a 2-core CPU before the first step; its results are the same either way.
    heavyball.utils.compile_mode = None
    # The loop sets the rate every step, which heavyball supports with multi_tensor=True (its
    # default, used here) but announces with a warning per run.
    warnings.filterwarnings("ignore", message="Learning rate changed between steps", module="heavyball")
    return heavyball.SOAP(
        params, lr=lr, betas=(beta1, beta2), shampoo_beta=shampoo_beta, eps=eps, weight_decay=weight_decay
    )


def _schedule_free_adamw(
    params: Iterable[Any], *, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
    foreach: bool | None = None,
) -> torch.optim.Optimizer:
    schedulefree: Any = library_module("schedulefree")
    return schedulefree.AdamWScheduleFree(
        params, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay, warmup_steps=0,
        foreach=True if foreach is None else foreach,  # the library's default kernel
    )


HIDDEN = "hidden"
"""The ``role`` of a param group that ``muon`` updates with Muon (hidden 2-D weight matrices);
every other group goes to AdamW."""


class MuonWithAdamW(torch.optim.Optimizer):
    """``muon``: ``torch.optim.Muon`` on the param groups whose ``role`` is :data:`HIDDEN` (the
    hidden 2-D weight matrices, :meth:`workloads.base.Workload.hidden_matrices`) and
    ``torch.optim.AdamW`` on the others (embeddings, biases, norms, convolutions, the input and
    output layers), as Muon's reference usage splits them: one optimizer with one
    ``state_dict`` (``{"muon": ..., "adamw": ...}``). A plain list of tensors is split by
    dimension (2-D to Muon), as torch's Muon example does.

    Both parts take the same learning rate and decoupled weight decay: Muon's rate is matched to
    AdamW's update size (``adjust_lr_fn="match_rms_adamw"``: lr x 0.2 sqrt(max(A, B)) for an
    A x B matrix), so the loop's one schedule drives both (``param_groups`` lists both parts'
    groups, whose ``lr`` it sets)."""

    def __init__(
        self, params: Iterable[Any], *, lr: float, momentum: float, beta1: float, beta2: float,
        eps: float, weight_decay: float, foreach: bool | None = None,
    ) -> None:
        items = list(params)
        if items and not isinstance(items[0], dict):
            items = [{"params": [t for t in items if t.ndim == 2], "role": HIDDEN},
                     {"params": [t for t in items if t.ndim != 2]}]
        hidden: list[dict[str, Any]] = []
        rest: list[dict[str, Any]] = []
        for group in items:
            body = {k: v for k, v in group.items() if k != "role"}
            if list(body["params"]):
                (hidden if group.get("role") == HIDDEN else rest).append(body)
        self.muon = torch.optim.Muon(
            hidden, lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=True,
            adjust_lr_fn="match_rms_adamw",
        ) if hidden else None
        self.adamw = torch.optim.AdamW(
            rest, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay, foreach=foreach
        ) if rest else None
        self.parts = [part for part in (self.muon, self.adamw) if part is not None]
        if not self.parts:
            raise InputError("muon: no parameters to optimize")
        # Not Optimizer.__init__: the parts own the groups and the state; these are views.
        self.defaults = {"lr": lr}
        self.param_groups = [group for part in self.parts for group in part.param_groups]
        self.state = collections.defaultdict(dict)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]  # torch's overloads
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for part in self.parts:
            part.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        for part in self.parts:
            part.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:  # two parts, one dict
        return {
            "muon": None if self.muon is None else self.muon.state_dict(),
            "adamw": None if self.adamw is None else self.adamw.state_dict(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for key, part in (("muon", self.muon), ("adamw", self.adamw)):
            if (part is None) != (state_dict.get(key) is None):
                raise ValueError(f"muon: the saved state has {'no ' if part is not None else ''}{key} part")
            if part is not None:
                part.load_state_dict(state_dict[key])
        self.param_groups = [group for part in self.parts for group in part.param_groups]

    def __repr__(self) -> str:
        return f"MuonWithAdamW(muon={self.muon!r}, adamw={self.adamw!r})"


def _muon(
    params: Iterable[Any], *, lr: float, momentum: float, beta1: float, beta2: float, eps: float,
    weight_decay: float, foreach: bool | None = None,
) -> torch.optim.Optimizer:
    return MuonWithAdamW(
        params, lr=lr, momentum=momentum, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
        foreach=foreach,
    )


_ADAM_SPACE = {
    "learning_rate": {"min": 1e-5, "max": 1e-1, "scaling": "log"},
    "one_minus_beta1": {"min": 1e-3, "max": 1.0, "scaling": "log"},
    "one_minus_beta2": {"min": 1e-4, "max": 1.0, "scaling": "log"},
    "epsilon": {"min": 1e-10, "max": 1e-2, "scaling": "log"},
    "decoupled_weight_decay": 0.0,
}
"""The default search of the Adam-like library optimizers (a protocol that does not list one)."""

_DECAY = {"decay_steps_factor": 1.0, "decay_factor": 0.01}
"""The default searches' fixed decay (to 1% over the whole budget, as lr-only's), for protocols
with a decaying schedule."""

for _spec in (
    OptimizerSpec(
        name="adamw",
        factory=_adamw,
        defaults={"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8,
                  "decoupled_weight_decay": 0.01},
        description="torch.optim.AdamW (epsilon on the bias-corrected root, unlike the paper's adam)",
        search_space={**_ADAM_SPACE, **_DECAY},
        torch_keys=dict(_TORCH_NAMES),
    ),
    OptimizerSpec(
        name="nadamw",
        factory=_nadamw,
        defaults={"learning_rate": 2e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8,
                  "decoupled_weight_decay": 0.01, "momentum_decay": 0.004},
        description="torch.optim.NAdam with decoupled weight decay (torch's momentum-decay schedule, unlike the paper's nadam)",
        ranges={"momentum_decay": Interval(0.0, math.inf, high_closed=False)},
        search_space={**_ADAM_SPACE, **_DECAY},
        torch_keys=dict(_TORCH_NAMES),
    ),
    OptimizerSpec(
        name="lion",
        factory=_lion,
        defaults={"learning_rate": 1e-4, "beta1": 0.9, "beta2": 0.99, "decoupled_weight_decay": 0.0},
        description="lion_pytorch.Lion (a sign update: no inclusion with the paper's family)",
        search_space={
            "learning_rate": {"min": 1e-6, "max": 1e-2, "scaling": "log"},
            "one_minus_beta1": {"min": 1e-2, "max": 1.0, "scaling": "log"},
            "one_minus_beta2": {"min": 1e-3, "max": 1.0, "scaling": "log"},
            "decoupled_weight_decay": 0.0, **_DECAY,
        },
        torch_keys=dict(_TORCH_NAMES),
    ),
    OptimizerSpec(
        name="muon",
        factory=_muon,
        defaults={"learning_rate": 1e-3, "momentum": 0.95, "beta1": 0.9, "beta2": 0.95, "epsilon": 1e-8,
                  "decoupled_weight_decay": 0.1},
        description="torch.optim.Muon on the hidden 2-D weight matrices, torch.optim.AdamW on the rest (one optimizer; no inclusion)",
        search_space={
            "learning_rate": {"min": 1e-5, "max": 1e-1, "scaling": "log"},
            "one_minus_momentum": {"min": 1e-3, "max": 1.0, "scaling": "log"},
            "one_minus_beta1": {"min": 1e-3, "max": 1.0, "scaling": "log"},
            "one_minus_beta2": {"min": 1e-4, "max": 1.0, "scaling": "log"},
            "decoupled_weight_decay": 0.0, **_DECAY,
        },
        torch_keys=dict(_TORCH_NAMES),
        group_keys=("role",),
        roles=True,
    ),
    OptimizerSpec(
        name="soap",
        factory=_soap,
        defaults={"learning_rate": 3e-3, "beta1": 0.9, "beta2": 0.95, "shampoo_beta": 0.95, "epsilon": 1e-8,
                  "decoupled_weight_decay": 0.01},
        description="heavyball.SOAP (Adam in Shampoo's eigenbasis, run eagerly; no inclusion)",
        ranges={"shampoo_beta": Interval(0.0, 1.0, high_closed=False)},
        search_space={
            **_ADAM_SPACE, "epsilon": 1e-8, "shampoo_beta": 0.95, **_DECAY,
        },
        torch_keys=dict(_TORCH_NAMES),
    ),
    OptimizerSpec(
        name="schedule-free-adamw",
        factory=_schedule_free_adamw,
        defaults={"learning_rate": 2.5e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8,
                  "decoupled_weight_decay": 0.0},
        description="schedulefree.AdamWScheduleFree (train/eval modes; a constant learning rate with warm-up only)",
        # Its eval mode computes 1 - 1/beta1: beta1 = 0 would divide by zero at the first evaluation.
        ranges={"beta1": Interval(0.0, 1.0, low_closed=False, high_closed=False)},
        # beta1 = 1 - one_minus_beta1 stays above 0 (its eval mode divides by it).
        search_space={**_ADAM_SPACE, "one_minus_beta1": {"min": 1e-3, "max": 0.5, "scaling": "log"},
                      "warmup_steps_factor": 0.05},
        torch_keys=dict(_TORCH_NAMES),
        modes=True,
        constant_schedule=True,
    ),
):
    register(_spec)
