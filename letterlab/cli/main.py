"""Entry point of the `letterlab` command. Imports stay light so `letterlab --help` is instant;
each command imports torch and friends only when it runs."""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time
from pathlib import Path

from letterlab.errors import LetterlabError

# Each module registers its sub-commands with `register(subparsers)`; handlers are `args.func(args)`.
COMMAND_MODULES = [
    "letterlab.cli.train_commands",
    "letterlab.cli.data_commands",
    "letterlab.cli.report_commands",
    "letterlab.cli.review_commands",
    "letterlab.cli.inspect_commands",
    "letterlab.cli.serve_commands",
    "letterlab.cli.sweep_commands",
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
    _add_debug_to_subcommands(parser)
    return parser


def _add_debug_to_subcommands(parser: argparse.ArgumentParser) -> None:
    """Let `--debug` follow any (sub-)command too. Its default there is "unset", so that a sub-parser
    does not overwrite a `--debug` given before the command."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases share a parser
                sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show the full traceback on errors")
                _add_debug_to_subcommands(sub)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except (LetterlabError, OSError) as error:  # OSError: disk full, permissions, files vanishing
        if args.debug:
            raise
        problem = f"{error.filename}: {error.strerror}" if isinstance(error, OSError) and error.filename else error
        print(f"letterlab: error: {problem}", file=sys.stderr)
        return getattr(error, "exit_code", 2)
    except KeyboardInterrupt as error:  # training raises it with a message saying what is kept
        print(f"letterlab: interrupted{': ' + str(error) if str(error) else ''}", file=sys.stderr)
        return 130
    except Exception as error:  # a bug of ours, not the user's input: still one line, and the way to see more
        if args.debug:
            raise
        print(f"letterlab: internal error: {type(error).__name__}: {error} (run again with --debug for the traceback)", file=sys.stderr)
        return 1


# Process settings read only at start-up, hence one re-exec of the `letterlab` command (a user's own
# values win). glibc hands freed memory back to the OS eagerly, so the CNN's large activations were
# mapped and unmapped every step (several times slower; docs/performance.md). These keep it.
MALLOC_SETTINGS = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 40)}


def process_settings(argv: list[str]) -> dict[str, str]:
    """The allocator settings, plus passive OpenMP waiting when the machine is busy or the command
    is `serve`: threads that spin while waiting steal the cores of other busy processes (two
    trainings on 2 cores: 1,949 images/s spinning against 49,705 waiting passively), and a server's
    compute threads must leave its event loop a core. On an idle machine spinning is kept: a small
    MLP waiting passively ran 4-5x slower (docs/performance.md)."""
    settings = dict(MALLOC_SETTINGS)
    command = next((word for word in argv if not word.startswith("-")), None)
    if command == "serve" or machine_busy():
        settings["OMP_WAIT_POLICY"] = "PASSIVE"
    return settings


def machine_busy(samples: int = 5) -> bool:
    """Whether other processes keep at least half the cores busy, both over the last minute (the
    load average) and now (the median of a few `runnable_threads` readings over ~10 ms, less this
    thread). The load average alone lags: for a minute after a job ends it still says busy."""
    half = 0.5 * (os.cpu_count() or 1)
    if os.getloadavg()[0] < half:
        return False
    running = []
    for _ in range(samples):
        running.append(runnable_threads())
        time.sleep(0.002)
    return None in running or statistics.median(running) - 1 >= half


def runnable_threads() -> int | None:
    """The kernel's count of threads running or ready to run now (this one included); None without /proc."""
    try:
        return int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None


def entry() -> None:
    """The `letterlab` command: set the process up (once, by re-exec on Linux), then run main()."""
    if sys.platform.startswith("linux") and not all(name in os.environ for name in MALLOC_SETTINGS):
        os.execve(sys.executable, [sys.executable, "-m", "letterlab", *sys.argv[1:]], {**process_settings(sys.argv[1:]), **os.environ})
    sys.exit(main())
