"""The generalized update applied to a bundle of B trials at once, each with its own
hyperparameters.

A bundle's parameters live in one member-major matrix ``theta`` of shape ``(B, P)``: row ``i``
holds every parameter of trial ``i`` flattened and concatenated. Gradients ``g`` have the same
shape; the optimizer state ``m`` and ``v`` too. Every hyperparameter is a column ``(B, 1)``, so
one elementwise operation updates all trials and all parameters (about ten operations per step,
whatever the number of trials or parameter tensors). :meth:`BundledUpdate.step` calls
:func:`optimizers.update.apply_update` once on the matrix: its equations hold row by row, trial
``i`` with its own coefficients and scheduled rate ``eta_t[i]``. All trials of a bundle take
their ``t``-th update together. The result equals :class:`GeneralizedOptimizer` on each trial
alone up to floating-point rounding (see that module's note on rounding).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from optcompare.errors import InputError

from .registry import get_spec, validate_hparams
from .structure import UpdateStructure
from .update import COLUMN_OPS, Hyperparameters, apply_update, initial_state, step_coefficients

__all__ = ["BundledUpdate", "bundle_structure"]


def bundle_structure(name: str) -> UpdateStructure | None:
    """The update structure of optimizer ``name`` when it can be bundled (a preset of the
    generalized family, built-in or registered with ``structure=``), else None."""
    return get_spec(name).structure


class BundledUpdate:
    """One optimizer for B stacked trials of the same structure (see the module docstring).

    ``hparams`` holds each trial's hyperparameters in project names (``learning_rate`` is not
    used here: the caller passes the scheduled rates to :meth:`step`). State is created on the
    first step with the parameters' dtype and device.
    """

    def __init__(self, name: str, hparams: Sequence[dict[str, float]]) -> None:
        structure = bundle_structure(name)
        if structure is None:
            raise InputError(
                f"optimizer {name!r} cannot be bundled: it is not a preset of the generalized "
                "family (register it with structure=UpdateStructure(...)), so use bundle_size: 1"
            )
        if not hparams:
            raise InputError("a bundle needs at least one trial")
        self.name = name
        self.structure = structure
        spec = get_spec(name)
        # Structures name param-group keys (beta1, eps, ...): map the project names through the
        # spec's torch_keys, as optimizers.create does.
        resolved = [
            {spec.torch_keys.get(k, k): v for k, v in validate_hparams(name, hp).items()} for hp in hparams
        ]
        s = structure
        required = [s.momentum_key, s.second_moment_key, "eps" if s.eps_placement != "none" else None]
        for key in required:
            if key is not None and key not in resolved[0]:
                raise InputError(
                    f"optimizer {name!r}: its update structure reads {key!r}, which is not one of its "
                    f"hyperparameters (param-group keys: {', '.join(sorted(resolved[0]))})"
                )

        def column(key: str, default: float) -> torch.Tensor:
            values = [hp.get(key, default) for hp in resolved]
            return torch.tensor(values, dtype=torch.float64).unsqueeze(1)

        self.hparams = Hyperparameters.read(s, column)
        """Each trial's coefficients as float64 ``(B, 1)`` columns on the CPU."""
        self.size = len(resolved)
        """Number of trials in the bundle."""
        self.steps = 0
        self.m: torch.Tensor | None = None
        self.v: torch.Tensor | None = None

    def keep(self, rows: torch.Tensor) -> None:
        """Drop every trial not in ``rows`` (a 1-D index of the trials to keep, in order)."""
        self.hparams = self.hparams.rows(rows.cpu())
        self.size = int(rows.numel())
        if self.m is not None:
            self.m = self.m[rows.to(self.m.device)]
        if self.v is not None:
            self.v = self.v[rows.to(self.v.device)]

    def state_dict(self) -> dict[str, Any]:
        """Every trial's optimizer state (on the CPU) and the step count."""
        return {
            "steps": self.steps,
            "m": None if self.m is None else self.m.cpu(),
            "v": None if self.v is None else self.v.cpu(),
        }

    def load_state_dict(self, state: dict[str, Any], rows: list[int], device: torch.device) -> None:
        """The saved state of trials ``rows``, for a bundle of ``len(rows)`` trials built with
        those trials' hyperparameters, in that order."""
        if len(rows) != self.size:
            raise InputError(f"restoring {len(rows)} trials into a bundle of {self.size}")
        index = torch.tensor(rows)
        self.steps = int(state["steps"])
        self.m = None if state["m"] is None else state["m"][index].to(device)
        self.v = None if state["v"] is None else state["v"][index].to(device)

    @torch.no_grad()
    def step(self, theta: torch.Tensor, grad: torch.Tensor, lr: torch.Tensor) -> None:
        """Update ``theta`` (B, P) in place from ``grad`` (B, P) at the rates ``lr`` (B,)."""
        if theta.shape != grad.shape or theta.dim() != 2 or theta.shape[0] != self.size:
            raise InputError(
                f"theta {tuple(theta.shape)} and grad {tuple(grad.shape)} must both be (B, P) "
                f"with B = {self.size}"
            )
        if self.steps == 0:
            state = initial_state(self.structure, theta)
            self.m, self.v = state.get("m"), state.get("v")
        lr64 = lr.detach().to("cpu", torch.float64).reshape(-1, 1)
        k = step_coefficients(self.structure, self.hparams, lr64, self.steps).cast(theta)
        apply_update(COLUMN_OPS, self.structure, theta, grad, self.m, self.v, k)
        self.steps += 1
