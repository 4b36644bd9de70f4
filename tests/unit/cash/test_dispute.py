from datetime import UTC, datetime, timedelta

import pytest

from fourflows.cash.dispute import (
    DISPUTE_MACHINE,
    Dispute,
    DisputeEvidenceSubmitted,
    DisputeLost,
    DisputeOpened,
    DisputeWon,
)
from fourflows.cash.payment import Payment, PaymentMethod
from fourflows.errors import CurrencyMismatch, GuardRejected, InvalidInput, InvalidTransition
from fourflows.machines import machine_named
from fourflows.money import Money

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
RESPOND_BY = AT + timedelta(days=10)


def twd(amount: str) -> Money:
    return Money(amount, "TWD")


def captured_payment() -> Payment:
    """A card payment of 1000 captured in full, then refunded 200: 800 can be disputed."""
    payment = Payment.create(
        id="p-1", order_id="o-1", method=PaymentMethod.CARD, amount=twd("1000"), at=AT
    )
    payment.authorize(amount=twd("1000"), at=AT, provider_ref="auth-1")
    payment.capture_succeeded(capture_id="c-1", amount=twd("1000"), at=AT)
    payment.request_refund(refund_id="r-1", amount=twd("200"), at=AT)
    payment.refund_succeeded(refund_id="r-1", at=AT)
    return payment


def dispute(amount: str = "800") -> Dispute:
    return Dispute.open(
        id="d-1",
        payment=captured_payment(),
        amount=twd(amount),
        reason="product_not_received",
        respond_by=RESPOND_BY,
        at=AT,
    )


def test_an_opened_dispute_needs_a_response_and_names_the_money() -> None:
    made = dispute()
    assert (made.state, made.version) == ("needs_response", 1)
    (event,) = made.pending_events
    assert isinstance(event, DisputeOpened)
    assert (event.payment_id, event.order_id, event.amount) == ("p-1", "o-1", twd("800"))
    assert event.respond_by == RESPOND_BY


def test_evidence_then_won_keeps_the_money() -> None:
    made = dispute()
    submitted = made.submit_evidence(evidence="signed delivery receipt", at=AT + timedelta(days=2))
    assert isinstance(submitted, DisputeEvidenceSubmitted)
    assert made.state == "under_review"
    won = made.win(at=AT + timedelta(days=30))
    assert isinstance(won, DisputeWon)
    assert (won.kept, won.amount) == (twd("800"), twd("800"))
    assert (made.state, made.is_final, made.taken_back) == ("won", True, twd("0"))


def test_evidence_then_lost_takes_the_amount_back() -> None:
    made = dispute("500")
    made.submit_evidence(evidence="tracking number", at=AT)
    lost = made.lose(reason="issuer ruled for the cardholder", at=AT + timedelta(days=30))
    assert isinstance(lost, DisputeLost)
    assert (lost.taken_back, lost.payment_id) == (twd("500"), "p-1")
    assert (made.state, made.taken_back) == ("lost", twd("500"))
    with pytest.raises(InvalidTransition, match="final state"):
        made.win(at=AT + timedelta(days=31))


def test_accepting_loses_at_once() -> None:
    made = dispute()
    lost = made.accept(reason="refund was owed anyway", at=AT)
    assert isinstance(lost, DisputeLost)
    assert lost.taken_back == twd("800")
    assert made.state == "lost"


def test_a_missed_deadline_loses_but_not_before_the_deadline() -> None:
    made = dispute()
    with pytest.raises(GuardRejected, match=r"deadline_passed.*respond_by is 2026-12-02"):
        made.miss_deadline(at=RESPOND_BY - timedelta(seconds=1))
    assert (made.state, made.version) == ("needs_response", 1)
    lost = made.miss_deadline(at=RESPOND_BY)
    assert isinstance(lost, DisputeLost)
    assert lost.reason == "no response by the deadline"
    assert lost.occurred_at == RESPOND_BY
    assert made.miss_deadline(at=RESPOND_BY + timedelta(days=1)) is None


def test_evidence_after_the_deadline_is_refused() -> None:
    made = dispute()
    with pytest.raises(GuardRejected, match="before_deadline"):
        made.submit_evidence(evidence="late receipt", at=RESPOND_BY)
    assert (made.state, made.version, made.evidence) == ("needs_response", 1, None)


def test_repeated_notifications_change_nothing() -> None:
    made = dispute()
    made.submit_evidence(evidence="receipt", at=AT)
    assert made.submit_evidence(evidence="receipt", at=AT) is None
    made.lose(reason="issuer", at=AT)
    assert made.lose(reason="issuer", at=AT) is None
    assert made.version == 3
    with pytest.raises(InvalidTransition):
        made.lose(reason="another reason", at=AT)


def test_a_dispute_is_at_most_what_was_captured_and_not_refunded() -> None:
    # 1000 captured − 200 refunded = 800 can be disputed
    with pytest.raises(InvalidInput, match="801 TWD is more than the 800 TWD payment 'p-1'"):
        dispute("801")


@pytest.mark.parametrize(
    ("amount", "error", "complaint"),
    [
        (twd("0"), InvalidInput, "positive, not 0 TWD"),
        (Money("5", "USD"), CurrencyMismatch, "USD with TWD"),
        ("800", InvalidInput, "must be Money"),
    ],
)
def test_bad_amounts_are_refused(amount: object, error: type[Exception], complaint: str) -> None:
    with pytest.raises(error, match=complaint):
        Dispute.open(
            id="d-1",
            payment=captured_payment(),
            amount=amount,  # type: ignore[arg-type]
            reason="fraudulent",
            respond_by=RESPOND_BY,
            at=AT,
        )


def test_nothing_captured_nothing_to_dispute() -> None:
    payment = Payment.create(
        id="p-2", order_id="o-2", method=PaymentMethod.CARD, amount=twd("100"), at=AT
    )
    payment.authorize(amount=twd("100"), at=AT)
    with pytest.raises(InvalidInput, match="more than the 0 TWD"):
        Dispute.open(
            id="d-2",
            payment=payment,
            amount=twd("100"),
            reason="fraudulent",
            respond_by=RESPOND_BY,
            at=AT,
        )


def test_the_machine_is_registered() -> None:
    assert machine_named("dispute") is DISPUTE_MACHINE
    assert DISPUTE_MACHINE.spec.final == ("won", "lost")
    assert "needs_response --> lost: accept | miss_deadline [deadline_passed]" in (
        DISPUTE_MACHINE.mermaid()
    )
