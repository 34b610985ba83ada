"""The `stylex` command line. Each subcommand parses its flags and calls one library function;
every failure is printed as one line and ends with a non-zero exit code (the traceback only with
`stylex --debug ...` or STYLEX_DEBUG=1).

The subcommands live in `stylex.commands`, one module per verb; this file assembles them into
one parser and maps errors to exit codes."""

from __future__ import annotations

import argparse
import os
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
    label,
    prior,
    report,
    serve,
    train,
    train_classifier,
)
from stylex.errors import StylexError

# In the order `stylex --help` lists them.
COMMANDS: tuple[ModuleType, ...] = (
    train, train_classifier, attfind, explain, evaluate, label, prior, report, export, archive,
    batch, serve, demo,
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stylex", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of a failure (or STYLEX_DEBUG=1)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        p = sub.add_parser(command.NAME, help=command.HELP, aliases=getattr(command, "ALIASES", ()))
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
    """Run a verb; any failure becomes one line on stderr and an exit code: a StylexError its
    own, an OS error (a file, a port) 1, anything else 1 as an internal error. With --debug or
    STYLEX_DEBUG=1 the exception propagates with its traceback."""
    debug = getattr(args, "debug", False) or os.environ.get("STYLEX_DEBUG", "") not in ("", "0")
    try:
        return run(args)
    except KeyboardInterrupt:
        print("stylex: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        print(f"stylex: error: {one_line(exc)}", file=sys.stderr)
        return exc.exit_code if isinstance(exc, StylexError) else 1


def one_line(exc: BaseException) -> str:
    """What a user is told about a failure, on one line."""
    text = " ".join(str(exc).split())
    if isinstance(exc, (StylexError, OSError)):
        return text
    return f"internal error ({type(exc).__name__}: {text}); run with --debug for the traceback"


if __name__ == "__main__":
    sys.exit(main())
