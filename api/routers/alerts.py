"""``/alerts``: alerts raised by the rules, newest first, their triage, crops and live feed.

Viewers see alerts and their triage; operators triage them (acknowledge, resolve with a note,
assign, reopen: `vigil.infra.db.alerts`, each action in the alert's history and the audit
log) and see their crops. ``/alerts/live`` pushes every new alert and every triage change
(`vigil.services.alert_feed`). A user limited to camera groups (`api.scope`) sees only alerts of
their cameras: the list is filtered in SQL, any other alert is a 404 as if it did not exist, and
the live feed leaves it out.
"""

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException, Query, WebSocket, WebSocketDisconnect, status
from fastapi.responses import FileResponse

from api.auth import CurrentUser, Role, User, require_role, require_websocket_role
from api.deps import (
    CameraFilter,
    PageDep,
    ScopeDep,
    ServicesDep,
    StoreDep,
    TimeRange,
    TimeRangeDep,
    parse_time,
)
from api.errors import error_responses
from api.schemas_alerts import (
    AcknowledgeBody,
    AlertDetailPublic,
    AlertFeedMessage,
    AlertTriageList,
    AlertTriagePublic,
    AssignBody,
    HistoryPublic,
    ReopenBody,
    ResolveBody,
)
from api.scope import Scope, connection_scope, visible
from vigil.core.errors import ValidationError
from vigil.core.types import AlertKind, AlertSeverity
from vigil.infra.db import Store
from vigil.infra.db.alerts import (
    AlertNotFound,
    AlertTriageStore,
    GroupedAlert,
    TriageAction,
    TriageConflict,
    TriagedAlert,
    TriageState,
)
from vigil.infra.db.users import UserStore
from vigil.pipeline import alert_crop_path
from vigil.services.alert_feed import AlertFeed, FeedEvent, Subscription

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/alerts", tags=["alerts"], responses=error_responses(401))

_VIEWER = [Depends(require_role(Role.VIEWER))]
_OPERATOR = [Depends(require_role(Role.OPERATOR))]
_TRIAGE_ERRORS = error_responses(400, 403, 404, 409, 422)
_STATES = ", ".join(state.value for state in TriageState)
WS_TOO_SLOW = 1013
"""Close code (try again later) for a client dropped for reading the feed too slowly."""


def get_triage(store: StoreDep) -> AlertTriageStore:
    return AlertTriageStore.for_store(store)


TriageDep = Annotated[AlertTriageStore, Depends(get_triage)]


StateQuery = Annotated[
    list[str] | None,
    Query(
        max_length=3,
        description=f"Only alerts in these triage states ({_STATES}); repeat it or comma-separate.",
    ),
]
SinceQuery = Annotated[
    str | None, Query(max_length=64, description="From this time (epoch seconds or ISO-8601).")
]
UntilQuery = Annotated[
    str | None, Query(max_length=64, description="Until this time (epoch seconds or ISO-8601).")
]
GroupIdQuery = Annotated[
    str | None,
    Query(
        max_length=64,
        description="Only the alerts of this group: its first alert (whose id this is) and those that "
        "joined it.",
    ),
]
GroupedQuery = Annotated[
    bool,
    Query(
        description="The collapsed inbox: per group, its newest alert matching the filters, with "
        "group_size (how many of the group's alerts match them); count is then the number of groups. "
        "A group's id is its items' group_id, or id where group_id is null.",
    ),
]


def _window(time_range: TimeRange, since: str | None, until: str | None) -> tuple[float | None, float | None]:
    """The time window both spellings (start/since, end/until) give; 422 when it is empty."""
    start = _latest(time_range.start, parse_time("since", since))
    end = _earliest(time_range.end, parse_time("until", until))
    if start is not None and end is not None and start > end:
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"since must not be after until, got since={since!r} until={until!r}",
        )
    return start, end


@router.get("", dependencies=_VIEWER, responses=error_responses(422))
def list_alerts(
    triage: TriageDep,
    services: ServicesDep,
    scope: ScopeDep,
    time_range: TimeRangeDep,
    page: PageDep,
    camera: CameraFilter = None,
    kind: Annotated[AlertKind | None, Query(description="Only this kind of alert.")] = None,
    severity: Annotated[AlertSeverity | None, Query(description="Only alerts of this severity.")] = None,
    state: StateQuery = None,
    camera_id: Annotated[str | None, Query(max_length=64, description="Only this camera id.")] = None,
    rule: Annotated[str | None, Query(max_length=128, description="Only alerts of this rule.")] = None,
    assignee: Annotated[
        str | None, Query(max_length=64, description="Only alerts assigned to this user.")
    ] = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
    group_id: GroupIdQuery = None,
    grouped: GroupedQuery = False,
) -> AlertTriageList:
    """Alerts newest first with their triage state; every filter given must hold.

    ``camera`` / ``camera_id`` and ``start`` / ``since``, ``end`` / ``until`` are synonyms; when
    both of a pair are given, both must hold. Similar alerts share a group (same rule and
    camera, same track or close in time: ``alerts:`` in the site config); ``group_id`` lists
    one group, ``grouped=true`` shows one row per group.
    """
    start, end = _window(time_range, since, until)
    cameras = {c for c in (camera, camera_id) if c is not None}
    if len(cameras) > 1:
        return AlertTriageList(items=[], count=0)  # two different cameras: nothing is on both
    if grouped and group_id is not None:
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail="grouped: one group (group_id) is one row; ask for either, not both",
        )
    lister = triage.list_groups if grouped else partial(triage.list_alerts, group_id=group_id)
    rows, total = lister(
        camera_id=next(iter(cameras), None),
        kind=kind,
        severity=severity,
        rule=rule,
        states=_states(state),
        assignee=assignee,
        start=start,
        end=end,
        limit=page.limit,
        offset=page.offset,
        cameras=scope,
    )
    items = [_public(row, services.data_dir) for row in rows]
    return AlertTriageList(items=items, count=total)


@router.websocket("/live")
async def watch_alerts(
    websocket: WebSocket, user: Annotated[User, Depends(require_websocket_role(Role.VIEWER))]
) -> None:
    """Every new alert and every triage change, one JSON `AlertFeedMessage` per message.

    Needs role viewer: a bearer header, or the console's session cookie (same origin). A client
    that falls too far behind is closed with code 1013; it reconnects and reloads ``GET /alerts``.
    A user limited to camera groups gets only their cameras' alerts (scope read on connecting).
    """
    services = websocket.app.state.services
    feed: AlertFeed = services.alert_feed
    data_dir: Path = services.data_dir
    scope = connection_scope(websocket, user)
    await websocket.accept()
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()

    # Called on the publisher's thread (bus, API worker): hand over to the event loop.
    def wake_up() -> None:
        loop.call_soon_threadsafe(wake.set)

    subscription = feed.subscribe(wake_up)
    receiver = asyncio.ensure_future(_until_disconnect(websocket))
    try:
        while True:
            waiter = asyncio.ensure_future(wake.wait())
            await asyncio.wait({waiter, receiver}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if receiver.done():  # the client went away
                return
            wake.clear()
            if not await _send_queued(websocket, subscription, data_dir, scope):
                return
    except WebSocketDisconnect:
        pass
    finally:
        subscription.close()
        receiver.cancel()


@router.get("/{alert_id}", dependencies=_VIEWER, responses=error_responses(404))
def read_alert(alert_id: str, triage: TriageDep, services: ServicesDep, scope: ScopeDep) -> AlertDetailPublic:
    """The alert, its triage state and its history."""
    return _detail(triage, _visible_alert(triage, alert_id, scope), services.data_dir)


@router.post("/{alert_id}/acknowledge", dependencies=_OPERATOR, responses=_TRIAGE_ERRORS)
def acknowledge_alert(
    alert_id: str,
    user: CurrentUser,
    triage: TriageDep,
    services: ServicesDep,
    scope: ScopeDep,
    body: Annotated[AcknowledgeBody | None, Body()] = None,
) -> AlertDetailPublic:
    """Someone is on it. Again on an acknowledged alert: recorded too; on a resolved one: 409."""
    note = None if body is None else body.note
    return _act(triage, services, scope, alert_id, TriageAction.ACKNOWLEDGE, user.name, note)


@router.post("/{alert_id}/resolve", dependencies=_OPERATOR, responses=_TRIAGE_ERRORS)
def resolve_alert(
    alert_id: str,
    body: ResolveBody,
    user: CurrentUser,
    triage: TriageDep,
    services: ServicesDep,
    scope: ScopeDep,
) -> AlertDetailPublic:
    """Done with it; the note says what was found. A resolved alert: 409."""
    return _act(triage, services, scope, alert_id, TriageAction.RESOLVE, user.name, body.note)


@router.post("/{alert_id}/assign", dependencies=_OPERATOR, responses=_TRIAGE_ERRORS)
def assign_alert(
    alert_id: str,
    body: AssignBody,
    user: CurrentUser,
    triage: TriageDep,
    services: ServicesDep,
    scope: ScopeDep,
) -> AlertDetailPublic:
    """Give it to an enabled operator (or higher); ``{"user": null}`` unassigns. Any state."""
    if body.user is None:
        return _act(triage, services, scope, alert_id, TriageAction.UNASSIGN, user.name, None)
    _visible_alert(triage, alert_id, scope)  # before the assignee: an unseen alert says nothing more
    _check_assignee(services.store, body.user)
    return _act(triage, services, scope, alert_id, TriageAction.ASSIGN, user.name, None, assignee=body.user)


@router.post("/{alert_id}/reopen", dependencies=_OPERATOR, responses=_TRIAGE_ERRORS)
def reopen_alert(
    alert_id: str,
    user: CurrentUser,
    triage: TriageDep,
    services: ServicesDep,
    scope: ScopeDep,
    body: Annotated[ReopenBody | None, Body()] = None,
) -> AlertDetailPublic:
    """A resolved alert becomes new again (its assignee stays). One that is not resolved: 409."""
    note = None if body is None else body.note
    return _act(triage, services, scope, alert_id, TriageAction.REOPEN, user.name, note)


@router.get(
    "/{alert_id}/crop.jpg",
    dependencies=_OPERATOR,
    response_class=FileResponse,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "The alert's crop, JPEG."},
        **error_responses(403, 404),
    },
)
def read_alert_crop(alert_id: str, triage: TriageDep, services: ServicesDep, scope: ScopeDep) -> FileResponse:
    """The triggering box with some context, as the rule saw it (privacy masks applied)."""
    item = _visible_alert(triage, alert_id, scope)
    path = _crop_file(item, services.data_dir)
    if path is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"alert {alert_id!r} has no crop")
    # Images of people: keep them out of shared caches.
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


# -- helpers ----------------------------------------------------------------------------------


def _visible_alert(triage: AlertTriageStore, alert_id: str, scope: Scope) -> TriagedAlert:
    """The alert, or the 404 of an unknown one when it is absent or outside the caller's scope."""
    item = triage.get(alert_id)
    if item is None or not visible(scope, item.alert.camera_id):
        raise _not_found(alert_id)
    return item


def _act(
    triage: AlertTriageStore,
    services: ServicesDep,
    scope: Scope,
    alert_id: str,
    action: TriageAction,
    user: str,
    note: str | None,
    *,
    assignee: str | None = None,
) -> AlertDetailPublic:
    """Apply one action, push it on the live feed, answer the alert with its history."""
    _visible_alert(triage, alert_id, scope)
    with _errors():
        item = triage.apply(alert_id, action, user, note=note, assignee=assignee)
    services.alert_feed.publish_triage(item)
    return _detail(triage, item, services.data_dir)


def _check_assignee(store: Store, name: str) -> None:
    record = UserStore.for_store(store).get(name)
    problem = None
    if record is None:
        problem = "is not a user"
    elif record.disabled:
        problem = "is disabled"
    elif not record.role.covers(Role.OPERATOR):
        problem = f"is a {record.role.value} and cannot triage alerts"
    if problem is not None:
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"user: {name!r} {problem}"
        )


def _states(values: list[str] | None) -> set[TriageState]:
    states = set()
    for value in values or []:
        for part in value.split(","):
            name = part.strip()
            try:
                states.add(TriageState(name))
            except ValueError:
                raise HTTPException(
                    status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
                    detail=f"state: expected {_STATES}, got {name[:40]!r}",
                ) from None
    return states


def _latest(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def _earliest(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _crop_file(item: TriagedAlert, data_dir: Path) -> Path | None:
    """The alert's saved crop, if it is on disk inside the data directory."""
    root = data_dir.resolve()
    path = (root / alert_crop_path(item.alert.id)).resolve()
    if not path.is_relative_to(root):
        # Alert ids come over the bus; one that walks out of the data directory is tampering.
        logger.warning("alert %r: its crop path leaves the data directory", item.alert.id)
        return None
    return path if path.is_file() else None


def _public(row: TriagedAlert | GroupedAlert, data_dir: Path) -> AlertTriagePublic:
    """The alert as the API shows it; a collapsed inbox row carries its group's size."""
    item, size = (row.item, row.size) if isinstance(row, GroupedAlert) else (row, None)
    crop_url = None if _crop_file(item, data_dir) is None else f"/alerts/{item.alert.id}/crop.jpg"
    return AlertTriagePublic.from_triaged(item, crop_url, size)


def _detail(triage: AlertTriageStore, item: TriagedAlert, data_dir: Path) -> AlertDetailPublic:
    history = [HistoryPublic.from_entry(entry) for entry in triage.history(item.alert.id)]
    return AlertDetailPublic(**_public(item, data_dir).model_dump(), history=history)


def _not_found(alert_id: str) -> HTTPException:
    return HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"alert {alert_id!r} not found")


async def _until_disconnect(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, until it goes away."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return


async def _send_queued(
    websocket: WebSocket, subscription: Subscription, data_dir: Path, scope: Scope
) -> bool:
    """Send what the feed queued (in `scope`); False once the client was dropped for being slow."""
    for event in subscription.drain():
        if not visible(scope, event.item.alert.camera_id):
            continue
        await websocket.send_json(_message(event, data_dir))
    if subscription.dropped:
        await websocket.close(code=WS_TOO_SLOW, reason="too far behind the alert feed: reload /alerts")
        return False
    return True


def _message(event: FeedEvent, data_dir: Path) -> dict[str, object]:
    message = AlertFeedMessage(type=event.kind, alert=_public(event.item, data_dir))
    return message.model_dump(mode="json")


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Turn triage errors into the API's one error shape."""
    try:
        yield
    except AlertNotFound as error:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=str(error)) from error
    except TriageConflict as error:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(error)) from error
    except ValidationError as error:
        raise HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error)) from error
