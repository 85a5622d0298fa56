"""Alembic environment for Vigil.

`vigil.infra.db.Store.open` runs migrations programmatically and hands over an open
connection (already inside the transaction that holds the migration lock) through
``config.attributes["connection"]``. For development, ``sqlalchemy.url`` in an
alembic config works too (e.g. to autogenerate a new revision).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from vigil.infra.db.tables import metadata


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("alembic env: pass a connection in config.attributes or set sqlalchemy.url")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
