"""Alembic migrations for Vigil's database, applied by `vigil.db.Store.open`."""
