"""Notifications against real receivers: local HTTP servers (signature, retries, timeouts, a dead
port, a full queue, shutdown) and a real mosquitto broker started by the test."""

from __future__ import annotations

import contextlib
import getpass
import json
import logging
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from config.notify import MqttConfig, NotificationsConfig, WebhookConfig
from tests.db.test_store import make_alert
from vigil.core.events import Topic
from vigil.core.types import Alert, AlertSeverity
from vigil.infra.bus import MemoryBus
from vigil.infra.db import Store
from vigil.roles import CentralConsumer
from vigil.services.notify import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    AlertNotifier,
    Destination,
    NotifyCollector,
    Policy,
    WebhookTransport,
    alert_document,
    encode,
    sign,
    verify,
)

SECRET = "correct horse battery staple"
MOSQUITTO = Path("/usr/sbin/mosquitto")
MOSQUITTO_PASSWD = Path("/usr/bin/mosquitto_passwd")


# -- a real HTTP receiver -----------------------------------------------------------------------


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class Receiver:
    """What a local webhook receiver was sent; it answers `statuses` in turn, then 200."""

    statuses: list[int] = field(default_factory=list)
    delay_s: float = 0.0
    gate: threading.Event | None = None
    """When given, each request waits for it (a receiver that holds the line)."""
    requests: list[Received] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.status == 200]


@contextlib.contextmanager
def receiver(port: int = 0, **settings: Any) -> Iterator[Receiver]:
    state = Receiver(**settings)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if state.gate is not None:
                state.gate.wait(10)
            if state.delay_s:
                time.sleep(state.delay_s)
            with state.lock:
                status = state.statuses.pop(0) if state.statuses else 200
                state.requests.append(Received(time.monotonic(), dict(self.headers), body, status))
            try:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass  # the client gave up (timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        if state.gate is not None:
            state.gate.set()
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def notifier_for(url: str, environ: dict[str, str] | None = None, **hook: Any) -> AlertNotifier:
    settings: dict[str, Any] = {"url": url, "backoff_s": 0.05, "timeout_s": 2.0, **hook}
    config = NotificationsConfig(webhooks=[WebhookConfig(**settings)])
    return AlertNotifier.from_config(config, "Canal Street", environ=environ or {})


def scrape(notifier: AlertNotifier) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(NotifyCollector(notifier.stats))
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for metric in registry.collect()
        for sample in metric.samples
    }


# -- the message and its signature --------------------------------------------------------------


def test_document_carries_the_public_fields_site_and_links() -> None:
    alert = make_alert(id="a1", box=(1.0, 2.0, 3.0, 4.0), severity=AlertSeverity.CRITICAL, group_id=None)
    document = json.loads(encode(alert_document(alert, "Canal Street")))
    assert document["site"] == "Canal Street"
    assert document["alert"]["id"] == "a1"
    assert document["alert"]["kind"] == "zone_intrusion"
    assert document["alert"]["severity"] == "critical"
    assert document["alert"]["box"] == [1.0, 2.0, 3.0, 4.0]
    assert (document["group"], document["first_of_group"]) == ("a1", True)
    assert document["links"]["console"] == "/console/#/alerts/a1"


@pytest.mark.parametrize(
    ("key", "timestamp", "body", "age", "valid"),
    [
        (SECRET, "1000", b'{"a":1}', 0, True),  # as sent
        ("another key", "1000", b'{"a":1}', 0, False),  # wrong key
        (SECRET, "1000", b'{"a":2}', 0, False),  # body changed in transit
        (SECRET, "1001", b'{"a":1}', 0, False),  # timestamp changed: it is signed too
        (SECRET, "1000", b'{"a":1}', 301, False),  # replayed more than 5 minutes later
    ],
)
def test_verify(key: str, timestamp: str, body: bytes, age: float, valid: bool) -> None:
    signature = sign(SECRET.encode(), "1000", b'{"a":1}')
    assert verify(key.encode(), timestamp, body, signature, now=1000 + age) is valid


@pytest.mark.parametrize(
    ("policy", "alert", "wanted"),
    [
        (Policy(), make_alert(severity=AlertSeverity.WARNING), True),  # at the minimum
        (Policy(), make_alert(severity=AlertSeverity.INFO), False),  # below it
        (Policy(min_severity=AlertSeverity.CRITICAL), make_alert(severity=AlertSeverity.WARNING), False),
        (Policy(), make_alert(group_id="first"), False),  # joins a group: its first was sent
        (Policy(group_updates=True), make_alert(group_id="first"), True),  # unless updates are wanted
    ],
)
def test_which_alerts_a_destination_takes(policy: Policy, alert: Alert, wanted: bool) -> None:
    destination = Destination("d", "webhook", WebhookTransport(WebhookConfig(url="http://x"), None), policy)
    assert destination.wants(alert) is wanted


# -- webhook delivery ---------------------------------------------------------------------------


def test_signed_retried_with_backoff_and_delivered_once() -> None:
    with receiver(statuses=[500, 500]) as hook:
        notifier = notifier_for(hook.url, {"HOOK_KEY": SECRET}, secret_env="HOOK_KEY", backoff_s=0.2)
        notifier.start()
        notifier.notify([make_alert(id="a1")])
        wait_until(lambda: len(hook.accepted()) == 1)
        notifier.stop()
        assert [r.status for r in hook.requests] == [500, 500, 200]
        for request in hook.requests:  # every try signed, with its own timestamp, same delivery id
            assert verify(
                SECRET.encode(),
                request.headers[TIMESTAMP_HEADER],
                request.body,
                request.headers[SIGNATURE_HEADER],
            )
            assert request.headers[DELIVERY_HEADER] == "a1"
            assert json.loads(request.body)["alert"]["id"] == "a1"
        gaps = [b.at - a.at for a, b in zip(hook.requests, hook.requests[1:], strict=False)]
        # 0.2 s then 0.4 s, each cut to 50-100 % by the jitter
        assert 0.1 <= gaps[0] < 0.35 and 0.2 <= gaps[1] < 0.6, gaps
        metrics = scrape(notifier)
        labels = (("destination", "webhook-1"), ("kind", "webhook"))
        assert metrics[("vigil_notify_sent_total", labels)] == 1
        assert metrics[("vigil_notify_retried_total", labels)] == 2
        assert metrics[("vigil_notify_queue_depth", labels)] == 0
        assert metrics[("vigil_notify_up", labels)] == 1
        assert not any(name == "vigil_notify_failed_total" for name, _ in metrics)


def test_a_client_error_is_not_retried() -> None:
    with receiver(statuses=[401]) as hook:
        notifier = notifier_for(hook.url)
        notifier.start()
        notifier.notify([make_alert(id="a1")])
        wait_until(lambda: notifier.stats()[0].failed != {})
        notifier.stop()
        assert len(hook.requests) == 1
        assert notifier.stats()[0].failed == {"http_4xx": 1}


def test_a_receiver_that_times_out_is_counted_and_never_blocks_the_bus(tmp_path: Path) -> None:
    with receiver(delay_s=1.0) as hook, Store.open(tmp_path / "vigil.db") as store:
        notifier = notifier_for(hook.url, timeout_s=0.2, max_attempts=2)
        notifier.start()
        took: list[float] = []

        def on_alerts(alerts: Sequence[Alert]) -> None:
            began = time.perf_counter()
            notifier.notify(alerts)
            took.append(time.perf_counter() - began)

        bus = MemoryBus()
        CentralConsumer(bus, store, on_alerts=on_alerts).attach()
        bus.start()
        for i in range(5):
            bus.publish(Topic.ALERTS, "cam1", make_alert(id=f"a{i}", timestamp=100 + i))
        bus.stop()
        # The bus handed the alerts on at once; the receiver's slowness is the sender thread's.
        assert len(took) >= 1 and max(took) < 0.05, took
        assert store.counts().alerts == 5  # stored regardless
        wait_until(lambda: sum(notifier.stats()[0].failed.values()) >= 1)
        notifier.stop(timeout=0.5)
        stats = notifier.stats()[0]
        assert stats.failed.get("timeout", 0) >= 1
        assert stats.sent == 0


def test_a_dead_receiver_is_logged_once_and_its_recovery_once(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    notifier = notifier_for(f"http://127.0.0.1:{port}/hook", max_attempts=2, backoff_s=0.01)
    notifier.start()
    with caplog.at_level(logging.INFO, logger="vigil.services.notify"):
        notifier.notify([make_alert(id=f"a{i}") for i in range(3)])
        wait_until(lambda: notifier.stats()[0].failed.get("connect", 0) == 3)
        with receiver(port=port) as hook:
            notifier.notify([make_alert(id="b1"), make_alert(id="b2")])
            wait_until(lambda: len(hook.accepted()) == 2)
        notifier.stop()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("cannot deliver" in m for m in messages) == 1, messages
    assert sum("delivering again" in m for m in messages) == 1, messages
    assert notifier.stats()[0].retried == 3  # one retry per failed alert (2 attempts each)


def test_a_full_queue_drops_the_oldest_and_counts_it() -> None:
    gate = threading.Event()
    with receiver(gate=gate) as hook:
        notifier = notifier_for(hook.url, queue_size=2)
        notifier.start()
        notifier.notify([make_alert(id="first")])
        wait_until(lambda: notifier.stats()[0].queued == 0)  # "first" is on the wire, held
        notifier.notify([make_alert(id=f"q{i}") for i in range(3)])
        assert notifier.stats()[0].dropped == {"queue_full": 1}
        gate.set()
        wait_until(lambda: len(hook.accepted()) == 3)
        notifier.stop()
        assert [r.headers[DELIVERY_HEADER] for r in hook.accepted()] == ["first", "q1", "q2"]


def test_stop_is_bounded_while_a_destination_keeps_failing() -> None:
    notifier = notifier_for(f"http://127.0.0.1:{free_port()}/hook", max_attempts=20, backoff_s=5)
    notifier.start()
    notifier.notify([make_alert(id=f"a{i}") for i in range(3)])
    wait_until(lambda: notifier.stats()[0].queued == 2)
    began = time.monotonic()
    notifier.stop(timeout=0.5)
    assert time.monotonic() - began < 1.5
    assert notifier.stats()[0].dropped == {"shutdown": 3}  # one waiting to retry, two queued


def test_a_missing_secret_disables_the_webhook_without_stopping_startup() -> None:
    with receiver() as hook:
        notifier = notifier_for(hook.url, {}, secret_env="NOT_SET")
        notifier.start()
        notifier.notify([make_alert(id="a1")])
        wait_until(lambda: notifier.stats()[0].failed != {})
        notifier.stop()
        assert notifier.stats()[0].failed == {"no_secret": 1}
        assert hook.requests == []  # nothing unsigned went out


# -- MQTT against a real broker -----------------------------------------------------------------

needs_mosquitto = pytest.mark.skipif(
    not MOSQUITTO.exists(), reason="mosquitto broker not installed (apt-get install -y mosquitto)"
)


@contextlib.contextmanager
def mosquitto(tmp_path: Path, port: int, password_file: Path | None = None) -> Iterator[None]:
    conf = tmp_path / f"mosquitto-{port}.conf"
    # As root mosquitto would drop to user "mosquitto", who cannot read the test's files.
    lines = [f"listener {port} 127.0.0.1", "persistence false", f"user {getpass.getuser()}"]
    lines += (
        [f"password_file {password_file}", "allow_anonymous false"]
        if password_file
        else ["allow_anonymous true"]
    )
    conf.write_text("\n".join(lines) + "\n")
    log_file = tmp_path / f"mosquitto-{port}.log"
    with log_file.open("wb") as log:  # a file, not a pipe nobody reads while it runs
        broker = subprocess.Popen([str(MOSQUITTO), "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if broker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not start: {log_file.read_text(errors='replace')}")
            time.sleep(0.05)
        yield
    finally:
        broker.terminate()
        broker.wait(timeout=10)


@dataclass
class Subscriber:
    messages: list[tuple[str, bytes, bool]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def topics(self) -> list[str]:
        with self.lock:
            return [topic for topic, _, _ in self.messages]


@contextlib.contextmanager
def subscriber(port: int, topic: str, auth: tuple[str, str] | None = None) -> Iterator[Subscriber]:
    from paho.mqtt import client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    received = Subscriber()
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-subscriber")
    if auth:
        client.username_pw_set(*auth)

    def on_message(client: Any, userdata: Any, message: Any) -> None:
        with received.lock:
            received.messages.append((message.topic, message.payload, message.retain))

    client.on_message = on_message
    client.on_connect = lambda c, u, f, r, p: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda c, u, m, r, p: subscribed.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert subscribed.wait(10)
    try:
        yield received
    finally:
        client.disconnect()
        client.loop_stop()


def mqtt_notifier(port: int, environ: dict[str, str] | None = None, **settings: Any) -> AlertNotifier:
    defaults: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "qos": 1,
        "backoff_s": 0.2,
        "max_attempts": 10,
    }
    config = NotificationsConfig(mqtt=MqttConfig(**{**defaults, **settings}))
    return AlertNotifier.from_config(config, "Canal Street", environ=environ or {})


@needs_mosquitto
def test_mqtt_publishes_on_frigate_like_topics_and_reconnects(tmp_path: Path) -> None:
    port = free_port()
    with mosquitto(tmp_path, port), subscriber(port, "vigil/#") as sub:
        notifier = mqtt_notifier(port)
        notifier.start()
        wait_until(lambda: "vigil/available" in sub.topics())
        notifier.notify(
            [make_alert(id="a1", camera_id="cam1"), make_alert(id="low", severity=AlertSeverity.INFO)]
        )
        wait_until(lambda: "vigil/alerts/cam1/zone_intrusion" in sub.topics())
        with sub.lock:
            payloads = [json.loads(p) for t, p, _ in sub.messages if t.startswith("vigil/alerts/")]
        assert [p["alert"]["id"] for p in payloads] == ["a1"]  # the info alert is below warning
        assert payloads[0]["site"] == "Canal Street"
    # The broker goes away and comes back on the same port: the client reconnects by itself.
    with mosquitto(tmp_path, port), subscriber(port, "vigil/alerts/#") as sub:
        notifier.notify([make_alert(id="a2", camera_id="cam2")])
        wait_until(lambda: "vigil/alerts/cam2/zone_intrusion" in sub.topics(), timeout=20)
        notifier.stop()
    stats = notifier.stats()[0]
    assert stats.sent == 2


@needs_mosquitto
@pytest.mark.skipif(not MOSQUITTO_PASSWD.exists(), reason="mosquitto_passwd not installed")
def test_mqtt_credentials_come_from_the_environment(tmp_path: Path) -> None:
    passwords = tmp_path / "passwords"
    subprocess.run([str(MOSQUITTO_PASSWD), "-b", "-c", str(passwords), "vigil", "s3cret"], check=True)
    passwords.chmod(0o600)
    port = free_port()
    with mosquitto(tmp_path, port, passwords), subscriber(port, "vigil/alerts/#", ("vigil", "s3cret")) as sub:
        environ = {"MQTT_USER": "vigil", "MQTT_PASSWORD": "s3cret"}
        notifier = mqtt_notifier(port, environ, username_env="MQTT_USER", password_env="MQTT_PASSWORD")
        notifier.start()
        notifier.notify([make_alert(id="a1")])
        wait_until(lambda: len(sub.topics()) == 1)
        notifier.stop()
        wrong = mqtt_notifier(
            port,
            {"MQTT_USER": "vigil", "MQTT_PASSWORD": "nope"},
            max_attempts=2,
            username_env="MQTT_USER",
            password_env="MQTT_PASSWORD",
        )
        wrong.start()
        wrong.notify([make_alert(id="a2")])
        wait_until(lambda: wrong.stats()[0].failed != {})
        wrong.stop()
        assert wrong.stats()[0].failed == {"not_connected": 1}
        assert sub.topics() == ["vigil/alerts/cam1/zone_intrusion"]


# -- wired in the runtime -----------------------------------------------------------------------


def test_the_central_runtime_groups_stores_and_notifies_the_first_of_each_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from config.loader import parse_config
    from vigil.infra.db.alerts import AlertTriageStore
    from vigil.roles import Role
    from vigil.runtime import Runtime

    with receiver(statuses=[503]) as hook:
        config = parse_config(
            {
                "data_dir": str(tmp_path),
                "site": "Canal Street",
                "cameras": [{"id": "cam1", "url": "rtsp://10.0.0.1/a"}],
                "notifications": {
                    "webhooks": [{"url": hook.url, "secret_env": "VIGIL_TEST_HOOK", "backoff_s": 0.05}]
                },
            }
        )
        monkeypatch.setenv("VIGIL_TEST_HOOK", SECRET)
        runtime = Runtime(config, role=Role.CENTRAL, bus=MemoryBus())
        runtime.start()
        try:
            for alert_id, at in (("a", 100.0), ("b", 120.0), ("c", 500.0)):
                runtime.bus.publish(Topic.ALERTS, "cam1", make_alert(id=alert_id, timestamp=at))
            wait_until(lambda: len(hook.accepted()) == 2)
            assert runtime.store is not None
            items, _ = AlertTriageStore.for_store(runtime.store).list_alerts()
            assert {i.alert.id: i.alert.group_id for i in items} == {"a": None, "b": "a", "c": None}
        finally:
            runtime.stop()
        # b joined a's group: not sent; the first try at a got a 503 and was retried.
        assert [r.headers[DELIVERY_HEADER] for r in hook.accepted()] == ["a", "c"]
        assert all(
            verify(SECRET.encode(), r.headers[TIMESTAMP_HEADER], r.body, r.headers[SIGNATURE_HEADER])
            for r in hook.requests
        )
