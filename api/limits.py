"""Request limits: body size (ASGI middleware) and per-user rate limits on expensive routes.

- `BodyLimit` refuses a body over its limit with 413 before a route sees it: at once when
  ``Content-Length`` says so, else as soon as the streamed (chunked) bytes pass the limit.
  Photo uploads have their own, larger limit (``api.max_photo_bytes``); every other body has
  ``api.max_body_bytes``.
- `RateLimiter` keeps a token bucket per user and route: ``api.rate_burst`` requests at once,
  then ``<route>_per_minute``; over it is a 429 with ``Retry-After``. Routes declare it as a
  dependency after their role, ``Depends(rate_limit("candidates"))``, so a refused login or
  role never uses up a token.
"""

import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

from fastapi import HTTPException, Request, status
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import CurrentUser
from config.models import ApiConfig

__all__ = ["BodyLimit", "Rate", "RateLimit", "RateLimiter", "rate_limit"]


class BodyLimit:
    """ASGI middleware: at most `max_bytes` of request body, or a path's own limit.

    The body is read (and counted) before the app runs, then handed to it whole: every route
    of this API reads its body whole anyway, and a route never starts on a body it cannot have.

    Args:
        app: The application to protect.
        max_bytes: Limit for every path without its own.
        path_limits: ``(path template, limit)`` pairs, e.g. ``("/cases/{case_id}/photos", 20 MiB)``.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, path_limits: Sequence[tuple[str, int]] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self._paths = [(_template_regex(template), limit) for template, limit in path_limits]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(limit, f"{declared} bytes")(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before sending its body: nobody to answer
            body += message.get("body", b"")
            if len(body) > limit:
                await _too_large(limit, "more")(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive), send)

    def limit_for(self, path: str) -> int:
        return next((limit for pattern, limit in self._paths if pattern.fullmatch(path)), self.max_bytes)


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{[^}/]+\}", template)
    return re.compile("[^/]+".join(re.escape(part) for part in parts))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length before it gets here
    return None


def _too_large(limit: int, got: str) -> JSONResponse:
    return JSONResponse(
        {"detail": f"request body: expected at most {limit} bytes, got {got}"},
        status_code=status.HTTP_413_CONTENT_TOO_LARGE,
    )


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()  # after the body: the client's disconnect
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


@dataclass(frozen=True)
class Rate:
    """A token bucket's shape: `burst` requests at once, refilled at `per_minute`."""

    per_minute: float
    burst: int


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets per (route, user); thread-safe (sync routes run on a thread pool).

    Args:
        rates: The rate of each limited route, by name.
        clock: Monotonic seconds (tests pass their own).
    """

    def __init__(self, rates: dict[str, Rate], clock: Callable[[], float] = time.monotonic) -> None:
        self.rates = rates
        self._clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: ApiConfig, clock: Callable[[], float] = time.monotonic) -> "RateLimiter":
        burst = config.rate_burst
        return cls(
            {
                "candidates": Rate(config.candidates_per_minute, burst),
                "exports": Rate(config.exports_per_minute, burst),
                "backscans": Rate(config.backscans_per_minute, burst),
                "backtests": Rate(config.backtests_per_minute, burst),
            },
            clock,
        )

    def take(self, route: str, user: str) -> float:
        """Use one of `user`'s tokens for `route`; returns 0 if there was one, else seconds until there is."""
        rate = self.rates[route]
        per_second = rate.per_minute / 60.0
        now = self._clock()
        with self._lock:
            bucket = self._buckets.setdefault((route, user), _Bucket(float(rate.burst), now))
            bucket.tokens = min(float(rate.burst), bucket.tokens + (now - bucket.at) * per_second)
            bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / per_second


class RateLimit:
    """Dependency: one token of the caller's bucket for `route`, else 429 with ``Retry-After``."""

    def __init__(self, route: str) -> None:
        self.route = route

    def __call__(self, request: Request, user: CurrentUser) -> None:
        limiter = cast(RateLimiter, request.app.state.rate_limiter)
        wait = limiter.take(self.route, user.name)
        if wait > 0:
            retry = max(1, math.ceil(wait))
            rate = limiter.rates[self.route]
            raise HTTPException(
                status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                detail=f"{self.route}: at most {rate.per_minute:g} a minute per user after a burst of "
                f"{rate.burst}; try again in {retry} s",
                headers={"Retry-After": str(retry)},
            )

    def __repr__(self) -> str:
        return f"rate_limit({self.route!r})"


def rate_limit(route: str) -> RateLimit:
    """Declare a route rate-limited per user: ``dependencies=[..., Depends(rate_limit("exports"))]``."""
    return RateLimit(route)
