"""`UserStore`: who may log in, with which role, in the store's database.

Passwords are kept only as argon2id hashes (``argon2-cffi``). A user is never deleted, only
disabled, so the audit log's names keep pointing at someone. Every password change or
disable bumps the user's ``token_version``: tokens issued before it stop working.

Logins are audited in the case audit log (`vigil.infra.db.audit.audit_log`, actions ``login`` and
``login_failed``); the failed ones there are also what the login lockout counts, so it holds
across restarts and across API processes sharing the database.
"""

from __future__ import annotations

import enum
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from vigil.core.errors import ConfigError, ValidationError
from vigil.infra.db.audit import audit_log
from vigil.infra.db.store import _BEGIN_OPTION, Store
from vigil.infra.db.tables import users

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
"""Argon2 takes any length; the cap only keeps a hostile request from hashing megabytes."""
MAX_GROUP_CHARS = 64
"""A camera group name's limit, as `config.models.CameraConfig.group`."""
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")

FIRST_ADMIN = "admin"
ADMIN_PASSWORD_ENV = "VIGIL_ADMIN_PASSWORD"

LOGIN = "login"
LOGIN_FAILED = "login_failed"
"""Audit actions of the login route (``case_id`` NULL, ``user`` the name that was tried)."""


class Role(enum.Enum):
    """What a user may do; each role may do everything the roles below it may.

    - ``viewer``: camera status, alert list and sighting metadata (a wall display).
    - ``operator``: also sees people — sighting crops — to search and triage.
    - ``mediator``: also pulls evidence for cases (clip exports, case audit logs).
    - ``admin``: also manages cameras and sees their stream URLs.
    """

    VIEWER = "viewer"
    OPERATOR = "operator"
    MEDIATOR = "mediator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def covers(self, required: Role) -> bool:
        """True if this role may do what `required` may."""
        return self.rank >= required.rank


_RANKS = {role: rank for rank, role in enumerate(Role)}


class UserExists(ValidationError):
    """A user with that name is already stored."""


class UserNotFound(ValidationError):
    """No user with that name is stored."""


@dataclass(frozen=True)
class UserRecord:
    """One user as stored (the password only as its argon2 hash)."""

    name: str
    role: Role
    password_hash: str
    disabled: bool
    token_version: int
    created_at: float
    last_login_at: float | None
    camera_groups: tuple[str, ...] | None = None
    """The camera groups this user is limited to; None sees every camera (admins always do)."""


@dataclass(frozen=True)
class FirstAdmin:
    """The admin created on a first start.

    Attributes:
        name: Its user name (``admin``).
        password: The generated password to show once, or None when it came from the environment.
    """

    name: str
    password: str | None


class UserStore:
    """The users table on the store's engine. Thread-safe like `Store`.

    Args:
        engine: The store's engine.
        hasher: Argon2 parameters for new hashes; default argon2-cffi's (RFC 9106 low-memory).
            Verification always uses the parameters stored in the hash itself.
    """

    def __init__(self, engine: sa.Engine, hasher: PasswordHasher | None = None) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None

    @classmethod
    def for_store(cls, store: Store, hasher: PasswordHasher | None = None) -> UserStore:
        """The users of an open store's database (same engine, same pool)."""
        return cls(store._engine, hasher)  # noqa: SLF001 - the store owns the one engine per database

    # -- writes ------------------------------------------------------------------------------

    def add(
        self,
        name: str,
        role: Role,
        password: str,
        *,
        now: float | None = None,
        camera_groups: Sequence[str] | None = None,
    ) -> UserRecord:
        """Store a new, enabled user, limited to `camera_groups` when given (None: every camera).

        Raises:
            ValidationError: The name or password does not meet the rules (the message says which).
            UserExists: The name is taken (disabled users keep their name).
        """
        check_name(name)
        record = UserRecord(
            name=name,
            role=role,
            password_hash=self._hash(password),
            disabled=False,
            token_version=0,
            created_at=time.time() if now is None else now,
            last_login_at=None,
            camera_groups=_groups(camera_groups),
        )
        try:
            with self._writer.begin() as conn:
                conn.execute(
                    users.insert().values(
                        name=record.name,
                        role=record.role.value,
                        password_hash=record.password_hash,
                        disabled=record.disabled,
                        token_version=record.token_version,
                        created_at=record.created_at,
                        last_login_at=None,
                        camera_groups=None if record.camera_groups is None else list(record.camera_groups),
                    )
                )
        except sa.exc.IntegrityError:
            raise UserExists(f"user {name!r} already exists") from None
        return record

    def set_password(self, name: str, password: str) -> None:
        """Replace the password; the user's earlier tokens stop working.

        Raises:
            ValidationError: The password is too short or too long.
            UserNotFound: No such user.
        """
        self._update(name, password_hash=self._hash(password), token_version=users.c.token_version + 1)

    def set_camera_groups(self, name: str, camera_groups: Sequence[str] | None) -> None:
        """Limit a user to `camera_groups` (None: every camera); takes effect on their next request.

        Raises:
            UserNotFound: No such user.
        """
        groups = _groups(camera_groups)
        self._update(name, camera_groups=None if groups is None else list(groups))

    def set_disabled(self, name: str, disabled: bool) -> None:
        """Disable (tokens stop working, logins fail) or re-enable a user.

        Raises:
            UserNotFound: No such user.
        """
        self._update(name, disabled=disabled, token_version=users.c.token_version + 1)

    def record_login(self, name: str, at: float) -> None:
        """Remember a successful login (shown by ``vigil user list``; resets the failure count)."""
        self._update(name, last_login_at=at)

    # -- reads -------------------------------------------------------------------------------

    def get(self, name: str) -> UserRecord | None:
        with self._engine.begin() as conn:
            row = conn.execute(sa.select(users).where(users.c.name == name)).mappings().first()
        return None if row is None else _user_from_row(row)

    def list_users(self) -> list[UserRecord]:
        """Every user, disabled ones included, by name."""
        query = sa.select(users).order_by(users.c.name)
        with self._engine.begin() as conn:
            return [_user_from_row(row) for row in conn.execute(query).mappings()]

    def count(self) -> int:
        with self._engine.begin() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one())

    def verify_password(self, user: UserRecord | None, password: str) -> bool:
        """True if `password` is `user`'s (disabled or not: the caller decides).

        None stands for an unknown name: it costs one hash verification like a known one, so
        the answer's timing does not tell which names exist, and is always False.
        """
        stored = user.password_hash if user is not None else self._dummy()
        # An over-long password cannot be anyone's; verify a short stand-in to keep the timing.
        fits = len(password) <= MAX_PASSWORD_CHARS
        try:
            matches = self._hasher.verify(stored, password if fits else "")
        except (VerificationError, InvalidHashError):
            return False
        return matches and fits and user is not None

    def login_failures(self, name: str, since: float) -> list[float]:
        """Times of failed logins with this name after `since`, newest first (from the audit log)."""
        after = since
        user = self.get(name)
        if user is not None and user.last_login_at is not None:
            after = max(after, user.last_login_at)  # a successful login clears the count
        query = (
            sa.select(audit_log.c.at)
            .where(
                audit_log.c.case_id.is_(None),  # the (case_id, at) index covers this
                audit_log.c.at > after,
                audit_log.c.action == LOGIN_FAILED,
                audit_log.c.user == name[:128],
            )
            .order_by(audit_log.c.at.desc())
        )
        with self._engine.begin() as conn:
            return [float(at) for at in conn.execute(query).scalars()]

    # -- internals ---------------------------------------------------------------------------

    def _hash(self, password: str) -> str:
        check_password_rules(password)
        return self._hasher.hash(password)

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        return self._dummy_hash

    def _update(self, name: str, **values: object) -> None:
        with self._writer.begin() as conn:
            result = conn.execute(users.update().where(users.c.name == name).values(**values))
        if result.rowcount != 1:
            raise UserNotFound(f"no user {name!r} (see `vigil user list`)")


def check_name(name: str) -> None:
    """Raises ValidationError unless `name` is 1-64 letters, digits and ``._@-``, starting alphanumeric."""
    if NAME_PATTERN.fullmatch(name) is None:
        raise ValidationError(
            "user name: expected 1-64 letters, digits or . _ @ - (starting with a letter or digit), "
            f"got {name!r}"
        )


def check_password_rules(password: str) -> None:
    """Raises ValidationError unless the password has MIN_PASSWORD_CHARS to MAX_PASSWORD_CHARS characters."""
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise ValidationError(
            f"password: expected {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters, got {len(password)}"
        )


def ensure_first_admin(users: UserStore, env: Mapping[str, str], *, generate: bool) -> FirstAdmin | None:
    """Make sure someone can log in: create ``admin`` when the users table is empty.

    Args:
        users: The site's users.
        env: The environment; ``VIGIL_ADMIN_PASSWORD`` there becomes the admin's password.
        generate: Without that variable, generate a random password (the demo) instead of refusing.

    Returns:
        The admin created (with the generated password, to print once), or None when users
        already existed (the variable is then ignored: it never resets a password).

    Raises:
        ConfigError: No users, no ``VIGIL_ADMIN_PASSWORD`` and `generate` is False; the message
            says how to create the first admin.
        ValidationError: ``VIGIL_ADMIN_PASSWORD`` is too short.
    """
    if users.count() > 0:
        return None
    password = env.get(ADMIN_PASSWORD_ENV) or None
    if password is None and not generate:
        raise ConfigError(
            "no users yet, so nobody could log in to the API: create the first admin with "
            "`vigil user add admin --role admin --config CONFIG`, or set "
            f"{ADMIN_PASSWORD_ENV} to create '{FIRST_ADMIN}' at start"
        )
    chosen = password if password is not None else secrets.token_urlsafe(12)
    try:
        users.add(FIRST_ADMIN, Role.ADMIN, chosen)
    except UserExists:  # another process sharing the database created it first
        return None
    return FirstAdmin(name=FIRST_ADMIN, password=None if password is not None else chosen)


def _groups(camera_groups: Sequence[str] | None) -> tuple[str, ...] | None:
    if camera_groups is None:
        return None
    groups = tuple(dict.fromkeys(g.strip() for g in camera_groups if g.strip()))
    for group in groups:
        if len(group) > MAX_GROUP_CHARS:
            raise ValidationError(f"camera group: at most {MAX_GROUP_CHARS} characters, got {group!r}")
    return groups


def _user_from_row(row: sa.RowMapping) -> UserRecord:
    return UserRecord(
        name=row["name"],
        role=Role(row["role"]),
        password_hash=row["password_hash"],
        disabled=bool(row["disabled"]),
        token_version=int(row["token_version"]),
        created_at=float(row["created_at"]),
        last_login_at=None if row["last_login_at"] is None else float(row["last_login_at"]),
        camera_groups=None if row["camera_groups"] is None else tuple(row["camera_groups"]),
    )
