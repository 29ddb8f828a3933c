"""Every ``optcompare`` command that README.md and docs/usage.md quote exists, with every flag
it is quoted with: a renamed flag or subcommand fails here instead of in a user's shell."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from optcompare.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("README.md", "docs/usage.md")
BLOCK = re.compile(r"^```[a-z]*\n(.*?)^```", re.M | re.S)
INLINE = re.compile(r"`([^`\n]*\boptcompare [a-z][^`\n]*)`")
COMMAND = re.compile(r"\boptcompare ((?:export )?[a-z][a-z-]*)(.*)")
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Subcommand name (``export optuna`` for nested ones) -> its parser."""
    out: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:  # argparse has no public accessor for subparsers
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out[name] = sub
                out.update({f"{name} {inner}": p for inner, p in _subparsers(sub).items()})
    return out


def _quoted() -> list[tuple[str, str, str]]:
    """(document, subcommand, the rest of the quoted command) for every quote."""
    found = []
    for doc in DOCS:
        text = (ROOT / doc).read_text()
        blocks = [line for block in BLOCK.findall(text) for line in block.splitlines()]
        prose = BLOCK.sub("", text)
        for quote in [*blocks, *INLINE.findall(prose)]:
            for command in COMMAND.finditer(quote.split("#")[0] if quote in blocks else quote):
                found.append((doc, command.group(1), command.group(2)))
    return found


QUOTES = _quoted()
PARSERS = _subparsers(build_parser())


def test_the_documents_quote_commands_at_all():
    assert len(QUOTES) > 40
    assert {q[1] for q in QUOTES} >= {"run", "resume", "plan", "rank", "summary", "profile", "query", "report", "demo"}


@pytest.mark.parametrize(("doc", "sub", "rest"), QUOTES, ids=[f"{d}:{s}:{i}" for i, (d, s, _) in enumerate(QUOTES)])
def test_every_quoted_command_and_flag_exists(doc, sub, rest):
    name = sub if sub in PARSERS else sub.split()[0]
    assert name in PARSERS, f"{doc} quotes `optcompare {sub}`, which is not a command"
    known = {o for a in PARSERS[name]._actions for o in a.option_strings}
    unknown = [f for f in FLAG.findall(rest) if f not in known]
    assert not unknown, f"{doc} quotes `optcompare {sub}` with {unknown}, which it does not take"
