"""Vigil's database: sightings, alerts and camera health behind one `Store`."""

from vigil.infra.db.store import HealthEvent, Store, StoreCounts

__all__ = ["HealthEvent", "Store", "StoreCounts"]
