"""YAML loading with YAML 1.2 numbers: ``1e-3`` and ``1.0e4`` are floats (PyYAML reads them as
strings by default, a classic trap in hyperparameter files)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from optcompare.errors import InputError

__all__ = ["read_yaml"]


class _Loader(yaml.SafeLoader):
    """SafeLoader whose float resolver follows YAML 1.2 (exponent sign optional)."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:float"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def read_yaml(path: Path) -> Any:  # noqa: ANN401
    """Parse ``path``; InputError naming the file (and line) when it is not valid YAML."""
    try:
        return yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as err:
        raise InputError(f"{path}: not valid YAML: {err}") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror}") from None
