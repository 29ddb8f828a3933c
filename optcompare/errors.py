"""The error types the CLI turns into exit status 2 (bad input, nothing written).

Library code says what is wrong in its own terms and never names a command-line flag: a bad
value of one parameter raises :class:`ParameterError`, whose message names the parameter
(``budget must be >= 1, got 0``). The command line knows which flag sets which parameter and
shows the same message with the flag (``--budget must be >= 1, got 0``; :func:`with_flags`).
Warnings about one parameter are :class:`ParameterText` and are renamed the same way.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["InputError", "ParameterError", "ParameterText", "with_flags"]

NAME = "{name}"
"""Where a :class:`ParameterText` template puts the parameter's name."""


class InputError(ValueError):
    """Bad user input: a config, protocol, path or option. The message says what and how to fix."""


class ParameterText(str):
    """A message about one named parameter: a plain string (the ``{name}`` of ``template``
    replaced by ``parameter``) that the command line can show with a flag instead
    (:meth:`naming`).

    ``ParameterText("budget", "{name} must be >= 1, got 0")`` reads ``budget must be >= 1, got 0``.
    """

    parameter: str
    template: str

    def __new__(cls, parameter: str, template: str) -> ParameterText:
        text = super().__new__(cls, template.replace(NAME, parameter, 1))
        text.parameter = parameter
        text.template = template
        return text

    def naming(self, name: str) -> str:
        """The message with ``name`` (e.g. a flag) in place of the parameter."""
        return self.template.replace(NAME, name, 1)


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
    ``flags`` maps to a flag is named by the flag; anything else reads as ``str(message)``."""
    text = message.text if isinstance(message, ParameterError) else message
    if isinstance(text, ParameterText) and text.parameter in flags:
        return text.naming(flags[text.parameter])
    return str(message)
