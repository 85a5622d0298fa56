"""`AlertNotifier`: new alerts pushed to webhooks (signed JSON POSTs) and an MQTT broker.

The central consumer hands every newly stored alert to `AlertNotifier.notify` on the bus
thread (`vigil.runtime`). Each destination sends an alert when it is at or above the
destination's ``min_severity`` and is the first of its group (``group_id`` None), or every
alert of a group with ``group_updates: true``. `notify` only queues: each destination has a
bounded queue drained by its own thread, so a slow or dead receiver never blocks the bus or
detection. A full queue drops its oldest alert (counted). The alerts are in the database
before they get here: a destination that fails loses nothing an operator sees in the inbox.

Delivery: up to ``max_attempts`` tries per alert, waiting ``backoff_s`` × 2^(try-1) (at most
60 s) with jitter (a random 50–100 % of it) between tries; a refusal that retrying cannot
fix (HTTP 4xx other than 408/429, a missing secret) is not retried. A destination's failure
is logged once when it starts failing and once when it delivers again, never per alert;
`NotifyCollector` exposes the counters to Prometheus.

Webhook request: ``POST`` of `alert_document` as JSON with the headers

- ``X-Vigil-Timestamp``: Unix seconds when this attempt was signed;
- ``X-Vigil-Signature``: ``sha256=`` + hex HMAC-SHA256, keyed with the secret from
  ``secret_env``, of ``<timestamp>.<raw body>`` (absent when no secret is configured);
- ``X-Vigil-Delivery``: the alert id, the same on every retry (a receiver dedupes on it).

A receiver recomputes the HMAC over the timestamp header, a dot and the raw body, compares it
in constant time and refuses a timestamp more than a few minutes off its clock (`verify`).

MQTT: the same document on ``<prefix>/alerts/<camera>/<kind>`` at the configured QoS;
``<prefix>/available`` holds ``online`` (retained) while connected, and the broker publishes
``offline`` (the client's will) when Vigil goes away. paho-mqtt reconnects by itself (1 s to
30 s apart); while it is disconnected, publishes fail and are retried like HTTP ones. QoS 1
is at-least-once: a publish retried after a lost acknowledgement can arrive twice.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import logging
import os
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from config.notify import MqttConfig, NotificationsConfig, WebhookConfig
from vigil import __version__
from vigil.core.errors import VigilError
from vigil.core.records import public_values
from vigil.core.types import Alert, AlertSeverity

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Vigil-Signature"
TIMESTAMP_HEADER = "X-Vigil-Timestamp"
DELIVERY_HEADER = "X-Vigil-Delivery"
MAX_BACKOFF_S = 60.0
"""The longest wait between two tries, before jitter."""
_RANK = {AlertSeverity.INFO: 0, AlertSeverity.WARNING: 1, AlertSeverity.CRITICAL: 2}


class DeliveryError(VigilError):
    """One try to deliver an alert failed.

    Args:
        reason: Short label for metrics (``timeout``, ``connect``, ``http_5xx``, ...).
        detail: What happened, for the log.
        retry: Whether another try may succeed.
    """

    def __init__(self, reason: str, detail: str, *, retry: bool = True) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.retry = retry


# -- the message ------------------------------------------------------------------------------


def alert_document(alert: Alert, site: str) -> dict[str, Any]:
    """What a destination receives about one alert (JSON-ready).

    Keys: ``type`` ("alert"), ``site`` (the site name), ``alert`` (the alert's public fields,
    as ``GET /alerts/{id}`` has them), ``group`` (its group's id: ``group_id``, or the alert's
    own id for a first), ``first_of_group``, and ``links``: paths on Vigil's own address to the
    alert in the console, in the API, and to its crop (operator; 404 when none was saved).
    """
    values = {
        name: value.value if isinstance(value, enum.Enum) else value
        for name, value in public_values(alert).items()
    }
    if values.get("box") is not None:
        values["box"] = list(values["box"])
    return {
        "type": "alert",
        "site": site,
        "alert": values,
        "group": alert.group_id or alert.id,
        "first_of_group": alert.group_id is None,
        "links": {
            "console": f"/console/#/alerts/{alert.id}",
            "alert": f"/alerts/{alert.id}",
            "crop": f"/alerts/{alert.id}/crop.jpg",
        },
    }


def encode(document: Mapping[str, Any]) -> bytes:
    """The document as compact UTF-8 JSON, the exact bytes that are sent and signed."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def sign(key: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``, the ``X-Vigil-Signature`` value."""
    digest = hmac.new(key, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    key: bytes,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    tolerance_s: float = 300.0,
    now: float | None = None,
) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent (no replay)."""
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance_s and hmac.compare_digest(sign(key, timestamp, body), signature)


# -- transports: one try each -----------------------------------------------------------------


class Transport(Protocol):
    """Sends one alert once; raises `DeliveryError` when it did not arrive."""

    def send(self, alert: Alert, body: bytes) -> None: ...
    def start(self) -> None: ...
    def close(self) -> None: ...


class WebhookTransport:
    """One HTTP POST per try (httpx), signed when a key is given.

    Args:
        config: The webhook.
        key: HMAC key; None sends unsigned.
        clock: Epoch seconds (the signed timestamp).
    """

    def __init__(
        self, config: WebhookConfig, key: bytes | None, clock: Callable[[], float] = time.time
    ) -> None:
        self.url = config.url
        self._key = key
        self._clock = clock
        self._client = httpx.Client(
            timeout=config.timeout_s,
            follow_redirects=False,  # a redirect would be re-sent unsigned by some proxies: refuse it
            headers={"User-Agent": f"vigil/{__version__}"},
        )

    def start(self) -> None:
        pass

    def send(self, alert: Alert, body: bytes) -> None:
        timestamp = str(int(self._clock()))
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp, DELIVERY_HEADER: alert.id}
        if self._key is not None:
            headers[SIGNATURE_HEADER] = sign(self._key, timestamp, body)
        try:
            response = self._client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException as error:
            raise DeliveryError(
                "timeout", f"no answer within the timeout ({type(error).__name__})"
            ) from error
        except httpx.TransportError as error:
            raise DeliveryError("connect", str(error) or type(error).__name__) from error
        status = response.status_code
        if 200 <= status < 300:
            return
        retry = status >= 500 or status in (408, 429)
        raise DeliveryError(f"http_{status // 100}xx", f"HTTP {status}", retry=retry)

    def close(self) -> None:
        self._client.close()


class MqttTransport:
    """Publishes on an MQTT broker (paho-mqtt); its network thread reconnects by itself.

    Args:
        config: The broker.
        username / password: Credentials, if the broker needs them.
        client_id: MQTT client id (one per Vigil process).
    """

    def __init__(
        self, config: MqttConfig, *, username: str | None, password: str | None, client_id: str
    ) -> None:
        # Only a site with MQTT configured loads paho.
        from paho.mqtt import client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self._mqtt = mqtt
        self.config = config
        self.available_topic = f"{config.topic_prefix}/available"
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        if username is not None:
            self._client.username_pw_set(username, password)
        self._client.will_set(self.available_topic, "offline", qos=1, retain=True)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._connected = threading.Event()
        self._was_connected: bool | None = None
        self._closing = False

    def topic(self, alert: Alert) -> str:
        """``<prefix>/alerts/<camera>/<kind>``; MQTT's separators and wildcards in an id become ``_``."""
        camera = alert.camera_id.translate({ord(c): "_" for c in "/+#"})
        return f"{self.config.topic_prefix}/alerts/{camera}/{alert.kind.value}"

    def start(self) -> None:
        self._client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive_s)
        self._client.loop_start()

    def send(self, alert: Alert, body: bytes) -> None:
        if not self._connected.is_set():
            raise DeliveryError("not_connected", f"not connected to {self.config.host}:{self.config.port}")
        info = self._client.publish(self.topic(alert), body, qos=self.config.qos)
        if info.rc != self._mqtt.MQTT_ERR_SUCCESS:
            raise DeliveryError("publish", self._mqtt.error_string(info.rc))
        if self.config.qos == 0:
            return
        try:
            info.wait_for_publish(timeout=self.config.timeout_s)
        except (RuntimeError, ValueError) as error:
            raise DeliveryError("publish", str(error)) from error
        if not info.is_published():
            raise DeliveryError("timeout", f"no acknowledgement within {self.config.timeout_s:g} s")

    def close(self) -> None:
        self._closing = True
        if self._connected.is_set():
            info = self._client.publish(self.available_topic, "offline", qos=1, retain=True)
            info.wait_for_publish(timeout=1.0)
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if getattr(reason, "is_failure", False):
            self._state(False, f"the broker refused the connection: {reason}")
            return
        client.publish(self.available_topic, "online", qos=1, retain=True)
        self._connected.set()
        self._state(True, "")

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self._connected.clear()
        if not self._closing:
            self._state(False, f"disconnected ({reason}); reconnecting")

    def _state(self, connected: bool, why: str) -> None:
        """Log a change of connection state once, not every reconnect attempt."""
        if connected == self._was_connected:
            return
        self._was_connected = connected
        where = f"{self.config.host}:{self.config.port}"
        if connected:
            log.info("mqtt: connected to %s", where)
        else:
            log.warning("mqtt: %s: %s", where, why)


class Unusable:
    """A destination that cannot send (a secret named in the config is not in the environment)."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail

    def start(self) -> None:
        pass

    def send(self, alert: Alert, body: bytes) -> None:
        raise DeliveryError(self.reason, self.detail, retry=False)

    def close(self) -> None:
        pass


# -- one destination: queue, thread, retries, counters ----------------------------------------


@dataclass(frozen=True)
class Policy:
    """Which alerts a destination takes and how hard it tries (the config's shared fields)."""

    min_severity: AlertSeverity = AlertSeverity.WARNING
    group_updates: bool = False
    max_attempts: int = 5
    backoff_s: float = 1.0
    queue_size: int = 1000

    @classmethod
    def of(cls, config: WebhookConfig | MqttConfig) -> Policy:
        return cls(
            min_severity=AlertSeverity(config.min_severity),
            group_updates=config.group_updates,
            max_attempts=config.max_attempts,
            backoff_s=config.backoff_s,
            queue_size=config.queue_size,
        )


@dataclass(frozen=True)
class DestinationStats:
    """One destination's counters since start."""

    name: str
    kind: str
    sent: int
    retried: int
    failed: Mapping[str, int]
    dropped: Mapping[str, int]
    queued: int
    up: bool | None
    """Whether its last delivery succeeded; None before the first."""


@dataclass
class _Counters:
    sent: int = 0
    retried: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)


class Destination:
    """One webhook or broker: a bounded queue, the thread that drains it, retries and counters.

    Args:
        name: Name in logs and metrics.
        kind: ``webhook`` or ``mqtt``.
        transport: Sends one try.
        policy: Which alerts, how many tries, how long between them, queue bound.
        jitter: Returns a float in [0, 1) (the random part of each backoff).
    """

    def __init__(
        self,
        name: str,
        kind: str,
        transport: Transport,
        policy: Policy,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.name = name
        self.kind = kind
        self.transport = transport
        self.policy = policy
        self._jitter = jitter
        self._queue: deque[tuple[Alert, bytes]] = deque()
        self._ready = threading.Condition()
        self._counters = _Counters()
        self._up: bool | None = None
        self._stopping = threading.Event()
        self._deadline = float("inf")
        self._thread: threading.Thread | None = None

    def wants(self, alert: Alert) -> bool:
        """At or above the minimum severity, and the first of its group unless updates are wanted."""
        first = alert.group_id is None or self.policy.group_updates
        return first and _RANK[alert.severity] >= _RANK[self.policy.min_severity]

    def offer(self, alert: Alert, body: bytes) -> None:
        """Queue an alert; never blocks. A full queue drops its oldest alert."""
        with self._ready:
            if len(self._queue) >= self.policy.queue_size:
                self._queue.popleft()
                self._count_drop("queue_full")
            self._queue.append((alert, body))
            self._ready.notify()

    def start(self) -> None:
        self.transport.start()
        self._thread = threading.Thread(target=self._run, name=f"notify-{self.name}", daemon=True)
        self._thread.start()

    def begin_stop(self, deadline: float) -> None:
        """Take no more time than until `deadline` (monotonic seconds); returns at once."""
        with self._ready:
            self._deadline = min(self._deadline, deadline)
            self._stopping.set()
            self._ready.notify_all()

    def stop(self, deadline: float) -> None:
        """Send what is queued until `deadline` (monotonic seconds), then drop the rest (counted)."""
        self.begin_stop(deadline)
        if self._thread is not None:
            self._thread.join(timeout=max(0.0, deadline - time.monotonic()))
        with self._ready:
            left = len(self._queue)
            self._queue.clear()
            for _ in range(left):
                self._count_drop("shutdown")
        if self._thread is not None and self._thread.is_alive():
            log.warning(
                "%s %s: still sending at shutdown; left to finish in the background", self.kind, self.name
            )
        self.transport.close()

    def stats(self) -> DestinationStats:
        with self._ready:
            counters = self._counters
            return DestinationStats(
                name=self.name,
                kind=self.kind,
                sent=counters.sent,
                retried=counters.retried,
                failed=dict(counters.failed),
                dropped=dict(counters.dropped),
                queued=len(self._queue),
                up=self._up,
            )

    # -- the thread -------------------------------------------------------------------------

    def _run(self) -> None:
        while (item := self._next()) is not None:
            alert, body = item
            try:
                self._deliver(alert, body)
            except Exception:  # a bug in a transport must not end the thread
                log.exception("%s %s: unexpected error delivering alert %s", self.kind, self.name, alert.id)
                self._failed(alert, DeliveryError("error", "unexpected error", retry=False))

    def _next(self) -> tuple[Alert, bytes] | None:
        with self._ready:
            while not self._queue:
                if self._stopping.is_set():
                    return None
                self._ready.wait()
            if self._stopping.is_set() and time.monotonic() >= self._deadline:
                return None
            return self._queue.popleft()

    def _deliver(self, alert: Alert, body: bytes) -> None:
        attempt = 1
        while True:
            try:
                self.transport.send(alert, body)
            except DeliveryError as error:
                if not error.retry or attempt >= self.policy.max_attempts:
                    self._failed(alert, error)
                    return
                wait = min(MAX_BACKOFF_S, self.policy.backoff_s * 2 ** (attempt - 1))
                wait *= 0.5 + 0.5 * self._jitter()
                if not self._pause(wait):
                    with self._ready:
                        self._count_drop("shutdown")
                    return
                with self._ready:
                    self._counters.retried += 1
                attempt += 1
                continue
            self._delivered()
            return

    def _pause(self, wait: float) -> bool:
        """Wait before the next try; False when shutdown's deadline comes first."""
        end = time.monotonic() + wait
        if not self._stopping.wait(wait):
            return True
        if end > self._deadline:  # shutting down: the wait would outlast the drain
            return False
        time.sleep(max(0.0, end - time.monotonic()))
        return True

    def _delivered(self) -> None:
        with self._ready:
            self._counters.sent += 1
            was, self._up = self._up, True
            failed = sum(self._counters.failed.values())
        if was is False:
            log.info(
                "%s %s: delivering again (%d alert(s) failed in all so far)", self.kind, self.name, failed
            )

    def _failed(self, alert: Alert, error: DeliveryError) -> None:
        with self._ready:
            self._counters.failed[error.reason] = self._counters.failed.get(error.reason, 0) + 1
            was, self._up = self._up, False
        if was is not False:
            log.warning(
                "%s %s: cannot deliver alert %s (%s); alerts stay in the inbox, further failures are "
                "counted in vigil_notify_failed_total until it delivers again",
                self.kind,
                self.name,
                alert.id,
                error,
            )

    def _count_drop(self, reason: str) -> None:
        """Count a dropped alert; the caller holds the lock."""
        self._counters.dropped[reason] = self._counters.dropped.get(reason, 0) + 1


# -- all destinations -------------------------------------------------------------------------


class AlertNotifier:
    """Every configured destination; `notify` is what the central consumer calls.

    Args:
        destinations: The destinations (`from_config` builds them).
        site: The site name, in every message.
    """

    def __init__(self, destinations: Sequence[Destination], site: str) -> None:
        self.destinations = list(destinations)
        self.site = site

    @classmethod
    def from_config(
        cls,
        config: NotificationsConfig,
        site: str,
        environ: Mapping[str, str] = os.environ,
    ) -> AlertNotifier:
        """The destinations of ``notifications:``; a secret missing from `environ` disables its
        destination (every alert counted failed, reason ``no_secret``) instead of failing startup."""
        destinations: list[Destination] = []
        for name, hook in zip(config.webhook_names(), config.webhooks, strict=True):
            transport: Transport
            key = environ.get(hook.secret_env, "") if hook.secret_env else None
            if key == "":
                transport = Unusable("no_secret", f"environment variable {hook.secret_env} is not set")
            else:
                transport = WebhookTransport(hook, None if key is None else key.encode())
            destinations.append(Destination(name, "webhook", transport, Policy.of(hook)))
        if config.mqtt is not None:
            mqtt = config.mqtt
            missing = [env for env in (mqtt.username_env, mqtt.password_env) if env and not environ.get(env)]
            if missing:
                transport = Unusable("no_secret", f"environment variable(s) {', '.join(missing)} not set")
            else:
                transport = MqttTransport(
                    mqtt,
                    username=environ[mqtt.username_env] if mqtt.username_env else None,
                    password=environ[mqtt.password_env] if mqtt.password_env else None,
                    client_id=f"vigil-{site}-{socket.gethostname()}"[:64],
                )
            destinations.append(Destination("mqtt", "mqtt", transport, Policy.of(mqtt)))
        return cls(destinations, site)

    def start(self) -> None:
        for destination in self.destinations:
            destination.start()

    def notify(self, alerts: Sequence[Alert]) -> None:
        """Queue new stored alerts for the destinations that want them; never blocks."""
        for alert in alerts:
            wanting = [d for d in self.destinations if d.wants(alert)]
            if not wanting:
                continue
            body = encode(alert_document(alert, self.site))
            for destination in wanting:
                destination.offer(alert, body)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop in reverse order, sending what is queued for at most `timeout` seconds in all."""
        deadline = time.monotonic() + timeout
        for destination in self.destinations:  # every thread drains at once, to one deadline
            destination.begin_stop(deadline)
        for destination in reversed(self.destinations):
            destination.stop(deadline)

    def stats(self) -> list[DestinationStats]:
        return [destination.stats() for destination in self.destinations]


class NotifyCollector(Collector):
    """Prometheus metrics of the notifier, read at scrape time (register while it runs).

    Series, labelled by ``destination`` and ``kind`` (webhook, mqtt): ``vigil_notify_sent_total``,
    ``vigil_notify_retried_total``, ``vigil_notify_failed_total`` (+ ``reason``),
    ``vigil_notify_dropped_total`` (+ ``reason``: queue_full, shutdown),
    ``vigil_notify_queue_depth`` and ``vigil_notify_up`` (1 when the last delivery succeeded).
    """

    def __init__(self, stats: Callable[[], list[DestinationStats]]) -> None:
        self.stats = stats

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        every = self.stats()
        labels = ["destination", "kind"]
        sent = CounterMetricFamily("vigil_notify_sent", "Alerts delivered.", labels=labels)
        retried = CounterMetricFamily(
            "vigil_notify_retried", "Tries repeated after a failure.", labels=labels
        )
        failed = CounterMetricFamily(
            "vigil_notify_failed", "Alerts given up on, by the last try's reason.", labels=[*labels, "reason"]
        )
        dropped = CounterMetricFamily(
            "vigil_notify_dropped",
            "Alerts dropped unsent: queue full or shutdown.",
            labels=[*labels, "reason"],
        )
        depth = GaugeMetricFamily("vigil_notify_queue_depth", "Alerts waiting to be sent.", labels=labels)
        up = GaugeMetricFamily(
            "vigil_notify_up", "1 when the last delivery succeeded, else 0.", labels=labels
        )
        for s in every:
            key = [s.name, s.kind]
            sent.add_metric(key, s.sent)
            retried.add_metric(key, s.retried)
            for reason, count in sorted(s.failed.items()):
                failed.add_metric([*key, reason], count)
            for reason, count in sorted(s.dropped.items()):
                dropped.add_metric([*key, reason], count)
            depth.add_metric(key, s.queued)
            if s.up is not None:
                up.add_metric(key, 1.0 if s.up else 0.0)
        yield from (sent, retried, failed, dropped, depth, up)
