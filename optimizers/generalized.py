"""The generalized update of :mod:`optimizers.update` as a ``torch.optim.Optimizer``.

:class:`GeneralizedOptimizer` holds the hyperparameters in its param groups and the moments in
its per-parameter state, and hands both to :func:`optimizers.update.apply_update`: once per
tensor (the single-tensor path) or once per (device, dtype, step) bucket of a group (the foreach
path). The equations, the fusions and the rounding guarantees are those of that module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import cache, partial
from typing import Any

import torch

from optcompare.errors import InputError

from .structure import UpdateStructure, check_group, group_ranges, root_epsilon_problem
from .update import (
    FOREACH_OPS,
    TENSOR_OPS,
    Hyperparameters,
    StepCoefficients,
    apply_update,
    initial_state,
    step_coefficients,
)

__all__ = ["GeneralizedOptimizer", "UpdateStructure", "check_group", "group_ranges", "root_epsilon_problem"]



def _group_value(group: dict[str, Any], key: str, default: float) -> float:
    """A param group's value of torch key ``key`` (``default`` when absent), as a float."""
    return float(group.get(key, default))

class GeneralizedOptimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` running the generalized update for a fixed structure.

    Hyperparameters live in ``param_groups`` under the names ``lr``, ``momentum``, ``beta1``,
    ``beta2``, ``rho``, ``eps``, ``weight_decay`` and ``decoupled_weight_decay`` (those the
    structure uses). State per parameter: ``step`` (updates done, an int), ``m`` and ``v`` where
    the structure has them. Device and dtype follow the parameters.

    ``foreach`` selects the path: True, foreach (one op per (device, dtype, step) bucket of a
    group instead of one per tensor); False, the single-tensor loop; None (the default, as in
    torch.optim), foreach for a group whose parameters being updated are all dense CUDA tensors
    and the single-tensor loop otherwise (on CPU torch.optim defaults to it too, and the foreach
    path is slower there: it materialises each intermediate for the whole group). Anything else
    raises InputError. See :meth:`uses_foreach`.

    Every param group, those given at construction and those added later with
    :meth:`add_param_group`, is checked against :func:`group_ranges` and
    :func:`root_epsilon_problem` (defaults filled in): a bad value raises InputError naming the
    key and its valid range. ``params`` (and a group's ``"params"``) must be ordered, not a set.
    """

    structure: UpdateStructure

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        defaults: dict[str, float],
        structure: UpdateStructure,
        *,
        foreach: bool | None = None,
    ) -> None:
        if foreach is not None and not isinstance(foreach, bool):
            raise InputError(
                f"foreach={foreach!r} is not a bool; valid values: True (foreach kernel), False "
                "(single-tensor kernel) or None (foreach on CUDA, single-tensor otherwise)"
            )
        _refuse_set(params, "params")
        self.structure = structure
        self.foreach = foreach
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a param group (as torch.optim does) after checking its values, defaults filled in."""
        if isinstance(param_group, dict):
            _refuse_set(param_group.get("params"), "a param group's 'params'")
            self._check_group({**self.defaults, **param_group})
        super().add_param_group(param_group)

    def _check_group(self, group: Mapping[str, Any]) -> None:
        check_group(self.structure, group, label=type(self).__name__)

    def uses_foreach(self, params: list[torch.Tensor]) -> bool:
        """Whether :meth:`step` takes the foreach path for these parameters of one group: the
        ``foreach`` argument when given, else whether all are dense CUDA tensors."""
        if self.foreach is not None:
            return self.foreach
        return all(p.device.type == "cuda" and not p.is_sparse for p in params)

    def _state(self, p: torch.Tensor) -> dict[str, Any]:
        state = self.state[p]
        if not state:
            state["step"] = 0
            state.update(initial_state(self.structure, p))
        return state

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # noqa: ANN401 - torch's signature
        """Apply one update to every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        s = self.structure
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            if any(p.grad.is_sparse for p in params):
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
            hp = Hyperparameters.read(s, partial(_group_value, group))
            # Parameters may differ in their step count: the coefficients once per count.
            coefficients = cache(partial(step_coefficients, s, hp, float(group["lr"])))
            if self.uses_foreach(params):
                self._foreach_path(params, coefficients)
            else:
                self._single_tensor_path(params, coefficients)
        return loss

    def _single_tensor_path(
        self, params: list[torch.Tensor], coefficients: Callable[[int], StepCoefficients]
    ) -> None:
        s, all_state = self.structure, self.state
        for p in params:
            state = all_state[p]
            if not state:
                state = self._state(p)
            t = state["step"]
            apply_update(TENSOR_OPS, s, p, p.grad, state.get("m"), state.get("v"), coefficients(t))
            state["step"] = t + 1

    def _foreach_path(
        self, params: list[torch.Tensor], coefficients: Callable[[int], StepCoefficients]
    ) -> None:
        buckets: dict[tuple[torch.device, torch.dtype, int], tuple[list, list]] = {}
        all_state = self.state
        for p in params:
            state = all_state[p]
            if not state:
                state = self._state(p)
            bucket, states = buckets.setdefault((p.device, p.dtype, state["step"]), ([], []))
            bucket.append(p)
            states.append(state)
        for (_, _, t), (bucket, states) in buckets.items():
            ms = [st["m"] for st in states] if "m" in states[0] else None
            vs = [st["v"] for st in states] if "v" in states[0] else None
            grads = [p.grad for p in bucket]
            apply_update(FOREACH_OPS, self.structure, bucket, grads, ms, vs, coefficients(t))
            for st in states:
                st["step"] = t + 1


def _refuse_set(params: object, what: str) -> None:
    """InputError for a set of parameters: its order, and so the state_dict, is not reproducible."""
    if isinstance(params, (set, frozenset)):
        raise InputError(
            f"{what} must be an ordered iterable (list or model.parameters()), not a set: "
            "a set's order is not reproducible"
        )
