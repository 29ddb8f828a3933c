"""The ``optcompare`` command line. Each subcommand lives with its package and registers itself;
modules are imported lazily so that ``--help`` and ``rank`` never load torch or ray.

Exit status: 0 success, 2 bad input (the message says what and how to fix), 1 otherwise. A
subcommand may set ``flags`` (library parameter -> flag, e.g. ``{"n_resamples": "--resamples"}``)
with ``set_defaults``: an error about such a parameter is shown with the flag's name.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from . import __version__
from .errors import InputError, with_flags

SUBCOMMAND_MODULES = ("tuning.commands.cli", "analysis.cli", "optcompare.demo")
"""Modules with a ``register(subparsers)`` function, in --help order."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="optcompare",
        description="Compare deep-learning optimizers under explicit tuning protocols "
        "(Choi et al. 2019), with Ray Tune and Parquet results.",
    )
    parser.add_argument("--version", action="version", version=f"optcompare {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMAND_MODULES:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except InputError as err:
        message = with_flags(err, getattr(args, "flags", {}))
        print(f"optcompare {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the CLI's last line of defence
        if os.environ.get("OPTCOMPARE_DEBUG"):
            traceback.print_exc()
        print(f"optcompare {args.command}: {type(err).__name__}: {err} "
              "(set OPTCOMPARE_DEBUG=1 for a traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
