"""YAML loading with YAML 1.2 numbers: ``1e-3`` and ``1.0e4`` are floats (PyYAML reads them as
strings by default, a classic trap in hyperparameter files), and duplicate mapping keys are an
error (PyYAML keeps the last one silently, so a repeated optimizer or hyperparameter would
override the first without a word).

Errors are one line, ``PATH:LINE:COL: problem``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError

from optcompare.errors import InputError

__all__ = ["read_yaml"]

_MERGE_TAG = "tag:yaml.org,2002:merge"


class _DuplicateKeyError(ConstructorError):
    """A key repeated in one mapping (``problem_mark`` points at the repetition)."""


class _Loader(yaml.SafeLoader):
    """SafeLoader whose float resolver follows YAML 1.2 (exponent sign optional) and that refuses
    duplicate keys in a mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Mark] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue  # `<<: *anchor` merges; explicit keys may override merged ones
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:
                    continue  # unhashable: the base class reports it
                if first is not None:
                    raise _DuplicateKeyError(
                        None, None,
                        f"duplicate key {key!r} (first at line {first.line + 1}); "
                        "a key may appear only once in a mapping",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


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


def _one_line(path: Path, err: yaml.YAMLError) -> str:
    """``PATH:LINE:COL: problem`` (1-based line and column) for any PyYAML error."""
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        problem = err.problem or err.context or "syntax error"
        if err.problem and err.context:
            problem = f"{err.problem} ({err.context}" + (
                f" at line {err.context_mark.line + 1})" if err.context_mark else ")"
            )
        if not isinstance(err, _DuplicateKeyError):
            problem = f"not valid YAML: {problem}"
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        return f"{where}: {problem}"
    if isinstance(err, yaml.reader.ReaderError):  # a character YAML does not allow
        return f"{path}: not valid YAML: {err.reason} (character {err.character!r} at byte {err.position})"
    return f"{path}: not valid YAML: {' '.join(str(err).split())}"


def read_yaml(path: Path) -> Any:  # noqa: ANN401
    """Parse ``path``; InputError ``PATH:LINE:COL: problem`` when it is not valid YAML or repeats
    a key in a mapping."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text (byte {err.start}); save the file as UTF-8") from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as err:
        raise InputError(_one_line(path, err)) from None
