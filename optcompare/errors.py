"""The error types the CLI turns into exit status 2 (bad input, nothing written).

Library code says what is wrong in its own terms and never names a command-line flag: a bad
value of one parameter raises :class:`ParameterError`, whose message names the parameter
(``budget must be >= 1, got 0``). The command line knows which flag sets which parameter and
shows the same message with the flag (``--budget must be >= 1, got 0``; :func:`with_flags`).
Warnings about one parameter are :class:`ParameterText` and are renamed the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["InputError", "ParameterError", "ParameterText", "with_flags"]

_PLACEHOLDER = re.compile(r"\{name(?::([A-Za-z_][A-Za-z0-9_]*))?\}")
"""Where a :class:`ParameterText` template names a parameter: ``{name}`` the parameter the text
is about, ``{name:other}`` another one (e.g. a hint to change ``num_cpus`` in a message about
``address``)."""


class InputError(ValueError):
    """Bad user input: a config, protocol, path or option. The message says what and how to fix."""


class ParameterText(str):
    """A message about a named parameter: a plain string (each ``{name}`` of ``template``
    replaced by ``parameter``, each ``{name:other}`` by ``other``) that the command line can
    show with flags instead (:meth:`naming`).

    ``ParameterText("budget", "{name} must be >= 1, got 0")`` reads ``budget must be >= 1, got 0``.
    """

    parameter: str
    template: str

    def __new__(cls, parameter: str, template: str) -> ParameterText:
        text = super().__new__(cls, _fill(template, parameter, {}))
        text.parameter = parameter
        text.template = template
        return text

    def parameters(self) -> tuple[str, ...]:
        """Every parameter the text names, the one it is about first."""
        named = [m.group(1) or self.parameter for m in _PLACEHOLDER.finditer(self.template)]
        return tuple(dict.fromkeys([self.parameter, *named]))

    def naming(self, flags: Mapping[str, str]) -> str:
        """The message with each parameter that ``flags`` maps (e.g. to a flag) named so."""
        return _fill(self.template, self.parameter, flags)


def _fill(template: str, parameter: str, names: Mapping[str, str]) -> str:
    def name(match: re.Match[str]) -> str:
        which = match.group(1) or parameter
        return names.get(which, which)

    return _PLACEHOLDER.sub(name, template)


class ParameterError(InputError):
    """Bad value of one parameter of a library function; ``text`` is the message
    (:class:`ParameterText`)."""

    def __init__(self, parameter: str, template: str) -> None:
        self.text = ParameterText(parameter, template)
        super().__init__(self.text)

    @property
    def parameter(self) -> str:
        return self.text.parameter


def with_flags(message: object, flags: Mapping[str, str]) -> str:
    """``message`` (an error or a text) as the command line shows it: a parameter that
    ``flags`` maps to a flag is named by the flag, the others by their own names; anything else
    reads as ``str(message)``."""
    text = message.text if isinstance(message, ParameterError) else message
    if isinstance(text, ParameterText):
        return text.naming(flags)
    return str(message)
