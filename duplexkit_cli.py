"""The one console script, ``duplexkit``: each package contributes its subcommands (thin layers over library code)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence


# Each package's argparse layer: ``add_commands(subparsers)``; order is the order of ``duplexkit --help``.
COMMAND_MODULES = ("datagen.cli", "model.cli", "recipes.cli", "benchmark.cli")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="duplexkit", description="Full-duplex spoken dialogue toolkit")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a package without commands yet; any other missing import is a bug
            if exc.name != name:
                raise
            continue
        module.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("duplexkit: interrupted; finished shards are kept, run the same command again to resume", file=sys.stderr)
        return 130
    except (ValueError, OSError, RuntimeError, KeyError) as exc:
        if args.debug or os.environ.get("DUPLEXKIT_DEBUG"):
            raise
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"duplexkit: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
