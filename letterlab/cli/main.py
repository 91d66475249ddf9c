"""Entry point of the `letterlab` command. Imports stay light so `letterlab --help` is instant;
each command imports torch and friends only when it runs."""

from __future__ import annotations

import argparse
import importlib
import sys

from letterlab.errors import LetterlabError

# Each module registers its sub-commands with `register(subparsers)`; handlers are `args.func(args)`.
COMMAND_MODULES = [
    "letterlab.cli.train_commands",
    "letterlab.cli.data_commands",
    "letterlab.cli.report_commands",
    "letterlab.cli.review_commands",
    "letterlab.cli.inspect_commands",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="letterlab",
        description="Train, compare and understand small neural networks on 28x28 letter images (notMNIST A-J).",
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except LetterlabError as error:
        if args.debug:
            raise
        print(f"letterlab: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("letterlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
