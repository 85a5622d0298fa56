"""The `vigil` command line: one subcommand per module in `vigil/commands/`."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

# (words, module): words are the subcommand path, e.g. ("eval", "track").
COMMANDS: list[tuple[tuple[str, ...], str]] = [
    (("demo",), "vigil.commands.demo"),
    (("run",), "vigil.commands.run"),
    (("sim",), "vigil.commands.sim"),
    (("check-config",), "vigil.commands.check_config"),
    (("eval", "track"), "vigil.commands.eval_track"),
    (("eval", "detect"), "vigil.commands.eval_detect"),
    (("eval", "search"), "vigil.commands.eval_search"),
    (("eval", "rules"), "vigil.commands.eval_rules"),
    (("bench", "pipeline"), "vigil.commands.bench_pipeline"),
    (("bench", "track"), "vigil.commands.bench_track"),
    (("bench", "detect"), "vigil.commands.bench_detect"),
    (("bench", "ingest"), "vigil.commands.bench_ingest"),
    (("bench", "bus"), "vigil.commands.bench_bus"),
    (("bench", "soak"), "vigil.commands.bench_soak"),
    (("bench", "console"), "vigil.commands.bench_console"),
    (("bench", "rules"), "vigil.commands.bench_rules"),
    (("bench", "site"), "vigil.commands.bench_site"),
    (("chaos",), "vigil.commands.chaos"),
    (("clip",), "vigil.commands.clip"),
    (("export-case",), "vigil.commands.export_case"),
    (("backscan",), "vigil.commands.backscan"),
    (("backtest",), "vigil.commands.backtest"),
    (("user",), "vigil.commands.user"),
    (("retention",), "vigil.commands.retention"),
    (("verify",), "vigil.commands.verify"),
    (("audit", "verify"), "vigil.commands.audit"),
]

GROUPS = {
    "eval": "Measure quality against ground truth (MOTChallenge data).",
    "bench": "Side-by-side performance benchmarks: Vigil against a baseline, same input, one run.",
    "audit": "The audit log: check its hash chain.",
}


def _available() -> list[tuple[tuple[str, ...], ModuleType]]:
    found = []
    for words, name in COMMANDS:
        try:
            found.append((words, importlib.import_module(name)))
        except ModuleNotFoundError as error:
            if error.name != name:  # the module exists but one of its imports is missing: a real bug
                raise
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vigil",
        description="Vigil: video analytics for a community CCTV control room. Finds people by what they "
        "look like (clothing colours, appearance, size), never by who they are.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    top = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    groups: dict[str, argparse._SubParsersAction[argparse.ArgumentParser]] = {}
    for words, module in _available():
        helptext = str(module.HELP)
        if len(words) == 1:
            sub = top.add_parser(words[0], help=helptext, description=helptext)
        else:
            if words[0] not in groups:
                group = top.add_parser(words[0], help=GROUPS[words[0]], description=GROUPS[words[0]])
                groups[words[0]] = group.add_subparsers(
                    dest="subcommand", metavar="SUBCOMMAND", required=True
                )
            sub = groups[words[0]].add_parser(words[1], help=helptext, description=helptext)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.INFO
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        # Rich's handler shares the terminal with live progress tables without tearing them.
        logging.basicConfig(
            level=level,
            format="%(name)s: %(message)s",
            handlers=[RichHandler(console=Console(stderr=True), show_path=False)],
        )
    else:
        logging.basicConfig(
            level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
        )
    # Alembic announces every plugin and migration step at INFO: only its warnings matter here.
    logging.getLogger("alembic").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    from vigil.core.errors import VigilError

    try:
        return int(args.handler(args))
    except VigilError as error:
        print(f"vigil: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
