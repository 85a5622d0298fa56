"""``/rules``: the site's alert rules (viewers read them, admins change them) and line counts.

A change goes through the site's `vigil.services.site_config.SiteControl`, like camera
administration: the whole config is validated again (a rule naming an unknown camera, zone
or line is a 422 with its YAML path, e.g. ``rules[3].line: camera 'gate' has no line 'x'
(rule 'gate-count')``), saved to the site's YAML file (the previous one kept as
``<file>.bak``), applied to the running cameras without restarting any (the camera's rules
are rebuilt; its tracks carry on) and audited with the request's ``reason``. Without ``vigil
run CONFIG`` in this process the changes answer 503; reading works on any central node.

``GET /rules/{name}/counts`` sums a line rule's stored counts (`vigil.core.types.CrossingCount`)
into the requested intervals, per direction.
"""

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status

from alerts.schedule import Schedule
from api.auth import CurrentUser, Role, require_role
from api.deps import ConfigDep, ScopeDep, StoreDep, parse_time
from api.errors import error_responses
from api.routers.camera_admin import SiteDep
from api.schemas_admin import ReasonBody
from api.schemas_rules import CountBucket, CountsPublic, RuleList, RulePublic, RuleWrite
from api.scope import Scope, visible
from config.models import LineCrossingRule, RuleSpec, VigilConfig
from vigil.core.errors import ConfigError, ServiceError
from vigil.core.types import CrossingCount
from vigil.services.site_config import (
    CameraNotFound,
    RuleExists,
    RuleNotFound,
    SiteChangeError,
    SiteFileChanged,
)

MAX_BUCKETS = 10_000
"""Most intervals one counts request may ask for (e.g. a week at one minute)."""
DEFAULT_SPAN_S = 24 * 3600.0
DEFAULT_INTERVAL_S = 3600.0

router = APIRouter(prefix="/rules", tags=["rules"], responses=error_responses(401))

_VIEWER = [Depends(require_role(Role.VIEWER))]
_ADMIN = [Depends(require_role(Role.ADMIN))]
_CHANGE_ERRORS = error_responses(403, 404, 409, 413, 422, 503)
_BODY_ERRORS = error_responses(400, 403, 404, 409, 413, 422, 503)
"""Routes that read a JSON body also answer 400 when it is not readable JSON."""
ReasonQuery = Annotated[
    str, Query(min_length=3, max_length=2000, description="Why the rule is removed (audited).")
]


@contextmanager
def _refusals() -> Iterator[None]:
    """The site service's refusals as HTTP errors (one line each)."""
    try:
        yield
    except (RuleNotFound, CameraNotFound) as error:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=str(error)) from None
    except (RuleExists, SiteFileChanged) as error:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(error)) from None
    except (SiteChangeError, ConfigError) as error:
        raise HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error)) from None
    except ServiceError as error:
        raise HTTPException(status_code=status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(error)) from None


def _public(config: VigilConfig, rule: RuleSpec, now: float | None = None) -> RulePublic:
    at = time.time() if now is None else now
    active = rule.enabled and Schedule(list(rule.schedule), config.timezone).active(at)
    return RulePublic.from_rule(rule, active)


def _find(config: VigilConfig, name: str, scope: Scope = None) -> RuleSpec:
    """The rule named `name`; 404 when there is none, or its camera is outside `scope`."""
    for rule in config.rules:
        if rule.name == name and visible(scope, rule.camera):
            return rule
    raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"rule {name!r} is not configured")


# -- reading ------------------------------------------------------------------------------------


@router.get("", dependencies=_VIEWER)
def list_rules(config: ConfigDep, scope: ScopeDep) -> RuleList:
    """Every configured rule in config order, with whether it is active now (enabled and in schedule).

    A user limited to camera groups sees only the rules of their cameras.
    """
    now = time.time()
    items = [_public(config, rule, now) for rule in config.rules if visible(scope, rule.camera)]
    return RuleList(items=items, count=len(items))


@router.get("/{name}", dependencies=_VIEWER, responses=error_responses(404))
def get_rule(name: str, config: ConfigDep, scope: ScopeDep) -> RulePublic:
    """One rule and every setting of it."""
    return _public(config, _find(config, name, scope))


@router.get("/{name}/counts", dependencies=_VIEWER, responses=error_responses(404, 422))
def rule_counts(
    name: str,
    config: ConfigDep,
    store: StoreDep,
    scope: ScopeDep,
    since: Annotated[
        str | None, Query(max_length=64, description="From (epoch seconds or ISO-8601); default a day ago.")
    ] = None,
    until: Annotated[
        str | None, Query(max_length=64, description="Until (epoch seconds or ISO-8601); default now.")
    ] = None,
    interval: Annotated[
        float, Query(ge=1, le=31 * 86400, description="Seconds per returned interval; default one hour.")
    ] = DEFAULT_INTERVAL_S,
) -> CountsPublic:
    """A line rule's crossings per direction, summed into intervals of `interval` seconds from `since`.

    A stored count falls in the interval its own start falls in; choose `interval` a multiple of
    the rule's ``count_interval_s`` for exact sums. Counts of the interval the rule is still
    counting arrive when it closes (or when the camera stops).
    """
    rule = _find(config, name, scope)
    end = parse_time("until", until)
    end = time.time() if end is None else end
    start = parse_time("since", since)
    start = end - DEFAULT_SPAN_S if start is None else start
    if start >= end:
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"since must be before until, got since={since!r} until={until!r}",
        )
    buckets = math.ceil((end - start) / interval)
    if buckets > MAX_BUCKETS:
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"interval: {buckets} intervals asked, at most {MAX_BUCKETS}; choose a longer interval "
            "or a shorter span",
        )
    if not isinstance(rule, LineCrossingRule):
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"rule {name!r} is a {rule.type} rule; only line_crossing rules count",
        )
    counts = store.list_crossing_counts(name, start, end)
    summed = sum_counts(counts, start, end, interval)
    line = next((line for line in config.camera(rule.camera).lines if line.name == rule.line), None)
    return CountsPublic(
        rule=name,
        camera_id=rule.camera,
        line=rule.line,
        in_label=line.in_label if line is not None else "",
        out_label=line.out_label if line is not None else "",
        since=start,
        until=end,
        interval_s=interval,
        buckets=summed,
        total_in=sum(bucket.count_in for bucket in summed),
        total_out=sum(bucket.count_out for bucket in summed),
    )


def sum_counts(
    counts: Sequence[CrossingCount], start: float, end: float, interval: float
) -> list[CountBucket]:
    """Counts added into intervals ``[start + k * interval, ...)`` up to `end` by their own start."""
    n = max(1, math.ceil((end - start) / interval))
    totals = [[0, 0] for _ in range(n)]
    for count in counts:
        k = int((count.start - start) // interval)
        if 0 <= k < n:
            totals[k][0] += count.count_in
            totals[k][1] += count.count_out
    return [
        CountBucket(
            start=start + k * interval,
            end=min(end, start + (k + 1) * interval),
            count_in=count_in,
            count_out=count_out,
        )
        for k, (count_in, count_out) in enumerate(totals)
    ]


# -- changing (admin) ---------------------------------------------------------------------------


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=_ADMIN, responses=_BODY_ERRORS)
def add_rule(body: RuleWrite, site: SiteDep, user: CurrentUser) -> RulePublic:
    """Add a rule; its camera runs it from the next frame on. 409: the name is taken."""
    with _refusals():
        rule = site.add_rule(body.rule, user=user.name, reason=body.reason)
    return _public(site.config, rule)


@router.put("/{name}", dependencies=_ADMIN, responses=_BODY_ERRORS)
def update_rule(name: str, body: RuleWrite, site: SiteDep, user: CurrentUser) -> RulePublic:
    """Replace a rule's settings (its type and camera too); no camera restarts."""
    with _refusals():
        rule = site.update_rule(name, body.rule, user=user.name, reason=body.reason)
    return _public(site.config, rule)


@router.post("/{name}/enable", dependencies=_ADMIN, responses=_BODY_ERRORS)
def enable_rule(name: str, body: ReasonBody, site: SiteDep, user: CurrentUser) -> RulePublic:
    """Switch a rule on."""
    with _refusals():
        rule = site.set_rule_enabled(name, True, user=user.name, reason=body.reason)
    return _public(site.config, rule)


@router.post("/{name}/disable", dependencies=_ADMIN, responses=_BODY_ERRORS)
def disable_rule(name: str, body: ReasonBody, site: SiteDep, user: CurrentUser) -> RulePublic:
    """Switch a rule off; it stays configured, its alerts and counts stay stored."""
    with _refusals():
        rule = site.set_rule_enabled(name, False, user=user.name, reason=body.reason)
    return _public(site.config, rule)


@router.delete(
    "/{name}", status_code=status.HTTP_204_NO_CONTENT, dependencies=_ADMIN, responses=_CHANGE_ERRORS
)
def remove_rule(name: str, reason: ReasonQuery, site: SiteDep, user: CurrentUser) -> Response:
    """Remove a rule; its alerts and counts stay in the database."""
    with _refusals():
        site.remove_rule(name, user=user.name, reason=reason)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
