"""Dispute notifications at the gateway port, and the FakeGateway's disputes and evidence."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fourflows.adapters.fake_gateway import FakeGateway, Scenario, Step
from fourflows.adapters.fakes import FixedClock
from fourflows.cash.gateway import (
    DISPUTE_KINDS,
    AuthorizeRequest,
    CaptureRequest,
    DisputeEvidenceRequest,
    DisputeGateway,
    DisputeReason,
    GatewayNotification,
    GatewayOperation,
    NotificationKind,
    NotificationPayload,
    RefundRequest,
)
from fourflows.errors import GatewayUnavailable, IdempotencyConflict, InvalidInput, NotFound
from fourflows.money import Money

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def twd(amount: str) -> Money:
    return Money(amount, "TWD")


def notice(kind: NotificationKind = NotificationKind.DISPUTE_OPENED, **changes: Any) -> Any:
    opened = kind is NotificationKind.DISPUTE_OPENED
    fields: dict[str, Any] = {
        "notification_id": "evt-1",
        "kind": kind,
        "operation": GatewayOperation.CAPTURE,
        "payment_id": "pay-1",
        "provider_ref": "cap-1",
        "amount": twd("800"),
        "occurred_at": AT,
        "dispute_id": "dp-1",
        "dispute_reason": DisputeReason.FRAUDULENT if opened else None,
        "respond_by": AT + timedelta(days=7) if opened else None,
    }
    fields.update(changes)
    return GatewayNotification(**fields)


def captured(
    amount: str = "1000", scenario: Scenario | None = None, clock: FixedClock | None = None
) -> FakeGateway:
    """A fake whose payment pay-1 authorised and captured ``amount``."""
    scenarios = {} if scenario is None else {"pay-1": scenario}
    gateway = FakeGateway(clock or FixedClock(AT), scenarios=scenarios)
    auth = gateway.authorize(
        AuthorizeRequest(
            idempotency_key="a", payment_id="pay-1", amount=twd(amount), payment_method="tok"
        )
    )
    gateway.capture(
        CaptureRequest(
            idempotency_key="c",
            payment_id="pay-1",
            authorization_ref=auth.provider_ref,
            amount=twd(amount),
        )
    )
    gateway.take_notifications()
    return gateway


def evidence(
    key: str = "ev-1", dispute_id: str = "fake-dispute-0001", text: str = "receipt"
) -> Any:
    return DisputeEvidenceRequest(
        idempotency_key=key, dispute_id=dispute_id, payment_id="pay-1", evidence=text
    )


# --- the notification values ---------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    [NotificationKind.DISPUTE_OPENED, NotificationKind.DISPUTE_WON, NotificationKind.DISPUTE_LOST],
)
def test_each_dispute_kind_survives_the_json_round_trip(kind: NotificationKind) -> None:
    sent = notice(kind)
    read = GatewayNotification.from_payload(sent.to_payload())
    assert read == sent
    assert read.is_dispute
    assert kind in DISPUTE_KINDS


def test_an_opened_dispute_needs_its_reason_and_deadline() -> None:
    with pytest.raises(InvalidInput, match="DisputeReason"):
        notice(dispute_reason=None)
    with pytest.raises(InvalidInput, match="respond_by"):
        notice(respond_by=None)
    with pytest.raises(InvalidInput, match="timezone-aware"):
        notice(respond_by=datetime(2026, 11, 29, 9, 0))


def test_dispute_fields_belong_to_dispute_kinds_only() -> None:
    with pytest.raises(InvalidInput, match="dispute_id"):
        notice(dispute_id=None)
    with pytest.raises(InvalidInput, match="takes no dispute_id"):
        notice(NotificationKind.CAPTURED, dispute_reason=None, respond_by=None)
    with pytest.raises(InvalidInput, match="only 'dispute_opened'"):
        notice(NotificationKind.DISPUTE_WON, respond_by=AT)
    with pytest.raises(InvalidInput, match="reports on capture"):
        notice(operation=GatewayOperation.REFUND)


def test_an_unknown_dispute_reason_in_a_payload_is_refused() -> None:
    document = json.loads(notice().to_payload().body)
    document["dispute_reason"] = "because"
    with pytest.raises(InvalidInput, match="dispute_reason must be one of"):
        GatewayNotification.from_payload(NotificationPayload(json.dumps(document)))


def test_a_payment_payload_without_dispute_keys_still_reads() -> None:
    plain = notice(NotificationKind.CAPTURED, dispute_id=None, dispute_reason=None, respond_by=None)
    body = json.loads(plain.to_payload().body)
    assert "dispute_id" not in body  # payment notifications keep their old form
    assert GatewayNotification.from_payload(plain.to_payload()) == plain


# --- the fake's disputes -------------------------------------------------------------------------


def test_a_dispute_names_the_capture_and_defaults_to_all_that_is_refundable() -> None:
    gateway = captured()
    opened = gateway.open_dispute("pay-1", respond_within=timedelta(days=10))
    assert (opened.kind, opened.dispute_id, opened.amount) == (
        NotificationKind.DISPUTE_OPENED,
        "fake-dispute-0001",
        twd("1000"),
    )
    assert opened.provider_ref == gateway.lookup("c").provider_ref  # type: ignore[union-attr]
    assert opened.respond_by == AT + timedelta(days=10)
    assert gateway.take_notifications() == [opened]
    assert isinstance(gateway, DisputeGateway)


def test_disputed_money_cannot_be_refunded_until_the_dispute_is_won() -> None:
    gateway = captured()
    opened = gateway.open_dispute("pay-1", amount=twd("600"))
    assert opened.dispute_id is not None
    # 1000 captured − 600 disputed = 400 refundable.
    assert gateway.balance("pay-1").refundable == twd("400")
    ref = gateway.balance("pay-1").authorization_ref
    with pytest.raises(InvalidInput, match="disputes 600"):
        gateway.refund(
            RefundRequest(
                idempotency_key="r",
                payment_id="pay-1",
                authorization_ref=ref,
                amount=twd("401"),
                reason="x",
            )
        )
    with pytest.raises(InvalidInput, match="between one minor unit and 400"):
        gateway.open_dispute("pay-1", amount=twd("401"))
    won = gateway.close_dispute(opened.dispute_id, won=True)
    assert won.kind is NotificationKind.DISPUTE_WON
    assert gateway.balance("pay-1").refundable == twd("1000")


def test_a_lost_dispute_keeps_its_money_out_of_refunds() -> None:
    gateway = captured()
    opened = gateway.open_dispute("pay-1", amount=twd("600"))
    assert opened.dispute_id is not None
    lost = gateway.close_dispute(opened.dispute_id, won=False)
    assert (lost.kind, lost.amount) == (NotificationKind.DISPUTE_LOST, twd("600"))
    assert gateway.balance("pay-1").refundable == twd("400")
    with pytest.raises(InvalidInput, match="already closed"):
        gateway.close_dispute(opened.dispute_id, won=True)


def test_only_a_captured_payment_can_be_disputed() -> None:
    gateway = FakeGateway(FixedClock(AT))
    with pytest.raises(NotFound):
        gateway.open_dispute("pay-1")


def test_evidence_puts_the_dispute_under_review_once() -> None:
    gateway = captured()
    gateway.open_dispute("pay-1")
    first = gateway.submit_dispute_evidence(evidence())
    assert (first.dispute_id, first.provider_code) == ("fake-dispute-0001", "under_review")
    assert gateway.dispute_status("fake-dispute-0001") == "under_review"
    assert gateway.submit_dispute_evidence(evidence()) == first
    with pytest.raises(IdempotencyConflict):
        gateway.submit_dispute_evidence(evidence(text="other"))
    with pytest.raises(InvalidInput, match="under_review"):
        gateway.submit_dispute_evidence(evidence(key="ev-2"))


def test_evidence_after_respond_by_is_refused() -> None:
    clock = FixedClock(AT)
    gateway = captured(clock=clock)
    gateway.open_dispute("pay-1", respond_within=timedelta(days=1))
    clock.advance(timedelta(days=1))
    with pytest.raises(InvalidInput, match="respond_by"):
        gateway.submit_dispute_evidence(evidence())
    assert gateway.dispute_status("fake-dispute-0001") == "needs_response"


def test_evidence_for_another_payment_or_unknown_dispute_is_refused() -> None:
    gateway = captured()
    gateway.open_dispute("pay-1")
    with pytest.raises(NotFound):
        gateway.submit_dispute_evidence(evidence(dispute_id="nope"))
    other = DisputeEvidenceRequest(
        idempotency_key="k", dispute_id="fake-dispute-0001", payment_id="pay-2", evidence="x"
    )
    with pytest.raises(InvalidInput, match="not on 'pay-2'"):
        gateway.submit_dispute_evidence(other)


@pytest.mark.parametrize("step", [Step.TIMEOUT, Step.TIMEOUT_AFTER_SUCCESS])
def test_lost_evidence_answers_are_recovered_under_the_same_key(step: Step) -> None:
    gateway = captured(scenario=Scenario(evidence=step))
    gateway.open_dispute("pay-1")
    with pytest.raises(GatewayUnavailable):
        gateway.submit_dispute_evidence(evidence())
    # TIMEOUT: nothing was taken; TIMEOUT_AFTER_SUCCESS: it was, and the retry says so.
    taken = "under_review" if step is Step.TIMEOUT_AFTER_SUCCESS else "needs_response"
    assert gateway.dispute_status("fake-dispute-0001") == taken
    assert gateway.submit_dispute_evidence(evidence()).dispute_id == "fake-dispute-0001"
    assert gateway.dispute_status("fake-dispute-0001") == "under_review"


def test_an_evidence_step_must_make_sense_for_evidence() -> None:
    with pytest.raises(InvalidInput, match="evidence must be one of"):
        Scenario(evidence=Step.DECLINE)
