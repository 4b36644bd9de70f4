"""The contract of `fourflows.cash.gateway.PaymentGateway`, as a pytest class any adapter can run.

Subclass `GatewayContract` in your own test file, name the subclass
``Test...`` and supply the factories: a gateway, an authorisation request the
provider approves and one it declines (a sandbox's test cards), and the
webhook payload your provider would send for a notification::

    from fourflows.cash.gateway import AuthorizeRequest
    from fourflows.testing.gateway_contract import GatewayContract

    class TestMyProvider(GatewayContract):
        currency = "TWD"

        def make_gateway(self):
            return MyProviderGateway(api_key=SANDBOX_KEY)

        def approvable_authorization(self, *, idempotency_key, payment_id, amount):
            return AuthorizeRequest(idempotency_key=idempotency_key, payment_id=payment_id,
                                    amount=amount, payment_method="tok_visa")

        def declinable_authorization(self, *, idempotency_key, payment_id, amount):
            return AuthorizeRequest(idempotency_key=idempotency_key, payment_id=payment_id,
                                    amount=amount, payment_method="tok_chargeDeclined")

        def notification_payload(self, notification):
            return sign_like_my_provider(notification)

fourflows runs the same class against `fourflows.adapters.fake_gateway.FakeGateway`.

The parsing tests cover every `NotificationKind`, the dispute kinds
(``dispute_opened``, ``dispute_won``, ``dispute_lost``) included: a card
provider reports chargebacks, and the shop must read them. A provider that
never sends some kinds (no disputes for bank transfers) narrows
``notification_kinds``.

A provider that takes dispute evidence through its API implements
`fourflows.cash.gateway.DisputeGateway`; prove it with `DisputeContract`,
whose one factory opens a dispute in the sandbox (a test card that is always
disputed)::

    class TestMyProviderDisputes(DisputeContract):
        def make_gateway(self):
            return MyProviderGateway(api_key=SANDBOX_KEY)

        def disputed_payment(self, gateway, name):
            ...  # authorise and capture with the "always disputed" test card
            return dispute_id, payment_id
A sandbox remembers idempotency keys between runs: override `unique` so that
each run uses keys and payment ids of its own.

The suite accepts ``pending`` wherever it accepts ``approved`` (some
providers confirm captures and refunds later), and checks what every caller
relies on: a full and a partial capture, refunds, voids, declines with a
reason, repeats under one key doing nothing twice, a key reused for another
request refused, amounts above the balance refused, lookups, and
notifications read back from the provider's own format.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import pytest

from fourflows.cash.gateway import (
    DISPUTE_KINDS,
    AuthorizeRequest,
    CaptureRequest,
    DeclineReason,
    DisputeEvidenceRequest,
    DisputeGateway,
    DisputeReason,
    GatewayNotification,
    GatewayOperation,
    GatewayOutcome,
    GatewayResult,
    NotificationKind,
    NotificationPayload,
    PaymentGateway,
    RefundRequest,
    VoidRequest,
)
from fourflows.errors import IdempotencyConflict, InvalidInput, NotFound
from fourflows.money import Money

__all__ = ["DisputeContract", "GatewayContract"]

_AT = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)

_SAMPLE_OPERATION = {
    NotificationKind.AUTHORIZED: GatewayOperation.AUTHORIZE,
    NotificationKind.CAPTURED: GatewayOperation.CAPTURE,
    NotificationKind.VOIDED: GatewayOperation.VOID,
    NotificationKind.REFUNDED: GatewayOperation.REFUND,
    NotificationKind.FAILED: GatewayOperation.AUTHORIZE,
    NotificationKind.EXPIRED: GatewayOperation.AUTHORIZE,
    NotificationKind.ACTION_REQUIRED: GatewayOperation.AUTHORIZE,
    NotificationKind.DISPUTE_OPENED: GatewayOperation.CAPTURE,
    NotificationKind.DISPUTE_WON: GatewayOperation.CAPTURE,
    NotificationKind.DISPUTE_LOST: GatewayOperation.CAPTURE,
}
_SAMPLE_REASON = {
    NotificationKind.FAILED: DeclineReason.INSUFFICIENT_FUNDS,
    NotificationKind.EXPIRED: DeclineReason.AUTHORIZATION_EXPIRED,
}


def _accepted(result: GatewayResult, request: object) -> GatewayResult:
    assert result.outcome in (GatewayOutcome.APPROVED, GatewayOutcome.PENDING), (result, request)
    assert result.accepted
    return result


class GatewayContract(abc.ABC):
    """Promises of `fourflows.cash.gateway.PaymentGateway`, for the fake and real providers."""

    currency: ClassVar[str] = "TWD"
    """The currency of every request."""

    declined_reason: ClassVar[DeclineReason | None] = None
    """The reason `declinable_authorization` is declined with, or ``None`` not to check it."""

    notification_kinds: ClassVar[tuple[NotificationKind, ...]] = tuple(NotificationKind)
    """The notification kinds the provider sends, checked by the parsing tests."""

    @abc.abstractmethod
    def make_gateway(self) -> PaymentGateway:
        """Return the gateway to check; override in your subclass."""

    @abc.abstractmethod
    def approvable_authorization(
        self, *, idempotency_key: str, payment_id: str, amount: Money
    ) -> AuthorizeRequest:
        """An authorisation the provider approves at once; override in your subclass."""

    @abc.abstractmethod
    def declinable_authorization(
        self, *, idempotency_key: str, payment_id: str, amount: Money
    ) -> AuthorizeRequest:
        """An authorisation the provider declines; override in your subclass."""

    @abc.abstractmethod
    def notification_payload(self, notification: GatewayNotification) -> NotificationPayload:
        """``notification`` encoded (and signed) as the provider sends it; override it."""

    def unreadable_payloads(self) -> Sequence[NotificationPayload]:
        """Payloads the gateway must refuse; extend it with, e.g., a badly signed one."""
        return [
            NotificationPayload(b""),
            NotificationPayload(b"\xff\xfe not text"),
            NotificationPayload(b"not json at all"),
            NotificationPayload(b"[]"),
            NotificationPayload(b"{}"),
        ]

    def unique(self, name: str) -> str:
        """``name`` made unique to this run (override when the sandbox remembers keys)."""
        return name

    def money(self, amount: str) -> Money:
        """``amount`` in the contract's currency."""
        return Money(amount, self.currency)

    def plus_one_unit(self, amount: str) -> str:
        """``amount`` plus the currency's smallest unit (1000 TWD → 1000.01, 1000 JPY → 1001)."""
        return str((self.money(amount) + Money.from_minor_units(1, self.currency)).amount)

    # --- helpers ---------------------------------------------------------------------------

    def authorized(self, gateway: PaymentGateway, name: str, amount: str) -> GatewayResult:
        """Authorise ``amount`` for payment ``name`` (key ``name-auth``); check it is accepted."""
        request = self.approvable_authorization(
            idempotency_key=self.unique(f"{name}-auth"),
            payment_id=self.unique(name),
            amount=self.money(amount),
        )
        result = _accepted(gateway.authorize(request), request)
        assert result.operation is GatewayOperation.AUTHORIZE
        assert (result.payment_id, result.amount) == (request.payment_id, request.amount)
        assert result.idempotency_key == request.idempotency_key
        return result

    def capture_request(self, auth: GatewayResult, key: str, amount: str) -> CaptureRequest:
        """A capture of ``amount`` on ``auth`` under key ``key``."""
        return CaptureRequest(
            idempotency_key=self.unique(key),
            payment_id=auth.payment_id,
            authorization_ref=auth.provider_ref,
            amount=self.money(amount),
        )

    def refund_request(self, auth: GatewayResult, key: str, amount: str) -> RefundRequest:
        """A refund of ``amount`` on ``auth`` under key ``key``."""
        return RefundRequest(
            idempotency_key=self.unique(key),
            payment_id=auth.payment_id,
            authorization_ref=auth.provider_ref,
            amount=self.money(amount),
            reason="contract test",
        )

    def void_request(self, auth: GatewayResult, key: str, amount: str) -> VoidRequest:
        """A void of ``amount`` on ``auth`` under key ``key``."""
        return VoidRequest(
            idempotency_key=self.unique(key),
            payment_id=auth.payment_id,
            authorization_ref=auth.provider_ref,
            amount=self.money(amount),
        )

    # --- the promises ----------------------------------------------------------------------

    def test_an_approvable_authorization_is_accepted_with_a_reference(self) -> None:
        """Approved (or pending), for the amount asked, with a provider reference and code."""
        auth = self.authorized(self.make_gateway(), "pay-approve", "1000")
        assert auth.provider_ref.strip()
        assert auth.provider_code.strip()
        assert auth.decline is None

    def test_authorize_capture_refund(self) -> None:
        """The whole card path: hold 1000, take 1000, give back 400, then 600 more."""
        gateway = self.make_gateway()
        auth = self.authorized(gateway, "pay-cycle", "1000")
        capture = self.capture_request(auth, "pay-cycle-capture", "1000")
        captured = _accepted(gateway.capture(capture), capture)
        assert (captured.operation, captured.amount) == (GatewayOperation.CAPTURE, capture.amount)
        for key, amount in (("pay-cycle-refund-1", "400"), ("pay-cycle-refund-2", "600")):
            refund = self.refund_request(auth, key, amount)
            refunded = _accepted(gateway.refund(refund), refund)
            assert (refunded.operation, refunded.amount) == (GatewayOperation.REFUND, refund.amount)
        # 1000 captured - 400 - 600 refunded = 0 left: one more unit is refused.
        with pytest.raises(InvalidInput):
            gateway.refund(self.refund_request(auth, "pay-cycle-refund-3", "1"))

    def test_a_partial_capture_takes_only_its_amount(self) -> None:
        """Capturing 300 of 1000 takes 300: a refund of 301 is refused, one of 300 accepted."""
        gateway = self.make_gateway()
        auth = self.authorized(gateway, "pay-partial", "1000")
        capture = self.capture_request(auth, "pay-partial-capture", "300")
        assert _accepted(gateway.capture(capture), capture).amount == self.money("300")
        with pytest.raises(InvalidInput):
            gateway.refund(self.refund_request(auth, "pay-partial-refund-1", "301"))
        refund = self.refund_request(auth, "pay-partial-refund-2", "300")
        _accepted(gateway.refund(refund), refund)

    def test_a_declinable_authorization_is_declined_with_a_reason(self) -> None:
        """Declined is an answer, not an error: a reason, a message, and nothing to capture."""
        gateway = self.make_gateway()
        request = self.declinable_authorization(
            idempotency_key=self.unique("pay-decline-auth"),
            payment_id=self.unique("pay-decline"),
            amount=self.money("1000"),
        )
        result = gateway.authorize(request)
        assert result.outcome is GatewayOutcome.DECLINED
        assert not result.accepted
        assert result.decline is not None
        assert isinstance(result.decline.reason, DeclineReason)
        assert result.decline.message.strip()
        assert result.provider_code.strip()
        if self.declined_reason is not None:
            assert result.decline.reason is self.declined_reason
        with pytest.raises(InvalidInput):
            gateway.capture(self.capture_request(result, "pay-decline-capture", "1000"))

    def test_a_repeated_request_returns_the_first_result_and_does_nothing_twice(self) -> None:
        """Same key, same request: the same answer, and the money moves once."""
        gateway = self.make_gateway()
        auth = self.authorized(gateway, "pay-repeat", "1000")
        again = self.approvable_authorization(
            idempotency_key=self.unique("pay-repeat-auth"),
            payment_id=self.unique("pay-repeat"),
            amount=self.money("1000"),
        )
        assert gateway.authorize(again) == auth
        capture = self.capture_request(auth, "pay-repeat-capture", "600")
        first = _accepted(gateway.capture(capture), capture)
        assert gateway.capture(capture) == first
        refund = self.refund_request(auth, "pay-repeat-refund", "100")
        refunded = _accepted(gateway.refund(refund), refund)
        assert gateway.refund(refund) == refunded
        # Captured once (600), refunded once (100): 500 is left to refund, not 1100 or 400.
        with pytest.raises(InvalidInput):
            gateway.refund(self.refund_request(auth, "pay-repeat-refund-2", "501"))
        rest = self.refund_request(auth, "pay-repeat-refund-3", "500")
        _accepted(gateway.refund(rest), rest)

    def test_a_key_reused_for_another_request_is_refused(self) -> None:
        """`IdempotencyConflict` naming the key, and nothing happens."""
        gateway = self.make_gateway()
        auth = self.authorized(gateway, "pay-conflict", "1000")
        capture = self.capture_request(auth, "pay-conflict-capture", "300")
        first = _accepted(gateway.capture(capture), capture)
        other_amount = self.capture_request(auth, "pay-conflict-capture", "400")
        with pytest.raises(IdempotencyConflict, match=capture.idempotency_key):
            gateway.capture(other_amount)
        as_refund = self.refund_request(auth, "pay-conflict-capture", "300")
        with pytest.raises(IdempotencyConflict, match=capture.idempotency_key):
            gateway.refund(as_refund)
        assert gateway.capture(capture) == first
        # Only the first capture happened: 300 can be refunded, 301 cannot.
        with pytest.raises(InvalidInput):
            gateway.refund(self.refund_request(auth, "pay-conflict-refund-1", "301"))

    def test_a_capture_above_the_authorized_amount_is_refused(self) -> None:
        """One unit over 1000 is refused with `InvalidInput`; the full 1000 still goes through."""
        gateway = self.make_gateway()
        auth = self.authorized(gateway, "pay-over-capture", "1000")
        over = self.capture_request(auth, "pay-over-capture-1", self.plus_one_unit("1000"))
        with pytest.raises(InvalidInput):
            gateway.capture(over)
        capture = self.capture_request(auth, "pay-over-capture-2", "1000")
        _accepted(gateway.capture(capture), capture)

    def test_a_refund_above_the_captured_amount_is_refused(self) -> None:
        """Nothing captured: nothing to refund; 500 captured: one unit more refused, 500 not."""
        gateway = self.make_gateway()
        auth = self.authorized(gateway, "pay-over-refund", "1000")
        with pytest.raises(InvalidInput):
            gateway.refund(self.refund_request(auth, "pay-over-refund-0", "1"))
        capture = self.capture_request(auth, "pay-over-refund-capture", "500")
        _accepted(gateway.capture(capture), capture)
        with pytest.raises(InvalidInput):
            gateway.refund(
                self.refund_request(auth, "pay-over-refund-1", self.plus_one_unit("500"))
            )
        refund = self.refund_request(auth, "pay-over-refund-2", "500")
        _accepted(gateway.refund(refund), refund)

    def test_a_void_releases_the_authorization(self) -> None:
        """After a void of the whole amount, nothing can be captured."""
        gateway = self.make_gateway()
        auth = self.authorized(gateway, "pay-void", "1000")
        void = self.void_request(auth, "pay-void-void", "1000")
        voided = _accepted(gateway.void(void), void)
        assert (voided.operation, voided.amount) == (GatewayOperation.VOID, void.amount)
        with pytest.raises(InvalidInput):
            gateway.capture(self.capture_request(auth, "pay-void-capture", "1"))

    def test_a_void_after_a_full_capture_is_refused(self) -> None:
        """Once all is captured there is nothing to release: refund instead."""
        gateway = self.make_gateway()
        auth = self.authorized(gateway, "pay-late-void", "1000")
        capture = self.capture_request(auth, "pay-late-void-capture", "1000")
        _accepted(gateway.capture(capture), capture)
        with pytest.raises(InvalidInput):
            gateway.void(self.void_request(auth, "pay-late-void-void", "1000"))

    def test_another_currency_is_refused(self) -> None:
        """A capture in a currency other than the authorisation's raises `InvalidInput`."""
        gateway = self.make_gateway()
        auth = self.authorized(gateway, "pay-currency", "1000")
        other = "USD" if self.currency != "USD" else "EUR"
        wrong = CaptureRequest(
            idempotency_key=self.unique("pay-currency-capture"),
            payment_id=auth.payment_id,
            authorization_ref=auth.provider_ref,
            amount=Money("10", other),
        )
        with pytest.raises(InvalidInput):
            gateway.capture(wrong)

    def test_an_unknown_authorization_is_not_found(self) -> None:
        """A capture on a reference the provider never issued raises `NotFound`."""
        gateway = self.make_gateway()
        request = CaptureRequest(
            idempotency_key=self.unique("pay-unknown-capture"),
            payment_id=self.unique("pay-unknown"),
            authorization_ref=self.unique("no-such-authorization"),
            amount=self.money("10"),
        )
        with pytest.raises(NotFound):
            gateway.capture(request)

    def test_lookup_reports_each_call_and_nothing_for_an_unknown_key(self) -> None:
        """What a call answered can be found again by its key; an unused key finds ``None``."""
        gateway = self.make_gateway()
        auth = self.authorized(gateway, "pay-lookup", "1000")
        capture = self.capture_request(auth, "pay-lookup-capture", "1000")
        captured = _accepted(gateway.capture(capture), capture)
        for result in (auth, captured):
            found = gateway.lookup(result.idempotency_key)
            assert found is not None
            assert _accepted(found, result.idempotency_key) is found
            assert (found.operation, found.provider_ref, found.amount) == (
                result.operation,
                result.provider_ref,
                result.amount,
            )
        assert gateway.lookup(self.unique("pay-lookup-never-sent")) is None

    def sample_notification(self, kind: NotificationKind) -> GatewayNotification:
        """A notification of ``kind`` for the parsing tests."""
        disputed = kind in DISPUTE_KINDS
        opened = kind is NotificationKind.DISPUTE_OPENED
        return GatewayNotification(
            notification_id=self.unique(f"evt-{kind.value}"),
            kind=kind,
            operation=_SAMPLE_OPERATION[kind],
            payment_id=self.unique("pay-notified"),
            provider_ref=self.unique(f"ref-{kind.value}"),
            amount=self.money("1234"),
            occurred_at=_AT,
            reason=_SAMPLE_REASON.get(kind),
            dispute_id=self.unique("dispute-notified") if disputed else None,
            dispute_reason=DisputeReason.PRODUCT_NOT_RECEIVED if opened else None,
            respond_by=_AT + timedelta(days=7) if opened else None,
        )

    def test_each_notification_kind_reads_back_from_the_provider_format(self) -> None:
        """Id, kind, operation, payment, reference, amount and time survive the round trip."""
        gateway = self.make_gateway()
        for kind in self.notification_kinds:
            sent = self.sample_notification(kind)
            read = gateway.parse_notification(self.notification_payload(sent))
            assert (
                read.notification_id,
                read.kind,
                read.operation,
                read.payment_id,
                read.provider_ref,
                read.amount,
                read.occurred_at,
            ) == (
                sent.notification_id,
                sent.kind,
                sent.operation,
                sent.payment_id,
                sent.provider_ref,
                sent.amount,
                sent.occurred_at,
            ), kind
            assert read.occurred_at.utcoffset() is not None
            assert (read.dispute_id, read.dispute_reason, read.respond_by) == (
                sent.dispute_id,
                sent.dispute_reason,
                sent.respond_by,
            ), kind

    def test_a_repeated_delivery_reads_the_same(self) -> None:
        """The same payload parsed twice gives equal notifications, with the same id."""
        gateway = self.make_gateway()
        payload = self.notification_payload(self.sample_notification(self.notification_kinds[0]))
        assert gateway.parse_notification(payload) == gateway.parse_notification(payload)

    def test_an_unreadable_payload_is_refused(self) -> None:
        """Empty, non-JSON, wrongly shaped (or badly signed) payloads raise `InvalidInput`."""
        gateway = self.make_gateway()
        for payload in self.unreadable_payloads():
            with pytest.raises(InvalidInput):
                gateway.parse_notification(payload)


class DisputeContract(abc.ABC):
    """Promises of `fourflows.cash.gateway.DisputeGateway`: submitting dispute evidence."""

    @abc.abstractmethod
    def make_gateway(self) -> DisputeGateway:
        """Return the gateway to check; override in your subclass."""

    @abc.abstractmethod
    def disputed_payment(self, gateway: DisputeGateway, name: str) -> tuple[str, str]:
        """Make a payment the provider disputes at once; return ``(dispute_id, payment_id)``.

        ``name`` is unique per test: use it (through `unique`) for the payment
        id and keys. Override in your subclass.
        """

    def unique(self, name: str) -> str:
        """``name`` made unique to this run (override when the sandbox remembers keys)."""
        return name

    def evidence(
        self, key: str, dispute_id: str, payment_id: str, text: str
    ) -> DisputeEvidenceRequest:
        """An evidence request under key ``key``."""
        return DisputeEvidenceRequest(
            idempotency_key=self.unique(key),
            dispute_id=dispute_id,
            payment_id=payment_id,
            evidence=text,
        )

    def test_evidence_is_taken_with_a_reference(self) -> None:
        """The provider takes the evidence and names the dispute and payment it is about."""
        gateway = self.make_gateway()
        dispute_id, payment_id = self.disputed_payment(gateway, "dispute-evidence")
        request = self.evidence("dispute-evidence-1", dispute_id, payment_id, "tracking TW123")
        result = gateway.submit_dispute_evidence(request)
        assert (result.dispute_id, result.payment_id) == (dispute_id, payment_id)
        assert result.idempotency_key == request.idempotency_key
        assert result.provider_ref.strip()
        assert result.provider_code.strip()

    def test_a_repeated_submission_returns_the_first_result(self) -> None:
        """Same key, same evidence: the first answer again, and nothing submitted twice."""
        gateway = self.make_gateway()
        dispute_id, payment_id = self.disputed_payment(gateway, "dispute-repeat")
        request = self.evidence("dispute-repeat-1", dispute_id, payment_id, "signed receipt")
        first = gateway.submit_dispute_evidence(request)
        assert gateway.submit_dispute_evidence(request) == first

    def test_a_key_reused_for_other_evidence_is_refused(self) -> None:
        """`IdempotencyConflict` naming the key."""
        gateway = self.make_gateway()
        dispute_id, payment_id = self.disputed_payment(gateway, "dispute-conflict")
        request = self.evidence("dispute-conflict-1", dispute_id, payment_id, "signed receipt")
        gateway.submit_dispute_evidence(request)
        other = self.evidence("dispute-conflict-1", dispute_id, payment_id, "something else")
        with pytest.raises(IdempotencyConflict, match=request.idempotency_key):
            gateway.submit_dispute_evidence(other)

    def test_an_answered_dispute_takes_no_more_evidence(self) -> None:
        """A second submission under a new key is refused with `InvalidInput`."""
        gateway = self.make_gateway()
        dispute_id, payment_id = self.disputed_payment(gateway, "dispute-twice")
        gateway.submit_dispute_evidence(
            self.evidence("dispute-twice-1", dispute_id, payment_id, "signed receipt")
        )
        with pytest.raises(InvalidInput):
            gateway.submit_dispute_evidence(
                self.evidence("dispute-twice-2", dispute_id, payment_id, "more")
            )

    def test_an_unknown_dispute_is_not_found(self) -> None:
        """Evidence for a dispute the provider never opened raises `NotFound`."""
        gateway = self.make_gateway()
        _, payment_id = self.disputed_payment(gateway, "dispute-unknown")
        request = self.evidence(
            "dispute-unknown-1", self.unique("no-such-dispute"), payment_id, "receipt"
        )
        with pytest.raises(NotFound):
            gateway.submit_dispute_evidence(request)
