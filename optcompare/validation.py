"""Typed models at the boundary: the base of every model read from a file, value types whose
errors read like the project's messages, and the translation of pydantic's ``ValidationError``
into one-line :class:`~optcompare.errors.InputError` messages.

Every message has the form ``FILE:LINE:COL: field path: message`` (``FILE: field path: message``
when the input came without YAML positions, e.g. from ``experiment.json`` on resume). Field paths
are dotted keys and bracketed list indices: ``workloads[0].steps``, ``optimizers.sgd.beta1``.

Rules that need more than one field or a registry raise :class:`FieldError` (a path below the
object being validated, and a message); :func:`reading` turns it, like a ValidationError, into
an InputError. Importable without torch or ray.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Annotated, Any, ClassVar, TypeGuard

from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError, model_validator

from optcompare.errors import InputError

__all__ = [
    "Count",
    "FieldError",
    "FiniteNumber",
    "Flag",
    "Marks",
    "Real",
    "StrictModel",
    "Text",
    "dotted",
    "integer",
    "located",
    "number",
    "one_of",
    "reading",
    "seconds",
]

Path = tuple[str | int, ...]
Marks = Mapping[Path, tuple[int, int]]
"""Field path -> (line, column), 1-based, of the YAML node that holds it (see tuning.spec.yaml_io)."""


class FieldError(ValueError):
    """A rule broken at ``path`` below the object being validated.

    ``label`` replaces the printed path where the message reads better with more than the path
    (``workloads[0] (mnist1d-mlp)``); ``path`` still locates the line. ``at_key``: the path ends
    at a key the message is about (an unknown key): the key's line is named, and the path of
    its mapping printed."""

    def __init__(
        self, path: Sequence[str | int], message: str, label: str | None = None, *, at_key: bool = False
    ) -> None:
        super().__init__(message)
        self.path: Path = tuple(path)
        self.message = message
        self.label = label
        self.at_key = at_key


def first_unknown(keys: object, allowed: Sequence[str]) -> object | None:
    """The first key (in a stable order, whatever the keys' types) not in ``allowed``."""
    unknown = sorted((k for k in keys if k not in allowed), key=repr)  # type: ignore[attr-defined]  # any iterable of keys
    return unknown[0] if unknown else None


class StrictModel(BaseModel):
    """A frozen model that refuses unknown keys, naming the first one and the allowed ones.

    ``not_a_mapping`` is the message for an input that is not a mapping (default: the keys);
    ``allowed_keys`` what an unknown key's message says is allowed (default: the model's fields;
    a model that is one of several forms also names the other form)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    not_a_mapping: ClassVar[str] = ""
    allowed_keys: ClassVar[str] = ""

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:  # noqa: ANN401
        if isinstance(data, BaseModel):
            return data
        keys = tuple(cls.model_fields)
        if not isinstance(data, dict):
            hint = cls.not_a_mapping or f"expected a mapping with keys {', '.join(keys)}"
            raise FieldError((), f"{hint}, got {data!r}" if data is not None else hint)
        unknown = first_unknown(data, keys)
        if unknown is not None:
            allowed = cls.allowed_keys or ", ".join(keys)
            raise FieldError((str(unknown),), f"unknown key {unknown!r}; allowed: {allowed}", at_key=True)
        return data


# --- value types: the validator's ValueError message is the user's message ----------------------


def _is_number(value: object) -> TypeGuard[float]:
    """An int or a float, not a bool (an int is a float as far as the checks below go)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def integer(minimum: int, *, optional: bool = False) -> Any:  # noqa: ANN401 - a type
    """An int >= ``minimum`` (not a bool, not a float); ``None`` passes when ``optional``."""

    def check(value: object) -> int | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"expected an integer >= {minimum}, got {value!r}")
        return value

    return Annotated[int | None if optional else int, PlainValidator(check)]


def number(minimum: float, *, optional: bool = False) -> Any:  # noqa: ANN401 - a type
    """A finite number >= ``minimum``, as a float; ``None`` passes when ``optional``."""

    def check(value: object) -> float | None:
        if value is None and optional:
            return None
        if not _is_number(value) or not value >= minimum:
            raise ValueError(f"expected a number >= {minimum:g}, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {value!r}")
        return float(value)

    return Annotated[float, PlainValidator(check)]


def seconds(*, optional: bool = True) -> Any:  # noqa: ANN401 - a type
    """A finite number of seconds > 0, as a float; ``None`` passes when ``optional``."""

    def check(value: object) -> float | None:
        if value is None and optional:
            return None
        if not _is_number(value) or not (0 < value < math.inf):
            raise ValueError(f"expected a finite number of seconds > 0, got {value!r}")
        return float(value)

    return Annotated[float | None if optional else float, PlainValidator(check)]


def one_of(choices: Sequence[str] | Callable[[], Sequence[str]]) -> Any:  # noqa: ANN401 - a type
    """One of the strings ``choices`` (or of what ``choices()`` returns when validating)."""

    def check(value: object) -> str:
        allowed = choices() if callable(choices) else choices
        if not isinstance(value, str) or value not in allowed:
            raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
        return value

    return Annotated[str, PlainValidator(check)]


def _finite_number(value: object) -> float:
    if not _is_number(value) or not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return value


def _real(value: object) -> float:
    if not _is_number(value):
        raise ValueError(f"expected a number, got {value!r}")
    return value


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string (quote it), got {value!r}")
    return value


Count = integer(1)
FiniteNumber = Annotated[float, PlainValidator(_finite_number)]
"""A finite int or float, kept as given (an int stays an int)."""
Real = Annotated[float, PlainValidator(_real)]
"""Any int or float, kept as given: hyperparameters cross to workers bit for bit."""
Flag = Annotated[bool, PlainValidator(_flag)]
Text = Annotated[str, PlainValidator(_text)]


# --- ValidationError -> one line ----------------------------------------------------------------


def dotted(path: Sequence[str | int]) -> str:
    """``("workloads", 0, "steps")`` -> ``workloads[0].steps``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _position(source: str, path: Sequence[str | int], marks: Marks | None) -> str:
    """``SOURCE:LINE:COL`` of the deepest marked node on ``path``, else ``SOURCE``."""
    if not marks:
        return source
    for end in range(len(path), 0, -1):
        mark = marks.get(tuple(path[:end]))
        if mark is not None:
            return f"{source}:{mark[0]}:{mark[1]}"
    return source


def located(source: str, path: Sequence[str | int] = (), marks: Marks | None = None) -> str:
    """``SOURCE:LINE:COL: PATH`` (the deepest marked node on ``path``), or ``SOURCE: PATH``."""
    where = _position(source, path, marks)
    return f"{where}: {dotted(path)}" if path else where


def _problem(error: Mapping[str, Any]) -> tuple[Path, str, str | None]:
    """(path, message, label) of one pydantic error; tags (``<...>``) and ``[key]`` dropped."""
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and (p.startswith("<") or p == "[key]")))
    cause = (error.get("ctx") or {}).get("error")
    if error["type"] == "missing":
        return loc[:-1], f"missing required key {loc[-1]!r}", None
    if isinstance(cause, FieldError):
        path = (*loc, *cause.path)
        return path, cause.message, dotted(path[:-1]) if cause.at_key else cause.label
    if isinstance(cause, ValueError):
        return loc, str(cause), None
    message = str(error["msg"])
    return loc, f"{message[:1].lower()}{message[1:]}, got {error.get('input')!r}", None


def _message(
    source: str | None, problem: tuple[Path, str, str | None], marks: Marks | None, prefix: Path
) -> str:
    path, message, label = problem
    path = (*prefix, *path)
    if label is not None and prefix:
        label = ".".join(filter(None, (dotted(prefix), label)))
    if source is None:
        text = dotted(path) if label is None else label
        return f"{text}: {message}" if text else message
    if label is None:
        return f"{located(source, path, marks)}: {message}"
    return f"{_position(source, path, marks)}: {label}: {message}" if label else f"{_position(source, path, marks)}: {message}"


@contextmanager
def reading(source: str | None, marks: Marks | None = None, prefix: Sequence[str | int] = ()) -> Iterator[None]:
    """Turn a ValidationError or FieldError raised inside into an InputError naming ``source``,
    the field path (below ``prefix``) and, with ``marks``, the line and column; the first
    problem is reported. Without a source the message starts with the field path."""
    try:
        yield
    except ValidationError as err:
        problem = _problem(err.errors(include_url=False)[0])
        raise InputError(_message(source, problem, marks, tuple(prefix))) from None
    except FieldError as err:
        label = dotted(err.path[:-1]) if err.at_key else err.label
        raise InputError(_message(source, (err.path, err.message, label), marks, tuple(prefix))) from None
