"""Alembic migrations for Vigil's database, applied by `vigil.infra.db.Store.open`."""
