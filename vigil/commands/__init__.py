"""Subcommands of the `vigil` CLI.

Each module here is one subcommand and exposes three names, so that `vigil/cli.py`
can register it without importing anything heavy:

- ``HELP``: one line shown by ``vigil --help``;
- ``add_arguments(parser)``: declares its flags on an ``argparse.ArgumentParser``;
- ``run(args) -> int``: does the work (heavy imports go inside) and returns the exit code.
"""
