"""RecordingNotifier: the in-memory Notifier for tests and demos."""

from datetime import UTC, datetime

import pytest

from fourflows import InvalidInput
from fourflows.adapters.fakes import RecordingNotifier
from fourflows.information.notifications import Notification, NotificationKind

AT = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)


def notice(n: int, customer_id: str = "c-1") -> Notification:
    return Notification(
        id=f"order_canceled:o-{n}:2",
        kind=NotificationKind.ORDER_CANCELED,
        customer_id=customer_id,
        order_id=f"o-{n}",
        locale="en",
        subject=f"Your order o-{n} was canceled",
        body=f"Your order o-{n} has been canceled.",
        occurred_at=AT,
    )


def test_it_fails_as_often_as_told_then_sends_and_repeats_use_no_failure() -> None:
    notifier = RecordingNotifier()
    notifier.send(notice(1))
    notifier.fail_next(2)
    notifier.send(notice(1))  # already sent: ignored, and no failure is used up
    for _ in range(2):
        with pytest.raises(ConnectionError, match="o-2"):
            notifier.send(notice(2))
    notifier.send(notice(2))
    notifier.send(notice(3, "c-2"))
    assert [n.order_id for n in notifier.sent] == ["o-1", "o-2", "o-3"]
    assert [n.order_id for n in notifier.sent_to("c-2")] == ["o-3"]


def test_it_refuses_what_is_not_a_notification() -> None:
    notifier = RecordingNotifier()
    with pytest.raises(InvalidInput, match="Notification"):
        notifier.send("hello")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="times"):
        notifier.fail_next(-1)
    assert notifier.sent == []
