"""`vigil user`: add, list, disable, enable users and set their passwords, in a site's database.

```bash
vigil user add ana --role operator --config site.yaml          # asks for the password twice
VIGIL_NEW_PASSWORD=... vigil user add wall --role viewer --password-env VIGIL_NEW_PASSWORD
vigil user list --config site.yaml
vigil user disable ana --config site.yaml                       # her tokens stop working at once
vigil user passwd ana --config site.yaml
vigil user add ben --role operator --groups Harbour,"Water street" --config site.yaml
vigil user groups ben --groups Harbour --config site.yaml        # or --all: every camera again
```

``--groups`` limits the user to the cameras of those camera groups (``group:`` of each camera)
on every API route; with ``--config`` each name must be a group of a configured camera.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from config.models import VigilConfig
    from vigil.infra.db.store import Store
    from vigil.infra.db.users import UserStore

HELP = "Manage the users who may log in to the API: add, list, disable, enable, passwd, groups."

ROLES = ("viewer", "operator", "mediator", "admin")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="user_action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add a user (password from a prompt or --password-env)")
    add.add_argument("name", help="user name: letters, digits and . _ @ -")
    add.add_argument(
        "--role",
        choices=ROLES,
        required=True,
        help="viewer: cameras, alerts, sighting metadata; operator: also crops and case searches; "
        "mediator: also clip exports and case audit logs; admin: also camera stream URLs",
    )
    _password_option(add)
    _groups_option(add)
    groups = actions.add_parser("groups", help="limit a user to camera groups, or --all cameras again")
    groups.add_argument("name")
    which = groups.add_mutually_exclusive_group(required=True)
    _groups_option(which)
    which.add_argument("--all", action="store_true", help="every camera (no limit)")
    listing = actions.add_parser("list", help="list users with role, state and last login")
    disable = actions.add_parser("disable", help="disable a user: logins fail, their tokens stop working")
    disable.add_argument("name")
    enable = actions.add_parser("enable", help="enable a disabled user again")
    enable.add_argument("name")
    passwd = actions.add_parser("passwd", help="set a new password; the user's earlier tokens stop working")
    passwd.add_argument("name")
    _password_option(passwd)
    for sub in (add, groups, listing, disable, enable, passwd):
        where = sub.add_mutually_exclusive_group()
        where.add_argument("--config", type=Path, help="site YAML (its database is used)")
        where.add_argument("--db", help="database URL or SQLite path (default: vigil-data/vigil.db)")


def _groups_option(parser: argparse.ArgumentParser | argparse._MutuallyExclusiveGroup) -> None:
    parser.add_argument(
        "--groups",
        metavar="A,B",
        help="comma-separated camera groups the user is limited to (admins never are); default every camera",
    )


def _camera_groups(args: argparse.Namespace, config: VigilConfig | None) -> list[str] | None:
    from vigil.core.errors import ValidationError

    if getattr(args, "groups", None) is None:
        return None
    groups = [g.strip() for g in str(args.groups).split(",") if g.strip()]
    known = {cam.group for cam in config.cameras if cam.group} if config is not None else None
    unknown = sorted(set(groups) - known) if known is not None else []
    if unknown:
        raise ValidationError(
            f"--groups: no camera is in group(s) {unknown}; the site's groups: {sorted(known or ())}"
        )
    return groups


def _password_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-env",
        metavar="VAR",
        help="read the password from this environment variable instead of prompting (scripts)",
    )


def run(args: argparse.Namespace) -> int:
    from vigil.infra.db.store import Store
    from vigil.infra.db.users import UserStore

    url: str | Path = args.db or "vigil-data/vigil.db"
    config = None
    if args.config is not None:
        from config.loader import load_config
        from vigil.runtime import database_url

        config = load_config(args.config)
        url = database_url(config)
    with Store.open(url) as store:
        users = UserStore.for_store(store)
        action = str(args.user_action)
        if action == "list":
            return _list(users)
        if action == "add":
            from vigil.infra.db.users import Role, check_name

            check_name(args.name)  # before asking for a password
            groups = _camera_groups(args, config)
            users.add(args.name, Role(args.role), _password(args, confirm=True), camera_groups=groups)
            print(f"user {args.name!r} added with role {args.role!r}" + _scope_words(groups))
        elif action == "groups":
            groups = None if args.all else _camera_groups(args, config)
            users.set_camera_groups(args.name, groups)
            _audit_groups(store, args.name, groups)
            print(f"user {args.name!r} now sees" + (_scope_words(groups) or " every camera"))
        elif action == "passwd":
            if users.get(args.name) is None:
                from vigil.infra.db.users import UserNotFound

                raise UserNotFound(f"no user {args.name!r} (see `vigil user list`)")
            users.set_password(args.name, _password(args, confirm=True))
            print(f"password of {args.name!r} changed; their earlier tokens no longer work")
        else:
            users.set_disabled(args.name, action == "disable")
            print(f"user {args.name!r} {action}d")
    return 0


def _scope_words(groups: list[str] | None) -> str:
    return "" if groups is None else f", limited to camera groups {groups}"


def _audit_groups(store: Store, name: str, groups: list[str] | None) -> None:
    import getpass
    import time

    from vigil.infra.db.cases import AuditRecord, CaseStore

    CaseStore.for_store(store).audit(
        AuditRecord(
            at=time.time(),
            user=f"cli:{getpass.getuser()}"[:128],
            action="user.camera_groups",
            case_id=None,
            reason="vigil user groups",
            detail={"name": name, "camera_groups": groups},
        )
    )


def _password(args: argparse.Namespace, *, confirm: bool) -> str:
    import getpass
    import os

    from vigil.core.errors import ValidationError
    from vigil.infra.db.users import check_password_rules

    if args.password_env is not None:
        password = os.environ.get(args.password_env)
        if not password:
            raise ValidationError(
                f"--password-env: environment variable {args.password_env} is not set or empty"
            )
    else:
        if not sys.stdin.isatty():
            raise ValidationError("password: no terminal to ask on; use --password-env VAR")
        password = getpass.getpass(f"password for {args.name}: ")
        check_password_rules(password)
        if confirm and getpass.getpass("again: ") != password:
            raise ValidationError("password: the two entries differ")
    check_password_rules(password)
    return password


def _list(users: UserStore) -> int:
    import datetime as dt

    def when(at: float | None) -> str:
        return (
            "never"
            if at is None
            else dt.datetime.fromtimestamp(at).astimezone().strftime("%Y-%m-%d %H:%M %z")
        )

    records = users.list_users()
    if not records:
        print("no users yet: add the first admin with `vigil user add admin --role admin`")
        return 0
    rows = [("NAME", "ROLE", "STATE", "CREATED", "LAST LOGIN")]
    rows += [
        (
            u.name,
            u.role.value,
            "disabled" if u.disabled else "active",
            when(u.created_at),
            when(u.last_login_at),
        )
        for u in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def ensure_first_admin_for(config: VigilConfig, *, generate: bool) -> str | None:
    """Before serving the API: make sure someone can log in (see `vigil.infra.db.users.ensure_first_admin`).

    Args:
        config: The site; its database holds the users.
        generate: The demo: without ``VIGIL_ADMIN_PASSWORD``, create ``admin`` with a random password.

    Returns:
        A line to show the operator when an admin was created (with a generated password: shown
        this once only), or None when users existed already.

    Raises:
        ConfigError: No users and no way to create one (`vigil run` without ``VIGIL_ADMIN_PASSWORD``).
    """
    import os

    from vigil.infra.db.store import Store
    from vigil.infra.db.users import ADMIN_PASSWORD_ENV, UserStore, ensure_first_admin
    from vigil.runtime import database_url

    with Store.open(database_url(config)) as store:
        created = ensure_first_admin(UserStore.for_store(store), os.environ, generate=generate)
    if created is None:
        return None
    if created.password is None:
        return f"created user '{created.name}' (role admin) with the password from {ADMIN_PASSWORD_ENV}"
    return (
        f"login: user '{created.name}', password '{created.password}' (role admin; shown only this once, "
        f"set {ADMIN_PASSWORD_ENV} to choose it)"
    )
