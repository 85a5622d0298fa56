"""`vigil check-config FILE`: validate a configuration file."""

from __future__ import annotations

import argparse
import sys

HELP = "Validate a YAML config: print 'OK: <summary>' or every error with its YAML path."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="YAML configuration file, e.g. config/examples/site.yaml")


def run(args: argparse.Namespace) -> int:
    from config.loader import ConfigErrors, load_config
    from vigil.core.errors import ConfigError

    try:
        config = load_config(args.file)
    except ConfigErrors as error:
        print(f"{args.file}: {len(error.problems)} error(s)", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    except ConfigError as error:
        print(str(error), file=sys.stderr)
        return 1
    print(f"OK: {config.summary()}")
    return 0
