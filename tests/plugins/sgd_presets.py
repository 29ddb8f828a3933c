"""The one registration the SGD-subclass plugins share (not a plugin itself)."""

from __future__ import annotations

import optimizers


def register_sgd_subclass(name: str, optimizer_class: type, learning_rate: float, lowest: float) -> None:
    """Register ``name``: SGD's structure stepped by ``optimizer_class`` (not bundlable, so its
    own ``step`` runs), default learning rate ``learning_rate``, and the space learning rate in
    [``lowest``, 0.1] (log), decay over the whole run to 0.1 of it."""
    optimizers.register_preset(
        name, optimizers.get_spec("sgd").structure, {"learning_rate": learning_rate, "weight_decay": 0.0},
        search_space={"learning_rate": {"min": lowest, "max": 0.1, "scaling": "log"}, "decay_steps_factor": 1.0,
                      "decay_factor": 0.1},
        optimizer_class=optimizer_class,
    )
