"""YAML loading with YAML 1.2 numbers: ``1e-3`` and ``1.0e4`` are floats (PyYAML reads them as
strings by default, a classic trap in hyperparameter files), and duplicate mapping keys are an
error (PyYAML keeps the last one silently, so a repeated optimizer or hyperparameter would
override the first without a word).

Input is bounded: a file larger than :data:`MAX_YAML_BYTES` is refused before it is parsed, and
so is a document that aliases expand past :data:`MAX_EXPANDED_NODES` nodes (a config is data: an
anchor reused a few times, e.g. by a merge key ``<<: *base``, is fine; a "billion laughs" whose
aliases multiply is refused at the alias that crosses the bound, within milliseconds, instead of
being expanded until memory runs out). The expanded size is counted while the file is composed:
each node counts one, each alias the expanded size of the node it names.

Errors are one line, ``PATH:LINE:COL: problem``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

from optcompare.errors import InputError

__all__ = ["MAX_EXPANDED_NODES", "MAX_YAML_BYTES", "read_yaml", "read_yaml_marked"]

_MERGE_TAG = "tag:yaml.org,2002:merge"

MAX_YAML_BYTES = 10 * 2**20
"""The largest config or protocol file read (10 MiB; the shipped ones are a few KiB)."""
MAX_EXPANDED_NODES = 100_000
"""The most nodes a document may have with every alias expanded (the shipped files have a few
hundred)."""


class _DuplicateKeyError(ConstructorError):
    """A key repeated in one mapping (``problem_mark`` points at the repetition)."""


class _ExpansionError(ComposerError):
    """Aliases that expand past :data:`MAX_EXPANDED_NODES`, or an alias inside its own anchor."""


class _Loader(yaml.SafeLoader):
    """SafeLoader whose float resolver follows YAML 1.2 (exponent sign optional), that refuses
    duplicate keys in a mapping and bounds alias expansion (:data:`MAX_EXPANDED_NODES`)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._sizes: dict[int, int] = {}  # id(node) -> nodes under it, aliases expanded
        self._expanded = 0  # nodes of the document so far, aliases expanded

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node = self.anchors.get(event.anchor)
            if node is not None:
                size = self._sizes.get(id(node))
                if size is None:
                    raise _ExpansionError(
                        None, None, f"alias *{event.anchor} inside its own anchor; "
                        "a config cannot refer to itself", event.start_mark,
                    )
                self._expanded += size
                if self._expanded > MAX_EXPANDED_NODES:
                    raise _ExpansionError(
                        None, None, f"aliases expand the document past {MAX_EXPANDED_NODES} "
                        f"nodes (at *{event.anchor}, {size} nodes each time); write the values out, "
                        "a config needs no aliases that multiply", event.start_mark,
                    )
            return super().compose_node(parent, index)
        node = super().compose_node(parent, index)
        children = (
            [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode)
            else node.value if isinstance(node, yaml.SequenceNode) else []
        )
        self._sizes[id(node)] = 1 + sum(self._sizes[id(child)] for child in children)
        self._expanded += 1
        return node

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
        if not isinstance(err, _DuplicateKeyError | _ExpansionError):
            problem = f"not valid YAML: {problem}"
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        return f"{where}: {problem}"
    if isinstance(err, yaml.reader.ReaderError):  # a character YAML does not allow
        return f"{path}: not valid YAML: {err.reason} (character {err.character!r} at byte {err.position})"
    return f"{path}: not valid YAML: {' '.join(str(err).split())}"


def _text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise InputError(
                f"{path}: {size} bytes, more than the {MAX_YAML_BYTES} a config or protocol file may "
                "have; is it the right file?"
            )
        return path.read_bytes().decode("utf-8")
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text (byte {err.start}); save the file as UTF-8") from None


def read_yaml(path: Path) -> Any:  # noqa: ANN401
    """Parse ``path``; InputError ``PATH:LINE:COL: problem`` when it is not valid YAML or repeats
    a key in a mapping."""
    return read_yaml_marked(path)[0]


def _marks(node: yaml.Node | None, path: tuple = (), out: dict | None = None) -> dict[tuple, tuple[int, int]]:
    """Field path -> (line, column), 1-based, of every node under ``node`` (mapping keys as
    written; list items by index)."""
    out = {} if out is None else out
    if node is None:
        return out
    out[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE_TAG:
                _marks(value_node, (*path, _key(key_node)), out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _marks(item, (*path, index), out)
    return out


def _key(node: yaml.ScalarNode) -> object:
    """A scalar key as the loader constructs it (``1`` an int, ``null`` None, else the text)."""
    try:
        return yaml.load(node.value, Loader=_Loader) if node.style is None else node.value  # noqa: S506
    except yaml.YAMLError:
        return node.value


def read_yaml_marked(path: Path) -> tuple[Any, dict[tuple, tuple[int, int]]]:
    """:func:`read_yaml` and the position of every node: ``{field path: (line, column)}``, so
    that a field's error can name its line (see :func:`optcompare.validation.reading`)."""
    text = _text(path)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as err:
        raise InputError(_one_line(path, err)) from None
    finally:
        loader.dispose()
    return data, _marks(node)
