from datetime import UTC, datetime
from typing import Any

import pytest

from fourflows import GuardRejected, InvalidInput, InvalidTransition, Money, Refund
from fourflows.cash.refund import RefundCanceled, RefundFailed, RefundSucceeded

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def refund() -> Refund:
    return Refund.request(
        id="r-1", payment_id="p-1", amount=Money("350", "TWD"), reason="torn", at=AT
    )


def test_a_requested_refund_is_pending_with_its_event() -> None:
    made = refund()
    assert (made.state, made.version) == ("pending", 1)
    (event,) = made.pending_events
    assert (event.name(), event.amount, event.payment_id) == (  # type: ignore[attr-defined]
        "RefundRequested",
        Money("350", "TWD"),
        "p-1",
    )


@pytest.mark.parametrize(
    ("move", "state", "kind"),
    [
        (lambda r: r.succeed(provider_ref="gw-1", at=AT), "succeeded", RefundSucceeded),
        (lambda r: r.fail(reason="card closed", at=AT), "failed", RefundFailed),
        (lambda r: r.cancel(reason="kept it", at=AT), "canceled", RefundCanceled),
    ],
)
def test_each_outcome_is_final(move, state, kind) -> None:  # type: ignore[no-untyped-def]
    made = refund()
    assert isinstance(move(made), kind)
    assert (made.state, made.is_final) == (state, True)
    with pytest.raises(InvalidTransition, match="final state"):
        made.cancel(reason="again", at=AT)


@pytest.mark.parametrize(
    "amount", [Money("0", "TWD"), Money("-1", "TWD"), "350"], ids=["zero", "negative", "text"]
)
def test_the_amount_must_be_positive_money(amount: object) -> None:
    with pytest.raises(InvalidInput, match="positive"):
        Refund.request(id="r", payment_id="p", amount=amount, reason="x", at=AT)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("payment_id", "reason", "complaint"),
    [("p", " ", "reason"), ("p", 5, "reason"), ("", "torn", "payment id")],
)
def test_a_payment_and_a_reason_are_required(payment_id: Any, reason: Any, complaint: str) -> None:
    with pytest.raises(InvalidInput, match=complaint):
        Refund.request(
            id="r",
            payment_id=payment_id,
            amount=Money("1", "TWD"),
            reason=reason,
            at=AT,
        )


def test_a_repeated_outcome_changes_nothing() -> None:
    made = refund()
    assert made.succeed(provider_ref="gw-1", at=AT) is not None
    assert made.succeed(provider_ref="gw-1", at=AT) is None
    assert made.version == 2
    with pytest.raises(InvalidTransition):
        made.succeed(provider_ref="gw-2", at=AT)


def test_guards_need_a_reference_and_a_reason() -> None:
    made = refund()
    with pytest.raises(GuardRejected, match="provider's reference"):
        made.succeed(provider_ref=" ", at=AT)
    with pytest.raises(GuardRejected, match="a reason is given"):
        made.fail(reason="", at=AT)
    assert (made.state, made.version) == ("pending", 1)
