"""FakeGateway scenarios, and the gateway port's values, fingerprints and idempotency records."""

import hashlib
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fourflows.adapters.fake_gateway import Delivery, FakeGateway, Scenario, Step
from fourflows.adapters.fakes import FixedClock
from fourflows.cash.gateway import (
    AuthorizeRequest,
    CaptureRequest,
    Decline,
    DeclineReason,
    GatewayNotification,
    GatewayOperation,
    GatewayOutcome,
    GatewayResult,
    IdempotencyRecords,
    NotificationKind,
    NotificationPayload,
    PaymentGateway,
    RefundRequest,
    RequiredAction,
    VoidRequest,
    request_fingerprint,
)
from fourflows.errors import (
    CurrencyMismatch,
    FourFlowsError,
    GatewayUnavailable,
    IdempotencyConflict,
    InvalidInput,
    NotFound,
)
from fourflows.money import Money, MoneyField

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def twd(amount: str) -> Money:
    return Money(amount, "TWD")


def fake(**scenarios: Scenario) -> tuple[FakeGateway, FixedClock]:
    clock = FixedClock(AT)
    return FakeGateway(clock, scenarios=scenarios), clock


def authorize(
    gateway: PaymentGateway,
    payment: str = "pay-1",
    amount: str = "1000",
    *,
    method: str = "fake-card-approve",
    key: str | None = None,
) -> GatewayResult:
    return gateway.authorize(
        AuthorizeRequest(
            idempotency_key=key or f"{payment}-auth",
            payment_id=payment,
            amount=twd(amount),
            payment_method=method,
        )
    )


def capture_request(auth: GatewayResult, key: str, amount: str) -> CaptureRequest:
    return CaptureRequest(
        idempotency_key=key,
        payment_id=auth.payment_id,
        authorization_ref=auth.provider_ref,
        amount=twd(amount),
    )


def refund_request(auth: GatewayResult, key: str, amount: str) -> RefundRequest:
    return RefundRequest(
        idempotency_key=key,
        payment_id=auth.payment_id,
        authorization_ref=auth.provider_ref,
        amount=twd(amount),
        reason="returned",
    )


def void_request(auth: GatewayResult, key: str, amount: str) -> VoidRequest:
    return VoidRequest(
        idempotency_key=key,
        payment_id=auth.payment_id,
        authorization_ref=auth.provider_ref,
        amount=twd(amount),
    )


def kinds(notifications: list[GatewayNotification]) -> list[str]:
    return [n.kind.value for n in notifications]


# --- approve ------------------------------------------------------------------------------


def test_approve_capture_refund_moves_the_balances_and_notifies_each_step() -> None:
    gateway, _ = fake()
    auth = authorize(gateway)
    assert (auth.outcome, auth.provider_ref, auth.amount) == (
        GatewayOutcome.APPROVED,
        "fake-auth-0001",
        twd("1000"),
    )
    captured = gateway.capture(capture_request(auth, "cap-1", "1000"))
    refunded = gateway.refund(refund_request(auth, "ref-1", "250"))
    assert (captured.provider_ref, refunded.provider_ref) == ("fake-cap-0001", "fake-refund-0001")
    balance = gateway.balance("pay-1")
    # 1000 captured - 250 refunded = 750 refundable; nothing left to capture.
    assert (balance.status, balance.captured, balance.refunded) == (
        "authorized",
        twd("1000"),
        twd("250"),
    )
    assert (balance.capturable, balance.refundable) == (twd("0"), twd("750"))
    notes = gateway.take_notifications()
    assert [(n.kind, n.provider_ref, n.amount, n.idempotency_key) for n in notes] == [
        (NotificationKind.AUTHORIZED, "fake-auth-0001", twd("1000"), "pay-1-auth"),
        (NotificationKind.CAPTURED, "fake-cap-0001", twd("1000"), "cap-1"),
        (NotificationKind.REFUNDED, "fake-refund-0001", twd("250"), "ref-1"),
    ]
    assert all(n.occurred_at == AT for n in notes)
    assert gateway.take_notifications() == []


def test_partial_captures_then_a_void_of_the_rest() -> None:
    # A split shipment: 300 with the first parcel, 200 with the second,
    # then the order's last line is cancelled and 1000 - 300 - 200 = 500 is released.
    gateway, _ = fake()
    auth = authorize(gateway)
    gateway.capture(capture_request(auth, "cap-1", "300"))
    gateway.capture(capture_request(auth, "cap-2", "200"))
    assert gateway.balance("pay-1").capturable == twd("500")
    with pytest.raises(InvalidInput, match=r"releases all that is left.*500 TWD, not 400 TWD"):
        gateway.void(void_request(auth, "void-0", "400"))
    voided = gateway.void(void_request(auth, "void-1", "500"))
    assert voided.outcome is GatewayOutcome.APPROVED
    balance = gateway.balance("pay-1")
    assert (balance.status, balance.released, balance.capturable) == (
        "voided",
        twd("500"),
        twd("0"),
    )
    # What was captured can still be refunded after the void.
    assert gateway.refund(refund_request(auth, "ref-1", "500")).accepted
    assert kinds(gateway.take_notifications()) == [
        "authorized",
        "captured",
        "captured",
        "voided",
        "refunded",
    ]


# --- decline ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "reason"),
    [
        ("fake-card-declined", DeclineReason.DECLINED),
        ("fake-card-insufficient-funds", DeclineReason.INSUFFICIENT_FUNDS),
        ("fake-card-expired", DeclineReason.EXPIRED_CARD),
        ("fake-card-fraud", DeclineReason.SUSPECTED_FRAUD),
    ],
)
def test_test_cards_decline_with_their_reason(method: str, reason: DeclineReason) -> None:
    gateway, _ = fake()
    result = authorize(gateway, method=method)
    assert result.outcome is GatewayOutcome.DECLINED
    assert result.decline is not None
    assert result.decline.reason is reason
    assert result.provider_code == reason.value
    assert gateway.balance("pay-1").status == "declined"
    (note,) = gateway.take_notifications()
    assert (note.kind, note.reason, note.provider_ref) == (
        NotificationKind.FAILED,
        reason,
        result.provider_ref,
    )


def test_a_declined_payment_can_be_tried_again_under_a_new_key() -> None:
    gateway, _ = fake(**{"pay-1": Scenario(authorize=Step.DECLINE)})
    declined = authorize(gateway)
    with pytest.raises(InvalidInput, match="was declined"):
        gateway.capture(capture_request(declined, "cap-0", "1000"))
    gateway.set_scenario("pay-1", Scenario())
    # The same key gives the first answer again; a new key is a new attempt.
    assert authorize(gateway) == declined
    approved = authorize(gateway, key="pay-1-auth-2")
    assert approved.outcome is GatewayOutcome.APPROVED
    assert approved.provider_ref != declined.provider_ref
    assert gateway.balance("pay-1").authorization_ref == approved.provider_ref


def test_a_payment_holding_an_authorization_cannot_be_authorized_again() -> None:
    gateway, _ = fake()
    authorize(gateway)
    with pytest.raises(InvalidInput, match="already has the authorisation 'fake-auth-0001'"):
        authorize(gateway, key="pay-1-auth-2")
    assert len(gateway.take_notifications()) == 1


def test_a_capture_can_be_declined_and_changes_nothing() -> None:
    gateway, _ = fake(
        **{"pay-1": Scenario(capture=Step.DECLINE, decline_reason=DeclineReason.PROCESSING_ERROR)}
    )
    auth = authorize(gateway)
    result = gateway.capture(capture_request(auth, "cap-1", "400"))
    assert result.decline == Decline(
        DeclineReason.PROCESSING_ERROR, "the provider could not process the request"
    )
    assert gateway.balance("pay-1").captured == twd("0")
    assert kinds(gateway.take_notifications()) == ["authorized", "failed"]


# --- requires action ----------------------------------------------------------------------


def test_3ds_requires_action_then_the_customer_completes_it() -> None:
    gateway, clock = fake()
    first = authorize(gateway, method="fake-card-3ds")
    assert first.outcome is GatewayOutcome.REQUIRES_ACTION
    assert first.action is not None
    assert first.action.deadline == AT + timedelta(minutes=15)
    assert first.action.url == "https://fake-gateway.invalid/actions/fake-auth-0001"
    with pytest.raises(InvalidInput, match="awaits the customer's action"):
        gateway.capture(capture_request(first, "cap-0", "1000"))
    clock.advance(timedelta(minutes=5))
    now = gateway.complete_action(first.action.reference)
    assert (now.outcome, now.provider_ref, now.action) == (
        GatewayOutcome.APPROVED,
        first.provider_ref,
        None,
    )
    # lookup shows the news; repeating the call still answers as the first time.
    assert gateway.lookup("pay-1-auth") == now
    assert authorize(gateway, method="fake-card-3ds") == first
    assert gateway.capture(capture_request(first, "cap-1", "1000")).accepted
    notes = gateway.take_notifications()
    assert kinds(notes) == ["action_required", "authorized", "captured"]
    assert notes[1].occurred_at == AT + timedelta(minutes=5)
    with pytest.raises(InvalidInput, match="is over"):
        gateway.complete_action(first.action.reference)


def test_a_failed_action_declines_the_authorization() -> None:
    gateway, _ = fake()
    first = authorize(gateway, method="fake-card-3ds")
    assert first.action is not None
    now = gateway.complete_action(first.action.reference, succeeded=False)
    assert now.decline is not None
    assert now.decline.reason is DeclineReason.AUTHENTICATION_FAILED
    assert gateway.lookup("pay-1-auth") == now
    assert kinds(gateway.take_notifications()) == ["action_required", "failed"]
    assert gateway.balance("pay-1").status == "declined"


def test_a_bank_transfer_not_paid_by_its_deadline_expires() -> None:
    gateway, clock = fake()
    first = authorize(gateway, method="fake-bank-transfer")
    assert first.action is not None
    assert first.action.deadline == AT + timedelta(days=3)
    clock.advance(timedelta(days=2))
    assert gateway.expire_overdue() == []
    clock.advance(timedelta(days=1, seconds=1))
    (expired,) = gateway.expire_overdue()
    assert (expired.kind, expired.reason) == (
        NotificationKind.EXPIRED,
        DeclineReason.ACTION_EXPIRED,
    )
    found = gateway.lookup("pay-1-auth")
    assert found is not None
    assert found.decline is not None
    assert found.decline.reason is DeclineReason.ACTION_EXPIRED
    assert gateway.balance("pay-1").status == "expired"
    assert kinds(gateway.take_notifications()) == ["action_required", "expired"]


def test_completing_an_action_after_its_deadline_expires_it() -> None:
    gateway, clock = fake()
    first = authorize(gateway, method="fake-card-3ds")
    assert first.action is not None
    clock.advance(timedelta(minutes=16))
    late = gateway.complete_action(first.action.reference)
    assert late.decline is not None
    assert late.decline.reason is DeclineReason.ACTION_EXPIRED
    with pytest.raises(NotFound, match="no-such-action"):
        gateway.complete_action("no-such-action")


# --- timeouts -----------------------------------------------------------------------------


def test_a_lost_request_did_nothing_and_its_retry_goes_through() -> None:
    gateway, _ = fake()
    with pytest.raises(GatewayUnavailable, match="outcome is unknown") as lost:
        authorize(gateway, method="fake-card-timeout")
    assert (lost.value.operation, lost.value.idempotency_key) == ("authorize", "pay-1-auth")
    assert gateway.lookup("pay-1-auth") is None
    assert gateway.take_notifications() == []
    with pytest.raises(NotFound):
        gateway.balance("pay-1")
    retried = authorize(gateway, method="fake-card-timeout")
    assert retried.outcome is GatewayOutcome.APPROVED
    assert gateway.lookup("pay-1-auth") == retried


def test_success_after_a_timeout_is_revealed_by_lookup_retry_and_notification() -> None:
    gateway, _ = fake()
    with pytest.raises(GatewayUnavailable, match="after the provider had done the work"):
        authorize(gateway, method="fake-card-late-success")
    found = gateway.lookup("pay-1-auth")
    assert found is not None
    assert (found.outcome, found.amount) == (GatewayOutcome.APPROVED, twd("1000"))
    (note,) = gateway.take_notifications()
    assert (note.kind, note.provider_ref) == (NotificationKind.AUTHORIZED, found.provider_ref)
    # The retry under the same key returns the same answer and holds nothing twice.
    assert authorize(gateway, method="fake-card-late-success") == found
    assert gateway.balance("pay-1").authorized == twd("1000")
    assert gateway.take_notifications() == []


def test_a_capture_that_times_out_after_success_is_not_taken_twice() -> None:
    gateway, _ = fake(**{"pay-1": Scenario(capture=Step.TIMEOUT_AFTER_SUCCESS)})
    auth = authorize(gateway)
    request = capture_request(auth, "cap-1", "600")
    with pytest.raises(GatewayUnavailable):
        gateway.capture(request)
    assert gateway.capture(request) == gateway.lookup("cap-1")
    # 600 was captured once: 400 is left, not -200 or 1000.
    assert gateway.balance("pay-1").capturable == twd("400")


# --- acknowledged, confirmed later --------------------------------------------------------


def test_an_acknowledged_capture_is_pending_then_confirmed() -> None:
    gateway, _ = fake()
    auth = authorize(gateway, method="fake-card-async")
    pending = gateway.capture(capture_request(auth, "cap-1", "1000"))
    assert (pending.outcome, pending.accepted, pending.provider_code) == (
        GatewayOutcome.PENDING,
        True,
        "pending",
    )
    found = gateway.lookup("cap-1")
    assert found is not None
    assert (found.outcome, found.provider_ref) == (GatewayOutcome.APPROVED, pending.provider_ref)
    assert gateway.capture(capture_request(auth, "cap-1", "1000")) == pending
    notes = gateway.take_notifications()
    assert [(n.kind, n.provider_ref) for n in notes] == [
        (NotificationKind.AUTHORIZED, auth.provider_ref),
        (NotificationKind.CAPTURED, pending.provider_ref),
    ]


def test_an_acknowledged_refund_can_fail_later() -> None:
    gateway, _ = fake(**{"pay-1": Scenario(refund=Step.PENDING_THEN_DECLINE)})
    auth = authorize(gateway)
    gateway.capture(capture_request(auth, "cap-1", "1000"))
    pending = gateway.refund(refund_request(auth, "ref-1", "300"))
    assert pending.outcome is GatewayOutcome.PENDING
    found = gateway.lookup("ref-1")
    assert found is not None
    assert found.outcome is GatewayOutcome.DECLINED
    assert gateway.balance("pay-1").refundable == twd("1000")
    assert kinds(gateway.take_notifications())[-1] == "failed"


def test_a_wallet_authorization_is_pending_then_confirmed() -> None:
    gateway, _ = fake()
    pending = authorize(gateway, method="fake-wallet")
    assert pending.outcome is GatewayOutcome.PENDING
    assert gateway.balance("pay-1").authorized == twd("1000")
    assert kinds(gateway.take_notifications()) == ["authorized"]


# --- notification delivery ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenarios", "method"),
    [
        ({}, "fake-card-duplicate-notifications"),
        ({"pay-1": Scenario(notifications=Delivery.TWICE)}, "fake-card-approve"),
    ],
    ids=["test-card", "scenario"],
)
def test_duplicate_notifications_carry_the_same_id(
    scenarios: dict[str, Scenario], method: str
) -> None:
    gateway, _ = fake(**scenarios)
    auth = authorize(gateway, method=method)
    gateway.capture(capture_request(auth, "cap-1", "1000"))
    notes = gateway.take_notifications()
    assert [n.notification_id for n in notes] == [
        "fake-evt-0001",
        "fake-evt-0001",
        "fake-evt-0002",
        "fake-evt-0002",
    ]
    assert notes[0] == notes[1]


def test_out_of_order_notifications_come_newest_first_for_that_payment_only() -> None:
    gateway, _ = fake()
    late = authorize(gateway, "pay-late", method="fake-card-out-of-order")
    calm = authorize(gateway, "pay-calm")
    gateway.capture(capture_request(late, "cap-late", "1000"))
    gateway.capture(capture_request(calm, "cap-calm", "1000"))
    gateway.refund(refund_request(late, "ref-late", "100"))
    notes = gateway.take_notifications()
    assert [(n.payment_id, n.kind.value) for n in notes] == [
        ("pay-late", "refunded"),
        ("pay-calm", "authorized"),
        ("pay-late", "captured"),
        ("pay-calm", "captured"),
        ("pay-late", "authorized"),
    ]


def test_notifications_read_back_from_their_payload() -> None:
    gateway, _ = fake()
    authorize(gateway, method="fake-card-declined")
    (note,) = gateway.take_notifications()
    payload = note.to_payload()
    assert payload.headers == {"content-type": "application/json"}
    assert gateway.parse_notification(payload) == note
    assert gateway.parse_notification(NotificationPayload(payload.body.decode())) == note


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (b"", "UTF-8 JSON"),
        (b'"a string"', "JSON object"),
        (b'{"type": "other", "version": 1}', "not a fourflows notification"),
        (b'{"type": "fourflows.gateway.notification", "version": 1}', "lacks id"),
    ],
)
def test_unreadable_payloads_are_refused_by_what_is_wrong(body: bytes, complaint: str) -> None:
    gateway, _ = fake()
    with pytest.raises(InvalidInput, match=complaint):
        gateway.parse_notification(NotificationPayload(body))


@pytest.mark.parametrize(
    ("field", "value", "complaint"),
    [
        ("kind", "paid", "kind must be one of"),
        ("operation", "charge", "operation must be one of"),
        ("amount", 12.5, "money must look like"),
        ("occurred_at", "2026-11-22T09:00:00", "timezone-aware"),
        ("occurred_at", "yesterday", "not an ISO 8601 time"),
        ("occurred_at", 1700000000, "ISO 8601 string"),
        ("reason", "bad luck", "reason must be one of"),
        ("provider_code", 5, "provider_code must be a string"),
        ("id", "", "notification_id must be a non-empty string"),
    ],
)
def test_a_bad_field_in_a_payload_is_named(field: str, value: object, complaint: str) -> None:
    note = GatewayNotification(
        notification_id="evt-1",
        kind=NotificationKind.FAILED,
        operation=GatewayOperation.CAPTURE,
        payment_id="pay-1",
        provider_ref="cap-1",
        amount=twd("10"),
        occurred_at=AT,
        reason=DeclineReason.DECLINED,
    )
    document = json.loads(note.to_payload().body)
    document[field] = value
    with pytest.raises(InvalidInput, match=complaint):
        GatewayNotification.from_payload(NotificationPayload(json.dumps(document)))


def test_a_notification_must_agree_with_itself() -> None:
    base: dict[str, Any] = {
        "notification_id": "evt-1",
        "payment_id": "pay-1",
        "provider_ref": "ref-1",
        "amount": twd("10"),
        "occurred_at": AT,
    }
    with pytest.raises(InvalidInput, match="'captured' notification reports on capture"):
        GatewayNotification(
            kind=NotificationKind.CAPTURED, operation=GatewayOperation.REFUND, **base
        )
    with pytest.raises(InvalidInput, match="needs a DeclineReason"):
        GatewayNotification(kind=NotificationKind.FAILED, operation=GatewayOperation.VOID, **base)
    with pytest.raises(InvalidInput, match="takes no reason"):
        GatewayNotification(
            kind=NotificationKind.VOIDED,
            operation=GatewayOperation.VOID,
            reason=DeclineReason.DECLINED,
            **base,
        )
    with pytest.raises(InvalidInput, match="timezone-aware"):
        GatewayNotification(
            kind=NotificationKind.VOIDED,
            operation=GatewayOperation.VOID,
            **{**base, "occurred_at": datetime(2026, 11, 22)},
        )


def test_payload_headers_are_lower_cased_and_bodies_must_be_bytes() -> None:
    payload = NotificationPayload(b"{}", {"X-Fake-Signature": "abc"})
    assert payload.headers == {"x-fake-signature": "abc"}
    with pytest.raises(InvalidInput, match="bytes or str"):
        NotificationPayload(42)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="headers"):
        NotificationPayload(b"{}", {"n": 1})  # type: ignore[dict-item]


# --- idempotency and refusals -------------------------------------------------------------


def test_a_key_reused_for_another_request_is_refused_by_name_and_changes_nothing() -> None:
    gateway, _ = fake()
    auth = authorize(gateway)
    first = gateway.capture(capture_request(auth, "cap-1", "300"))
    with pytest.raises(IdempotencyConflict, match="'cap-1' was already used") as conflict:
        gateway.capture(capture_request(auth, "cap-1", "400"))
    assert conflict.value.key == "cap-1"
    assert conflict.value.recorded == request_fingerprint(capture_request(auth, "x", "300"))
    with pytest.raises(IdempotencyConflict):
        gateway.refund(refund_request(auth, "cap-1", "300"))
    with pytest.raises(IdempotencyConflict):
        authorize(gateway, key="cap-1")
    assert gateway.lookup("cap-1") == first
    assert gateway.balance("pay-1").captured == twd("300")
    assert kinds(gateway.take_notifications()) == ["authorized", "captured"]


def test_refusals_name_the_amounts_and_leave_the_key_unused() -> None:
    gateway, _ = fake()
    auth = authorize(gateway)
    with pytest.raises(InvalidInput, match=r"only 1000 TWD is left to capture"):
        gateway.capture(capture_request(auth, "cap-1", "1000.01"))
    with pytest.raises(InvalidInput, match=r"only 0 TWD was captured and not yet refunded"):
        gateway.refund(refund_request(auth, "ref-1", "1"))
    # The refused keys were not used: they can carry another request.
    assert gateway.lookup("cap-1") is None
    gateway.capture(capture_request(auth, "cap-1", "1000"))
    with pytest.raises(InvalidInput, match=r"fully captured .*refund the payment instead"):
        gateway.void(void_request(auth, "void-1", "1000"))
    with pytest.raises(InvalidInput, match=r"only 1000 TWD was captured"):
        gateway.refund(refund_request(auth, "ref-1", "1000.01"))
    assert kinds(gateway.take_notifications()) == ["authorized", "captured"]


def test_a_voided_authorization_refuses_captures_and_voids() -> None:
    gateway, _ = fake()
    auth = authorize(gateway)
    gateway.void(void_request(auth, "void-1", "1000"))
    with pytest.raises(InvalidInput, match="was voided"):
        gateway.capture(capture_request(auth, "cap-1", "1"))
    with pytest.raises(InvalidInput, match="was voided"):
        gateway.void(void_request(auth, "void-2", "1000"))


def test_wrong_payment_currency_or_reference_is_refused() -> None:
    gateway, _ = fake()
    auth = authorize(gateway)
    other = CaptureRequest(
        idempotency_key="cap-1",
        payment_id="pay-2",
        authorization_ref=auth.provider_ref,
        amount=twd("10"),
    )
    with pytest.raises(InvalidInput, match="belongs to payment 'pay-1', not to 'pay-2'"):
        gateway.capture(other)
    dollars = CaptureRequest(
        idempotency_key="cap-1",
        payment_id="pay-1",
        authorization_ref=auth.provider_ref,
        amount=Money("10", "USD"),
    )
    with pytest.raises(CurrencyMismatch, match="USD with TWD"):
        gateway.capture(dollars)
    with pytest.raises(NotFound, match="fake-auth-9999"):
        gateway.refund(
            RefundRequest(
                idempotency_key="ref-1",
                payment_id="pay-1",
                authorization_ref="fake-auth-9999",
                amount=twd("10"),
                reason="x",
            )
        )
    with pytest.raises(InvalidInput, match="expected a CaptureRequest"):
        gateway.capture(refund_request(auth, "r", "1"))  # type: ignore[arg-type]


# --- authorisation expiry -----------------------------------------------------------------


def test_an_authorization_lapses_after_seven_days() -> None:
    gateway, clock = fake()
    auth = authorize(gateway)
    gateway.capture(capture_request(auth, "cap-1", "400"))
    clock.advance(timedelta(days=7))
    assert gateway.expire_overdue() == []
    clock.advance(timedelta(seconds=1))
    late = gateway.capture(capture_request(auth, "cap-2", "100"))
    assert late.decline is not None
    assert late.decline.reason is DeclineReason.AUTHORIZATION_EXPIRED
    balance = gateway.balance("pay-1")
    # 1000 held - 400 captured = 600 released by the expiry; the 400 stays refundable.
    assert (balance.status, balance.released, balance.refundable) == (
        "expired",
        twd("600"),
        twd("400"),
    )
    again = gateway.capture(capture_request(auth, "cap-3", "100"))
    assert again.outcome is GatewayOutcome.DECLINED
    assert kinds(gateway.take_notifications()) == ["authorized", "captured", "expired"]


def test_the_sweep_expires_lapsed_authorizations() -> None:
    clock = FixedClock(AT)
    gateway = FakeGateway(clock, authorization_ttl=timedelta(days=1))
    authorize(gateway)
    gateway.take_notifications()
    clock.advance(timedelta(days=2))
    (expired,) = gateway.expire_overdue()
    assert (expired.kind, expired.amount) == (NotificationKind.EXPIRED, twd("1000"))
    assert gateway.expire_overdue() == []


# --- scenarios and construction ------------------------------------------------------------


def test_a_scenario_by_payment_id_wins_over_the_payment_method() -> None:
    gateway, _ = fake(**{"pay-1": Scenario(authorize=Step.DECLINE)})
    assert authorize(gateway, method="fake-card-approve").outcome is GatewayOutcome.DECLINED
    assert authorize(gateway, "pay-2", method="tok_anything").outcome is GatewayOutcome.APPROVED
    assert gateway.scenario("pay-2") == Scenario()


def test_scenarios_and_the_gateway_refuse_nonsense() -> None:
    with pytest.raises(InvalidInput, match="only an authorisation can require action"):
        Scenario(capture=Step.REQUIRE_ACTION)
    with pytest.raises(InvalidInput, match="must be a Step"):
        Scenario(void="approve")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="positive timedelta"):
        Scenario(action_ttl=timedelta(0))
    with pytest.raises(InvalidInput, match="must be a Scenario"):
        FakeGateway(FixedClock(AT), scenarios={"pay-1": "decline"})  # type: ignore[dict-item]
    with pytest.raises(InvalidInput, match="Clock"):
        FakeGateway(AT)  # a time, not a clock: datetime has a now() of its own
    with pytest.raises(InvalidInput, match="authorization_ttl"):
        FakeGateway(FixedClock(AT), authorization_ttl=timedelta(days=-1))
    with pytest.raises(InvalidInput, match="idempotency key"):
        FakeGateway(FixedClock(AT)).lookup("")


def test_the_same_calls_give_the_same_answers_and_notifications() -> None:
    def run() -> tuple[list[GatewayResult], list[GatewayNotification]]:
        gateway, _ = fake()
        auth = authorize(gateway, method="fake-card-async")
        results = [
            auth,
            gateway.capture(capture_request(auth, "cap-1", "700")),
            gateway.refund(refund_request(auth, "ref-1", "50")),
            authorize(gateway, "pay-2", method="fake-card-insufficient-funds"),
        ]
        return results, gateway.take_notifications()

    assert run() == run()


def test_timeout_steps_are_only_for_the_first_attempt_per_key() -> None:
    gateway, _ = fake(**{"pay-1": Scenario(refund=Step.TIMEOUT)})
    auth = authorize(gateway)
    gateway.capture(capture_request(auth, "cap-1", "1000"))
    with pytest.raises(GatewayUnavailable):
        gateway.refund(refund_request(auth, "ref-1", "100"))
    with pytest.raises(GatewayUnavailable):
        gateway.refund(refund_request(auth, "ref-2", "100"))
    assert gateway.refund(refund_request(auth, "ref-1", "100")).accepted
    assert gateway.refund(refund_request(auth, "ref-2", "100")).accepted
    assert gateway.balance("pay-1").refunded == twd("200")


@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["capture", "refund", "void"]), st.integers(1, 1200)),
        max_size=12,
    )
)
def test_any_sequence_of_calls_keeps_refunded_within_captured_within_authorized(
    steps: list[tuple[str, int]],
) -> None:
    gateway, _ = fake()
    auth = authorize(gateway)
    for n, (call, amount) in enumerate(steps):
        key = f"{call}-{n}"
        before = gateway.balance("pay-1")
        try:
            if call == "capture":
                gateway.capture(capture_request(auth, key, str(amount)))
            elif call == "refund":
                gateway.refund(refund_request(auth, key, str(amount)))
            else:
                gateway.void(void_request(auth, key, str(before.capturable.amount or amount)))
        except InvalidInput:
            assert gateway.balance("pay-1") == before, "a refused call changed the balance"
            assert gateway.lookup(key) is None
        balance = gateway.balance("pay-1")
        assert twd("0") <= balance.refunded <= balance.captured
        assert balance.captured + balance.released <= balance.authorized


# --- values of the port -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "complaint"),
    [
        (twd("0"), "positive Money"),
        (twd("-5"), "positive Money"),
        (twd("10.005"), "more decimals than the TWD minor unit"),
        (Money("1.5", "JPY"), "more decimals than the JPY minor unit"),
        ("10", "positive Money"),
    ],
)
def test_request_amounts_are_positive_whole_minor_units(amount: Any, complaint: str) -> None:
    with pytest.raises(InvalidInput, match=complaint):
        CaptureRequest(idempotency_key="k", payment_id="p", authorization_ref="a", amount=amount)


@pytest.mark.parametrize("field", ["idempotency_key", "payment_id", "payment_method"])
def test_requests_need_their_names(field: str) -> None:
    fields: dict[str, Any] = {
        "idempotency_key": "k",
        "payment_id": "p",
        "amount": twd("1"),
        "payment_method": "m",
        field: " ",
    }
    with pytest.raises(InvalidInput, match=field):
        AuthorizeRequest(**fields)


def test_a_result_carries_a_decline_exactly_when_declined() -> None:
    fields: dict[str, Any] = {
        "operation": GatewayOperation.CAPTURE,
        "idempotency_key": "k",
        "payment_id": "p",
        "provider_ref": "r",
        "amount": twd("1"),
        "provider_code": "x",
    }
    with pytest.raises(InvalidInput, match="declined result needs decline"):
        GatewayResult(outcome=GatewayOutcome.DECLINED, **fields)
    with pytest.raises(InvalidInput, match="approved result takes no decline"):
        GatewayResult(
            outcome=GatewayOutcome.APPROVED,
            decline=Decline(DeclineReason.DECLINED, "no"),
            **fields,
        )
    action = RequiredAction("act-1", AT)
    with pytest.raises(InvalidInput, match="only an authorisation can require action"):
        GatewayResult(outcome=GatewayOutcome.REQUIRES_ACTION, action=action, **fields)
    with pytest.raises(InvalidInput, match="pending result takes no required action"):
        GatewayResult(outcome=GatewayOutcome.PENDING, action=action, **fields)
    with pytest.raises(InvalidInput, match="outcome must be a GatewayOutcome"):
        GatewayResult(outcome="approved", **fields)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="reason must be a DeclineReason"):
        Decline("no", "message")  # type: ignore[arg-type]


def test_errors_are_fourflows_errors_of_the_right_builtin_kind() -> None:
    conflict = IdempotencyConflict("k", recorded="sha256:a", given="sha256:b")
    assert isinstance(conflict, InvalidInput)
    assert isinstance(conflict, ValueError)
    unavailable = GatewayUnavailable("psp", "capture", "read timed out", idempotency_key="c-1")
    assert isinstance(unavailable, FourFlowsError)
    assert not isinstance(unavailable, InvalidInput)
    assert str(unavailable).startswith(
        "payment gateway 'psp' gave no answer to capture with idempotency key 'c-1': "
        "read timed out; the outcome is unknown, not failed"
    )


# --- fingerprints and records -------------------------------------------------------------


def test_the_fingerprint_ignores_only_the_key() -> None:
    base = refund_request(
        GatewayResult(
            operation=GatewayOperation.AUTHORIZE,
            outcome=GatewayOutcome.APPROVED,
            idempotency_key="a",
            payment_id="pay-1",
            provider_ref="auth-1",
            amount=twd("100"),
            provider_code="ok",
        ),
        "k-1",
        "100",
    )
    same = RefundRequest(
        idempotency_key="k-2",
        payment_id="pay-1",
        authorization_ref="auth-1",
        amount=twd("100.00"),
        reason="returned",
    )
    assert request_fingerprint(base) == request_fingerprint(same)
    different = [
        RefundRequest(
            idempotency_key="k-1",
            payment_id="pay-1",
            authorization_ref="auth-1",
            amount=twd("100"),
            reason="damaged",
        ),
        VoidRequest(
            idempotency_key="k-1", payment_id="pay-1", authorization_ref="auth-1", amount=twd("100")
        ),
    ]
    assert len({request_fingerprint(r) for r in [base, *different]}) == 3
    # A stored fingerprint stays valid: it is a hash of canonical JSON, the same in
    # every process (unlike hash()); changing this form would orphan stored records.
    canonical = (
        b'{"fields":{"map":{"amount":{"money":["100","TWD"]},"authorization_ref":"auth-1",'
        b'"payment_id":"pay-1","reason":"returned"}},"type":"RefundRequest"}'
    )
    assert request_fingerprint(base) == "sha256:" + hashlib.sha256(canonical).hexdigest()


class PlaceOrder(pydantic.BaseModel):
    idempotency_key: str
    order_id: str
    total: MoneyField
    placed_at: datetime
    lines: list[tuple[str, int]]
    tags: frozenset[str] = frozenset()


def test_commands_and_mappings_have_fingerprints_too() -> None:
    one = PlaceOrder(
        idempotency_key="k-1",
        order_id="o-1",
        total=twd("590"),
        placed_at=AT,
        lines=[("TEE", 1)],
        tags=frozenset({"b", "a"}),
    )
    two = one.model_copy(update={"idempotency_key": "k-2"})
    assert request_fingerprint(one) == request_fingerprint(two)
    assert request_fingerprint(one) != request_fingerprint(
        one.model_copy(update={"lines": [("TEE", 2)]})
    )
    assert request_fingerprint({"idempotency_key": "x", "n": Decimal("1.0")}) == (
        request_fingerprint({"idempotency_key": "y", "n": Decimal("1")})
    )
    assert request_fingerprint({"n": 1}) != request_fingerprint({"n": Decimal(1)})
    with pytest.raises(InvalidInput, match="cannot fingerprint"):
        request_fingerprint(object())
    with pytest.raises(InvalidInput, match="cannot fingerprint"):
        request_fingerprint({"n": object()})
    with pytest.raises(InvalidInput, match="non-string keys"):
        request_fingerprint({"n": {1: "one"}})


@given(
    amount=st.integers(1, 10**9),
    other=st.integers(1, 10**9),
    key=st.text(min_size=1).filter(str.strip),
    reason=st.sampled_from(["returned", "damaged"]),
)
def test_equal_requests_and_only_equal_requests_share_a_fingerprint(
    amount: int, other: int, key: str, reason: str
) -> None:
    def refund(cents: int, why: str, k: str) -> RefundRequest:
        return RefundRequest(
            idempotency_key=k,
            payment_id="pay-1",
            authorization_ref="auth-1",
            amount=Money.from_minor_units(cents, "TWD"),
            reason=why,
        )

    first = refund(amount, "returned", "k")
    second = refund(other, reason, key)
    same_request = (amount, "returned") == (other, reason)
    assert (request_fingerprint(first) == request_fingerprint(second)) == same_request


def test_records_answer_a_repeat_and_refuse_a_changed_request() -> None:
    records: IdempotencyRecords[str] = IdempotencyRecords()
    assert records.check("k", "sha256:a") is None
    assert records.record("k", "sha256:a", "first") == "first"
    assert records.record("k", "sha256:a", "second") == "first"
    assert records.check("k", "sha256:a") == "first"
    with pytest.raises(IdempotencyConflict, match="'k'"):
        records.check("k", "sha256:b")
    with pytest.raises(IdempotencyConflict):
        records.record("k", "sha256:b", "other")
    with pytest.raises(InvalidInput, match="non-empty"):
        records.record(" ", "sha256:a", "x")
    with pytest.raises(InvalidInput, match="must not be None"):
        records.record("j", "sha256:a", None)  # type: ignore[arg-type]
    record = records.get("k")
    assert record is not None
    assert (record.fingerprint, record.result) == ("sha256:a", "first")
    assert ("k" in records, "j" in records, len(records)) == (True, False, 1)
    assert [r.key for r in records] == ["k"]
