"""``/health``: is the service up, is the database answering, how many cameras are online."""

from fastapi import APIRouter, Depends, Request

import vigil
from api.auth import public
from api.deps import ConfigDep, ServicesDep, camera_health
from api.schemas import BusBufferPublic, HealthPublic
from vigil.core.types import HealthState

router = APIRouter(prefix="/health", tags=["health"])


@router.get("", dependencies=[Depends(public())])  # load balancers and monitors: no login
def read_health(services: ServicesDep, config: ConfigDep, request: Request) -> HealthPublic:
    db_ok = services.store.ping()
    # A broken database must not turn the health check itself into a 500.
    health = camera_health(services, include_stored=db_ok)
    enabled = [camera.id for camera in config.cameras if camera.enabled]
    online = sum(1 for cid in enabled if cid in health and health[cid].state is HealthState.ONLINE)
    # Set by the runtime for a Kafka bus: returns the spool's SpoolStats, or None without one.
    buffer = getattr(request.app.state, "bus_buffer", None)
    stats = buffer() if buffer is not None else None
    return HealthPublic(
        status="ok" if db_ok else "degraded",
        version=vigil.__version__,
        db=db_ok,
        cameras_online=online,
        cameras_total=len(enabled),
        bus_buffer=BusBufferPublic.from_stats(stats) if stats is not None else None,
    )
