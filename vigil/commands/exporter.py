"""Who runs an evidence export from the command line (`vigil clip`, `vigil export-case`).

Without ``--user`` the exporter is the operating-system user, recorded as ``os:<name>`` (whoever
runs the command holds the database and the recordings). ``--user NAME`` names a Vigil user: their
password is read from ``VIGIL_PASSWORD`` or prompted for (getpass), checked against the user
store, and their role must cover ``mediator``. A refusal is audited as ``evidence.denied``.
"""

from __future__ import annotations

import getpass
import time
from collections.abc import Callable, Mapping

from vigil.core.errors import ValidationError
from vigil.infra.db.cases import AuditRecord, CaseStore
from vigil.infra.db.store import Store
from vigil.infra.db.users import Role, UserStore

DENIED = "evidence.denied"
"""Audit action of a refused command-line export (``user`` is the name that was tried)."""

PASSWORD_ENV = "VIGIL_PASSWORD"


class ExportDenied(ValidationError):
    """The named Vigil user may not export: unknown, disabled, wrong password or role too low."""


def resolve_exporter(
    store: Store,
    name: str | None,
    *,
    env: Mapping[str, str],
    case_id: str | None,
    reason: str,
    prompt: Callable[[str], str] = getpass.getpass,
) -> str:
    """The audited exporter name: ``os:<login>`` without `name`, else the checked Vigil user.

    Args:
        store: The open store (its user table and audit chain).
        name: ``--user`` as given, or None for the operating-system user.
        env: Environment; ``VIGIL_PASSWORD`` there is used instead of prompting.
        case_id: Case of the export, recorded on a denial.
        reason: The export's reason, recorded on a denial.
        prompt: Reads the password when the environment has none.

    Returns:
        ``os:<name>`` or the Vigil user's name.

    Raises:
        ExportDenied: Unknown or disabled user, wrong password, or a role below mediator
            (after an ``evidence.denied`` audit row).
    """
    if name is None:
        return f"os:{getpass.getuser()}"
    users = UserStore.for_store(store)
    password = env.get(PASSWORD_ENV)
    if password is None:
        password = prompt(f"Vigil password for {name}: ")
    record = users.get(name)
    why: str | None = None
    if not users.verify_password(record, password) or record is None:
        why = "wrong user name or password"
    elif record.disabled:
        why = "user is disabled"
    elif not record.role.covers(Role.MEDIATOR):
        why = f"role {record.role.value} may not export evidence (needs mediator or admin)"
    if why is None:
        return name
    CaseStore.for_store(store).audit(
        AuditRecord(
            at=time.time(),
            user=name,
            action=DENIED,
            case_id=case_id,
            reason=reason,
            detail={"why": why, "os_user": getpass.getuser()},
        )
    )
    raise ExportDenied(f"--user {name}: {why} (refused, audited as {DENIED})")
