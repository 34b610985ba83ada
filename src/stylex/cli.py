"""The `stylex` command line. Each subcommand parses its flags and calls one library function;
errors stylex raises on purpose are printed as one line and end with a non-zero exit code.

The subcommands live in `stylex.commands`, one module per verb; this file assembles them into
one parser and maps errors to exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from types import ModuleType

from stylex.commands import (
    archive,
    attfind,
    batch,
    demo,
    evaluate,
    explain,
    export,
    report,
    serve,
    train,
    train_classifier,
)
from stylex.errors import StylexError

# In the order `stylex --help` lists them.
COMMANDS: tuple[ModuleType, ...] = (
    train, train_classifier, attfind, explain, evaluate, report, export, archive, batch, serve,
    demo,
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stylex", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        p = sub.add_parser(command.NAME, help=command.HELP)
        command.add_arguments(p)
        p.set_defaults(func=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return dispatch(args.func, args)


def main_for(command: ModuleType, argv: list[str] | None = None, prog: str | None = None) -> int:
    """One verb as a program of its own (the scripts in the repository's export/ folder):
    the same flags, behaviour and exit codes as `stylex <verb>`."""
    parser = argparse.ArgumentParser(
        prog=prog or f"stylex {command.NAME}", description=command.HELP
    )
    command.add_arguments(parser)
    return dispatch(command.run, parser.parse_args(argv))


def dispatch(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a verb; errors stylex raises on purpose become one line on stderr and an exit code."""
    try:
        return run(args)
    except StylexError as exc:
        print(f"stylex: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("stylex: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
