"""The reference's "Your own optimizer" example (docs/usage.md), run as written, so that it cannot rot.

The test executes the python block of docs/usage.md that registers an optimizer and an inclusion
(register, register_inclusion), then imitates and checks every inclusion it declared.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import optimizers

README = Path(__file__).resolve().parents[2] / "docs" / "usage.md"


def _plugin_snippet() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    snippets = [b for b in blocks if "optimizers.register_inclusion(" in b]
    assert snippets, "docs/usage.md has no ```python block calling optimizers.register_inclusion(...)"
    return snippets[0]


def test_readme_plugin_example_registers_imitates_and_passes_its_inclusion_check(isolated_registries):
    names_before = set(optimizers.names())
    inclusions_before = {(i.narrow, i.wide) for i in optimizers.list_inclusions()}
    exec(compile(_plugin_snippet(), str(README), "exec"), {})  # noqa: S102 - our own docs
    added = [n for n in optimizers.names() if n not in names_before]
    declared = [i for i in optimizers.list_inclusions() if (i.narrow, i.wide) not in inclusions_before]
    assert added and declared
    for inc in declared:
        hp = {"learning_rate": 0.1}
        # The narrow preset's defaults include decoupled_weight_decay = 0 (which a plugin
        # optimizer may lack): imitate drops it rather than refusing the mapping.
        imitation = optimizers.imitate(inc.narrow, inc.wide, hp, epsilon=1e4)
        assert "decoupled_weight_decay" not in imitation.hparams or "decoupled_weight_decay" in (
            optimizers.get_spec(inc.wide).defaults
        )
        optimizers.create(inc.wide, [torch.zeros(2, requires_grad=True)], **imitation.hparams)
        check = optimizers.check_inclusion(inc.narrow, inc.wide, hp, (1e2, 1e4, 1e6), steps=100)
        assert check.passed, check.reason


def test_a_nonzero_value_the_wide_optimizer_lacks_is_refused(isolated_registries):
    """Only a hyperparameter left at its zero default is dropped; an active one is an error."""
    before = {(i.narrow, i.wide) for i in optimizers.list_inclusions()}
    exec(compile(_plugin_snippet(), str(README), "exec"), {})  # noqa: S102
    inc = next(i for i in optimizers.list_inclusions() if (i.narrow, i.wide) not in before)
    if "decoupled_weight_decay" in optimizers.get_spec(inc.wide).defaults:
        pytest.skip(f"{inc.wide} takes decoupled_weight_decay")
    with pytest.raises(
        ValueError, match=rf"{inc.narrow} <= {inc.wide}: decoupled_weight_decay=0\.1 cannot be carried"
    ):
        optimizers.imitate(inc.narrow, inc.wide, {"learning_rate": 0.1, "decoupled_weight_decay": 0.1})
