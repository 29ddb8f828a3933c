"""The one error type the CLI turns into exit status 2 (bad input, nothing written)."""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input: a config, protocol, path or option. The message says what and how to fix."""
