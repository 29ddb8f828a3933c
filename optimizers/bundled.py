"""The generalized update applied to a bundle of B trials at once, each with its own
hyperparameters.

A bundle's parameters live in one member-major matrix ``theta`` of shape ``(B, P)``: row ``i``
holds every parameter of trial ``i`` flattened and concatenated. Gradients ``g`` have the same
shape; the optimizer state ``m`` and ``v`` too. Every hyperparameter is a column ``(B, 1)``, so
one elementwise operation updates all trials and all parameters (about ten operations per step,
whatever the number of trials or parameter tensors). The equations are those of
:mod:`optimizers.generalized`, row by row: for trial ``i`` with scheduled rate ``eta_t[i]``,

    theta_i <- theta_i * (1 - eta_t[i] * decoupled_weight_decay[i])
    g_i     <- g_i + weight_decay[i] * theta_i
    v_i     <- rho[i] * v_i + (1 - rho[i]) * g_i^2                       (v0 = v_init)
    u_i     <- g_i / sqrt(v_i + eps[i])  (eps inside)   or   g_i
    m_i     <- a[i] * m_i + c[i] * s[i] * u_i                             (m0 = 0)
    n_i     <- a[i] * m_i + c[i] * s[i] * u_i  (Nesterov)   or   m_i
    theta_i <- theta_i - (eta_t[i] if lr outside else 1) * b_i(t) * n_i / d_i

with ``s[i] = eta_t[i]`` when the learning rate sits inside the buffer (RMSProp) and 1
otherwise, ``b_i(t) = sqrt(1 - rho[i]^(t+1)) / (1 - a[i]^(t+1))`` under bias correction (else
1) and ``d_i = sqrt(v_i) + eps[i]`` for eps outside the root (else 1). All trials of a bundle
take their ``t``-th update together. The result equals :class:`GeneralizedOptimizer` on each
trial alone up to floating-point rounding (the order of a few products differs).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .generalized import UpdateStructure
from .registry import get_spec, validate_hparams

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
            raise ValueError(
                f"optimizer {name!r} cannot be bundled: it is not a preset of the generalized "
                "family (register it with structure=UpdateStructure(...)), so use bundle_size: 1"
            )
        if not hparams:
            raise ValueError("a bundle needs at least one trial")
        self.name = name
        self.structure = structure
        spec = get_spec(name)
        # Structures name param-group keys (beta1, eps, ...): map the project names through the
        # spec's torch_keys, as optimizers.create does.
        resolved = [
            {spec.torch_keys.get(k, k): v for k, v in validate_hparams(name, hp).items()} for hp in hparams
        ]
        s = structure

        def column(key: str | None, default: float = 0.0, *, required: bool = False) -> torch.Tensor:
            if key is not None and required and key not in resolved[0]:
                raise ValueError(
                    f"optimizer {name!r}: its update structure reads {key!r}, which is not one of its "
                    f"hyperparameters (param-group keys: {', '.join(sorted(resolved[0]))})"
                )
            values = [hp.get(key, default) if key else default for hp in resolved]
            return torch.tensor(values, dtype=torch.float64).unsqueeze(1)

        self._a = column(s.momentum_key, required=True)
        self._c = (1.0 - self._a) if s.ema else torch.ones_like(self._a)
        self._rho = column(s.second_moment_key, required=True)
        self._eps = column("eps", required=s.eps_placement != "none")
        self._wd = column("weight_decay")
        self._dwd = column("decoupled_weight_decay")
        self.steps = 0
        self.m: torch.Tensor | None = None
        self.v: torch.Tensor | None = None
        self._cast: dict[str, torch.Tensor] = {}

    @property
    def size(self) -> int:
        """Number of trials in the bundle."""
        return int(self._a.shape[0])

    def _coef(self, name: str, like: torch.Tensor) -> torch.Tensor:
        """Hyperparameter column ``name`` as ``(B, 1)`` in ``like``'s dtype and device (cached)."""
        cached = self._cast.get(name)
        if cached is None or cached.dtype != like.dtype or cached.device != like.device:
            cached = getattr(self, f"_{name}").to(like.device, like.dtype)
            self._cast[name] = cached
        return cached

    def keep(self, rows: torch.Tensor) -> None:
        """Drop every trial not in ``rows`` (a 1-D index of the trials to keep, in order)."""
        cpu_rows = rows.cpu()
        for name in ("a", "c", "rho", "eps", "wd", "dwd"):
            setattr(self, f"_{name}", getattr(self, f"_{name}")[cpu_rows])
        if self.m is not None:
            self.m = self.m[rows.to(self.m.device)]
        if self.v is not None:
            self.v = self.v[rows.to(self.v.device)]
        self._cast.clear()

    @torch.no_grad()
    def step(self, theta: torch.Tensor, grad: torch.Tensor, lr: torch.Tensor) -> None:
        """Update ``theta`` (B, P) in place from ``grad`` (B, P) at the rates ``lr`` (B,)."""
        s = self.structure
        if theta.shape != grad.shape or theta.dim() != 2 or theta.shape[0] != self.size:
            raise ValueError(
                f"theta {tuple(theta.shape)} and grad {tuple(grad.shape)} must both be (B, P) "
                f"with B = {self.size}"
            )
        t = self.steps
        lr64 = lr.detach().to("cpu", torch.float64).reshape(-1, 1)
        eta = lr64.to(theta.device, theta.dtype)
        g = grad
        if bool((self._wd != 0).any()):
            g = g.addcmul(self._coef("wd", theta), theta)
        if bool((self._dwd != 0).any()):
            theta.mul_((1.0 - lr64 * self._dwd).to(theta.device, theta.dtype))
        inside = s.lr_placement == "inside"
        if s.second_moment_key is not None:
            if self.v is None:
                self.v = torch.full_like(theta, s.v_init)
            rho = self._coef("rho", theta)
            self.v.mul_(rho).addcmul_(g * g, 1.0 - rho)
            if s.eps_placement == "inside":
                g = g / (self.v + self._coef("eps", theta)).sqrt_()
        if s.momentum_key is not None:
            if self.m is None:
                self.m = torch.zeros_like(theta)
            a = self._coef("a", theta)
            w = self._c * lr64 if inside else self._c
            w = w.to(theta.device, theta.dtype)
            if s.ema and not inside:
                self.m.lerp_(g, w)  # a*m + (1-a)*g
            else:
                self.m.mul_(a).addcmul_(g, w)
            terms = [(self.m, a), (g, w)] if s.nesterov else [(self.m, None)]
        else:
            terms = [(g, eta if inside else None)]
        scale = lr64 if not inside else torch.ones_like(lr64)
        if s.bias_correction:
            scale = scale * torch.sqrt(1.0 - self._rho ** (t + 1)) / (1.0 - self._a ** (t + 1))
        neg_scale = (-scale).to(theta.device, theta.dtype)
        denom = None
        if s.eps_placement == "outside":
            denom = self.v.sqrt().add_(self._coef("eps", theta))
        for x, coef in terms:
            factor = neg_scale if coef is None else neg_scale * coef
            if denom is not None:
                theta.addcmul_(x / denom, factor)
            else:
                theta.addcmul_(x, factor)
        self.steps = t + 1

