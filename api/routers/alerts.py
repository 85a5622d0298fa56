"""``/alerts``: alerts raised by the rules, newest first."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.auth import Role, require_role
from api.deps import CameraFilter, PageDep, StoreDep, TimeRangeDep
from api.errors import error_responses
from api.schemas import AlertList, AlertPublic
from vigil.core.types import AlertKind

router = APIRouter(prefix="/alerts", tags=["alerts"], responses=error_responses(401))


@router.get("", dependencies=[Depends(require_role(Role.VIEWER))])
def list_alerts(
    store: StoreDep,
    time_range: TimeRangeDep,
    page: PageDep,
    camera: CameraFilter = None,
    kind: Annotated[AlertKind | None, Query(description="Only this kind of alert.")] = None,
) -> AlertList:
    alerts, total = store.list_alerts(
        camera_id=camera,
        start=time_range.start,
        end=time_range.end,
        kind=kind,
        limit=page.limit,
        offset=page.offset,
    )
    return AlertList(items=[AlertPublic.from_alert(alert) for alert in alerts], count=total)
