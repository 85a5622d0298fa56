"""`vigil audit verify CONFIG`: walk the audit log's hash chain and name the first broken row.

Exit status 0 when every row links to the one before and matches its own hash (and, with
``--expect-head``, the recorded head is still there unchanged); 1 naming the first edited,
deleted or inserted row otherwise; 2 on bad arguments. The head it prints is what to write down
(or compare with a signed evidence manifest's ``audit_head``) to catch a cut-off tail later.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

HELP = "Verify the audit log's hash chain: every row intact and in place; prints the chain head."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=Path, help="site YAML (its database is checked)")
    parser.add_argument(
        "--expect-head",
        default=None,
        metavar="ID:HASH",
        help="a head printed earlier (or a manifest's audit_head): it must still be in the chain unchanged",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    from config.loader import load_config
    from vigil.infra.db.audit import ChainHead
    from vigil.infra.db.cases import CaseStore
    from vigil.infra.db.store import Store
    from vigil.runtime import database_url

    expected = None
    if args.expect_head is not None:
        try:
            expected = ChainHead.parse(args.expect_head)
        except ValueError as error:
            print(f"vigil audit verify: --expect-head: {error}", file=sys.stderr)
            return 2
    with Store.open(database_url(load_config(args.config))) as store:
        report = CaseStore.for_store(store).verify_audit(expected)
    if args.json:
        problem = report.problem
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "rows": report.rows,
                    "head": str(report.head),
                    "problem": None
                    if problem is None
                    else {"row_id": problem.row_id, "kind": problem.kind, "message": problem.message},
                }
            )
        )
    elif report.problem is None:
        print(f"audit log intact: {report.rows} row(s); head {report.head}")
    else:
        print(
            f"audit log BROKEN at row {report.problem.row_id} ({report.problem.kind}): "
            f"{report.problem.message}"
        )
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command on `argv` (without the ``audit verify`` words), as the CLI would."""
    parser = argparse.ArgumentParser(prog="vigil audit verify", description=HELP)
    add_arguments(parser)
    return run(parser.parse_args(argv))
