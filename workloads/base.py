"""The Workload interface: what a trial trains and how it is measured.

A workload declares its constants as class attributes (batch size, step budget, evaluation
interval, target, the data it expects) and implements two methods: :meth:`Workload.load_splits`
(read or generate the data) and :meth:`Workload.build_model` (a model for a seed). Batching,
evaluation and the training loop (:mod:`workloads.run`) are shared; workloads whose data do not
fit in memory (ImageNet, LM1B) override :meth:`Workload.train_batches`,
:meth:`Workload.eval_batches` and :meth:`Workload.train_eval_split`.

When the loop calls what:

1. :meth:`Workload.data` once per trial (loads and caches the splits on first use, after
   :meth:`Workload.check_data`), then :meth:`Workload.train_eval_split` for the training subset
   that evaluations measure;
2. :meth:`Workload.build_model` with the trial's seed;
3. :meth:`Workload.train_batches` once: an endless iterator of ``(x, y)`` minibatches, already
   augmented (:meth:`Workload.train_transform`);
4. :meth:`Workload.loss` every step and :meth:`Workload.evaluate` at each evaluation.

Error and loss are per predicted target: one per example for classifiers, one per character or
token for language models (targets equal to :data:`IGNORE_INDEX` are padding and not counted).
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from optcompare.errors import InputError
from optcompare.schema import TARGET_METRICS

from .batches import BatchStream
from .data.text import IGNORE_INDEX

__all__ = ["IGNORE_INDEX", "Split", "Workload"]

@dataclass(frozen=True)
class Split:
    """One data split held in memory as tensors: inputs ``x`` and integer targets ``y``.

    ``y`` is ``(N,)`` class labels, or ``(N, T)`` next-token targets for sequence models.
    """

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def to(self, device: torch.device) -> Split:
        return Split(self.x.to(device), self.y.to(device))

    def take(self, index: torch.Tensor) -> Split:
        """The examples at ``index`` (a 1-D integer tensor), in that order."""
        index = index.to(self.x.device)
        return Split(self.x[index], self.y[index])


class Workload(ABC):
    """A model, its data and its training budget.

    Subclasses set the class constants and implement :meth:`load_splits` and
    :meth:`build_model`; a concrete subclass that lacks one of the constants without a default
    (``name``, ``description``, ``batch_size``, ``step_budget``, ``eval_interval``,
    ``target_value``), or sets one to a value of the wrong type, is a TypeError when it is
    defined (:data:`REQUIRED_CONSTANTS`), and so is a ``target_metric`` outside
    :data:`~optcompare.schema.TARGET_METRICS`. The default loss is cross-entropy over the last
    axis of the logits and the error is the top-1 misclassification rate (per example, or per
    position of a sequence).
    """

    name: ClassVar[str]
    description: ClassVar[str]
    """One line: model, data, batch size (shown by ``optcompare list workloads``)."""
    batch_size: ClassVar[int]
    step_budget: ClassVar[int]
    """Default number of training steps. Epoch budgets are converted at the data set's
    nominal training-split size (see :attr:`budget_epochs`)."""
    eval_interval: ClassVar[int]
    target_metric: ClassVar[str] = "val_error"
    """The metric :attr:`target_value` is compared with: one of
    :data:`optcompare.schema.TARGET_METRICS` (``val_error``, ``val_loss``)."""
    target_value: ClassVar[float]
    target_spread: ClassVar[float | None] = None
    """Where the target was set by the rule of docs/method.md section 9.3 (``target_value`` = the
    median over the optimizers of their best configuration's level, rounded up): the median of
    their seed standard deviations s. The robustness check then uses the targets
    ``target_value + k s``, k = -2 .. 2. None: a target set otherwise (the check scales it by
    0.8 .. 1.2)."""
    divergence_loss: ClassVar[float] = 1e3
    """A training loss above this (or non-finite) marks the trial ``diverged``."""
    splits: ClassVar[tuple[str, ...]] = ("train", "val", "test")
    budget_epochs: ClassVar[float | None] = None
    """The paper's budget in epochs, where it is stated in epochs (informational)."""
    data_description: ClassVar[str] = "embedded: generated or shipped with optcompare; no files needed"
    """What the data are, where they come from and how the splits are made."""
    expected_files: ClassVar[tuple[str, ...]] = ()
    """Paths relative to ``data_dir`` that must exist (glob patterns allowed); empty for
    embedded workloads."""
    data_source: ClassVar[str] = ""
    """Where to get the files in :attr:`expected_files`."""
    supports_bundling: ClassVar[bool] = True
    """Whether several hyperparameter points may be trained as one vectorised bundle
    (False for models with batch statistics, i.e. batch norm)."""
    train_eval_size: ClassVar[int | None] = None
    """Evaluate the training loss on a fixed subset of this many training examples (None: all)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:  # noqa: ANN401
        """Check the interface constants of every concrete subclass as it is defined: a class
        with no abstract methods left must set each constant in :data:`REQUIRED_CONSTANTS`
        (itself or by inheritance) with a value of the declared type, else TypeError naming the
        class and the constant. Intermediate bases that still have abstract methods are not
        checked."""
        super().__init_subclass__(**kwargs)
        if _abstract_methods(cls):
            return
        for attr, (kinds, wanted) in REQUIRED_CONSTANTS.items():
            if not hasattr(cls, attr):
                raise TypeError(
                    f"workload class {cls.__qualname__} does not set the class constant {attr!r}, which every "
                    f"concrete Workload must declare (see workloads.base.Workload); add e.g. `{attr} = ...` "
                    "to the class body"
                )
            value = getattr(cls, attr)
            if not isinstance(value, kinds) or isinstance(value, bool):
                raise TypeError(
                    f"workload class {cls.__qualname__}: class constant {attr!r} is {value!r} "
                    f"({type(value).__name__}); expected {wanted}"
                )
        if not cls.name:
            raise TypeError(f"workload class {cls.__qualname__}: class constant 'name' is empty")
        if cls.target_metric not in TARGET_METRICS:
            raise TypeError(
                f"workload class {cls.__qualname__}: target_metric {cls.target_metric!r} is not one of "
                f"{TARGET_METRICS}; set it to one of them"
            )
        if not all(isinstance(s, str) for s in cls.splits):
            raise TypeError(f"workload class {cls.__qualname__}: 'splits' must be a tuple of split names (str)")

    def __init__(self, data_dir: str | Path | None = None) -> None:
        self.data_dir = None if data_dir is None else Path(data_dir).expanduser()
        self._splits: dict[str, Any] | None = None

    # -- data -------------------------------------------------------------------------------

    def check_data(self) -> None:
        """Raise :class:`~optcompare.errors.InputError` naming the expected files and where to
        get them unless every path in :attr:`expected_files` exists under ``data_dir``."""
        if not self.expected_files:
            return
        if self.data_dir is None:
            raise InputError(self._missing_message("no data_dir was given"))
        if not self.data_dir.is_dir():
            raise InputError(self._missing_message(f"data_dir {str(self.data_dir)!r} is not a directory"))
        missing = [p for p in self.expected_files if not _exists(self.data_dir, p)]
        if missing:
            raise InputError(
                self._missing_message(f"missing under {str(self.data_dir)!r}: {', '.join(missing)}")
            )

    def _missing_message(self, problem: str) -> str:
        return (
            f"workload {self.name!r}: {problem}. It expects in data_dir: "
            f"{', '.join(self.expected_files)} ({self.data_description}). {self.data_source}"
        ).strip()

    @abstractmethod
    def load_splits(self) -> dict[str, Any]:
        """Read or generate every split named in :attr:`splits` (:class:`Split` objects unless
        the workload overrides the batch methods). Called once per instance."""

    def data(self, device: torch.device) -> dict[str, Any]:
        """The splits, loaded on first use (after :meth:`check_data`) and cached on the
        instance; in-memory :class:`Split` objects are moved to ``device``."""
        if self._splits is None:
            self.check_data()
            self._splits = self.load_splits()
        if any(isinstance(s, Split) and s.x.device != device for s in self._splits.values()):
            self._splits = {
                k: s.to(device) if isinstance(s, Split) else s for k, s in self._splits.items()
            }
        return self._splits

    def train_eval_split(self, train: Any) -> Any:  # noqa: ANN401
        """The part of ``train`` that evaluations measure: all of it, or a fixed subset of
        :attr:`train_eval_size` examples (the same for every trial)."""
        size = self.train_eval_size
        if size is None or len(train) <= size:
            return train
        gen = torch.Generator().manual_seed(0)
        index = torch.randperm(len(train), generator=gen)[:size].sort().values
        return train.take(index)

    # -- model and loss ---------------------------------------------------------------------

    @abstractmethod
    def build_model(self, seed: int) -> nn.Module:
        """A freshly initialised model; the same seed gives the same initial weights."""

    declares_hidden_matrices: ClassVar[bool] = False
    """Whether :meth:`hidden_matrices` was checked for this workload's model (every built-in
    workload is, by tests/workloads/test_hidden_matrices.py); a hybrid optimizer (``muon``)
    warns when it runs on a workload that was not."""

    def hidden_matrices(self, model: nn.Module) -> list[torch.Tensor]:
        """The hidden 2-D weight matrices of ``model``: the tensors a hybrid optimizer (``muon``)
        updates with Muon, every other parameter going to AdamW. The default rule: the weights
        of the model's ``nn.Linear`` layers, except the output layer (the last one) and, when the
        model's first layer with parameters is a Linear, that input layer. Embeddings, biases,
        norms and convolution kernels are not among them (``torch.optim.Muon`` takes 2-D
        matrices only). Override it for a model this rule does not fit."""
        layers = [m for m in model.modules() if any(True for _ in m.parameters(recurse=False))]
        linear = [m for m in layers if isinstance(m, nn.Linear)]
        hidden = linear[:-1]
        if layers and linear and layers[0] is linear[0]:
            hidden = hidden[1:]
        return [m.weight for m in hidden]

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean minibatch loss: cross-entropy over the last axis, padding targets ignored."""
        if logits.dim() > 2:
            return F.cross_entropy(logits.flatten(0, -2), y.flatten())
        return F.cross_entropy(logits, y)

    # -- batches ----------------------------------------------------------------------------

    def train_transform(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augment and normalise a training batch (default: no augmentation, just
        :meth:`eval_transform`). Random draws come from ``generator`` (CPU) so that the same
        seed gives the same batches."""
        del generator
        return self.eval_transform(x)

    def eval_transform(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise an evaluation batch (identity by default)."""
        return x

    def train_batches(
        self, train: Any, seed: int, batch_size: int | None = None  # noqa: ANN401
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Endless minibatches of ``batch_size`` (default :attr:`batch_size`): each epoch a
        fresh permutation drawn from a generator seeded with ``seed``; the last incomplete batch
        of an epoch is dropped; :meth:`train_transform` is applied to each batch. A
        :class:`~workloads.batches.BatchStream`, whose position can be saved and restored
        (checkpoints); a workload that overrides this with a plain iterator cannot checkpoint
        its trials."""
        batch = int(batch_size or self.batch_size)
        if len(train) // batch == 0:
            raise InputError(
                f"workload {self.name!r}: train split has {len(train)} examples, fewer than batch_size={batch}; "
                f"use a batch size of at most {len(train)}"
            )
        return BatchStream(train, batch, seed, _derived_seed(seed, 1), self.train_transform)

    @classmethod
    def shardable(cls) -> bool:
        """Whether data-parallel trials can split this workload's minibatches over workers: it
        keeps the default :meth:`train_batches` (a :class:`~workloads.batches.BatchStream`,
        :meth:`~workloads.batches.BatchStream.shard`)."""
        return cls.train_batches is Workload.train_batches

    def eval_batches(self, split: Any, chunk: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:  # noqa: ANN401
        """The whole split in order, ``chunk`` examples at a time, through :meth:`eval_transform`."""
        for start in range(0, len(split), chunk):
            yield self.eval_transform(split.x[start : start + chunk]), split.y[start : start + chunk]

    # -- evaluation -------------------------------------------------------------------------

    eval_chunk: ClassVar[int] = 1024
    """Examples per forward pass during evaluation."""

    @torch.no_grad()
    def evaluation_sums(self, model: nn.Module, split: Any, chunk: int | None = None) -> torch.Tensor:  # noqa: ANN401
        """``[wrong, loss_sum, count]`` over the whole split in evaluation mode, as a float64
        tensor on the model's device: mispredicted targets, the summed cross-entropy and the
        number of predicted targets (padding excluded). Sums stay on the device until the end,
        so evaluation does not synchronise per chunk; data-parallel trials add the sums of
        their shards (:mod:`workloads.parallel`)."""
        was_training = model.training
        model.eval()
        totals: torch.Tensor | None = None
        for x, y in self.eval_batches(split, int(chunk or self.eval_chunk)):
            logits = model(x)
            flat = logits.reshape(-1, logits.shape[-1]).float()
            target = y.reshape(-1)
            valid = target != IGNORE_INDEX
            batch = torch.stack([
                ((flat.argmax(dim=-1) != target) & valid).sum().double(),
                F.cross_entropy(flat, target, reduction="sum").double(),
                valid.sum().double(),
            ])
            totals = batch if totals is None else totals + batch
        model.train(was_training)
        return torch.zeros(3, dtype=torch.float64) if totals is None else totals

    def evaluate(self, model: nn.Module, split: Any, chunk: int | None = None) -> tuple[float, float]:  # noqa: ANN401
        """(error rate, mean loss) over the whole split, in evaluation mode: ``wrong / count``
        and ``loss_sum / count`` of :meth:`evaluation_sums` (:func:`rates_of_sums`)."""
        return rates_of_sums(self.evaluation_sums(model, split, chunk))


def rates_of_sums(sums: torch.Tensor) -> tuple[float, float]:
    """(error rate, mean loss) of ``[wrong, loss_sum, count]`` (:meth:`Workload.evaluation_sums`):
    NaN for both when nothing was predicted; a non-finite mean loss reads as ``inf``."""
    wrong, loss_sum, count = sums.tolist()
    if count == 0:
        return float("nan"), float("nan")
    loss = loss_sum / count
    return wrong / count, (loss if math.isfinite(loss) else math.inf)


REQUIRED_CONSTANTS: dict[str, tuple[tuple[type, ...], str]] = {
    "name": ((str,), "str"),
    "description": ((str,), "str"),
    "batch_size": ((numbers.Integral,), "int"),
    "step_budget": ((numbers.Integral,), "int"),
    "eval_interval": ((numbers.Integral,), "int"),
    "target_metric": ((str,), "str"),
    "target_value": ((numbers.Real,), "real number"),
    "divergence_loss": ((numbers.Real,), "real number"),
    "splits": ((tuple,), "tuple of split names"),
}
"""Class constants of :class:`Workload` that every concrete subclass must have (set by the
subclass or inherited), with their accepted types; checked when the subclass is defined."""


def _abstract_methods(cls: type) -> set[str]:
    """Names of the abstract methods ``cls`` still has. ``ABCMeta`` sets
    ``__abstractmethods__`` only after ``__init_subclass__`` runs, so this repeats its rule."""
    names = {name for name, value in vars(cls).items() if getattr(value, "__isabstractmethod__", False)}
    for base in cls.__bases__:
        for name in getattr(base, "__abstractmethods__", ()):
            if getattr(getattr(cls, name, None), "__isabstractmethod__", False):
                names.add(name)
    return names


def _exists(root: Path, pattern: str) -> bool:
    if any(ch in pattern for ch in "*?["):
        return any(root.glob(pattern))
    return (root / pattern).exists()


def _derived_seed(seed: int, stream: int) -> int:
    """A seed for an independent random stream ``stream`` of a trial seeded with ``seed``."""
    return (int(seed) * 1_000_003 + stream * 7_919) % (2**63)
