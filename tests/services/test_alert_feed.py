"""AlertFeed: fan-out to every subscriber, bounded queues, replays skipped, slow subscribers dropped."""

from __future__ import annotations

import pytest

from tests.db.test_store import make_alert
from vigil.infra.db.alerts import Triage, TriagedAlert, TriageState
from vigil.services.alert_feed import AlertFeed, FeedEvent, FeedKind


def _triage_event(alert_id: str) -> TriagedAlert:
    return TriagedAlert(make_alert(id=alert_id), Triage(state=TriageState.ACKNOWLEDGED, updated_by="op"))


def test_every_subscriber_gets_every_event_in_order() -> None:
    feed = AlertFeed()
    woken: list[str] = []
    first = feed.subscribe(lambda: woken.append("first"))
    second = feed.subscribe(lambda: woken.append("second"))
    feed.publish_alerts([make_alert(id="a1"), make_alert(id="a2")])
    feed.publish_triage(_triage_event("a1"))
    for subscription in (first, second):
        events = subscription.drain()
        assert [(e.kind, e.item.alert.id) for e in events] == [
            (FeedKind.ALERT, "a1"),
            (FeedKind.ALERT, "a2"),
            (FeedKind.TRIAGE, "a1"),
        ]
        assert events[0].item.triage == Triage()  # a new alert is new
        assert subscription.drain() == []
    assert woken.count("first") == woken.count("second") == 3


def test_an_alert_id_pushed_already_is_not_pushed_again() -> None:
    """A replayed (partly new) batch from the bus must not show the same alert twice."""
    feed = AlertFeed()
    subscription = feed.subscribe(lambda: None)
    feed.publish_alerts([make_alert(id="a1")])
    feed.publish_alerts([make_alert(id="a1"), make_alert(id="a2")])
    assert [e.item.alert.id for e in subscription.drain()] == ["a1", "a2"]


def test_a_slow_subscriber_is_dropped_and_the_others_keep_getting_events() -> None:
    feed = AlertFeed(max_queue=2)
    slow = feed.subscribe(lambda: None)
    fast = feed.subscribe(lambda: None)
    for i in range(3):
        feed.publish_triage(_triage_event(f"a{i}"))
        assert len(fast.drain()) == 1  # reads as it goes
    assert slow.dropped and slow.drain() == []  # two behind at the third: dropped, queue freed
    assert not fast.dropped
    assert (feed.subscribers, feed.dropped) == (1, 1)
    feed.publish_triage(_triage_event("a9"))
    assert slow.drain() == [] and len(fast.drain()) == 1


def test_a_failing_wake_up_drops_only_that_subscriber() -> None:
    feed = AlertFeed()

    def broken() -> None:
        raise RuntimeError("event loop closed")

    bad = feed.subscribe(broken)
    good = feed.subscribe(lambda: None)
    feed.publish_triage(_triage_event("a1"))  # does not raise into the publisher
    assert bad.dropped and not good.dropped
    assert feed.subscribers == 1


def test_close_unsubscribes_and_may_be_called_twice() -> None:
    feed = AlertFeed()
    subscription = feed.subscribe(lambda: None)
    subscription.close()
    subscription.close()
    feed.publish(FeedEvent(FeedKind.TRIAGE, _triage_event("a1")))
    assert feed.subscribers == 0 and subscription.drain() == []


def test_queue_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_queue expected >= 1, got 0"):
        AlertFeed(max_queue=0)
