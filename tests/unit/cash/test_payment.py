from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import localcontext
from typing import Any

import attrs
import pytest

from fourflows.cash.payment import (
    PAYMENT_MACHINE,
    ActionKind,
    OperationStatus,
    Payment,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentExpired,
    PaymentMethod,
    PaymentRefunded,
    PaymentRemitted,
    PaymentTotals,
    PaymentVoided,
    ReleaseCause,
)
from fourflows.errors import (
    CurrencyMismatch,
    GuardRejected,
    InvalidInput,
    InvalidTransition,
    NotFound,
)
from fourflows.machines import machine_named
from fourflows.money import Money

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def twd(amount: str) -> Money:
    return Money(amount, "TWD")


def payment(method: PaymentMethod = PaymentMethod.CARD, amount: str = "1000") -> Payment:
    return Payment.create(id="p-1", order_id="o-1", method=method, amount=twd(amount), at=AT)


def authorized_card(amount: str = "1000") -> Payment:
    made = payment(amount=amount)
    made.authorize(amount=twd(amount), at=AT, provider_ref="auth-1")
    return made


def snapshot(made: Payment) -> tuple[Any, ...]:
    return (
        made.state,
        made.version,
        made.totals,
        dict(made.captures),
        dict(made.refunds),
        made.pending_events,
    )


def names(made: Payment) -> list[str]:
    return [event.name() for event in made.pending_events]


class TestCard:
    def test_authorise_then_capture_in_two_shipments(self) -> None:
        made = authorized_card()
        assert made.state == "authorized"
        assert made.authorization_expires_at == AT + timedelta(days=7)
        # First parcel ships: capture 400, acknowledged, confirmed later.
        made.request_capture(capture_id="c-1", amount=twd("400"), at=AT + HOUR)
        assert made.state == "authorized"  # a request moves money into "pending", not the state
        assert made.totals.capture_pending == twd("400")
        assert made.capturable == twd("600")  # 1000 authorised − 400 requested
        event = made.capture_succeeded(capture_id="c-1", amount=twd("400"), at=AT + 2 * HOUR)
        assert isinstance(event, PaymentCaptured)
        assert made.state == "partially_captured"
        assert (made.totals.captured, made.capturable) == (twd("400"), twd("600"))
        # Second parcel ships: capture the remaining 600 in one step.
        made.capture_succeeded(capture_id="c-2", amount=twd("600"), at=AT + 3 * HOUR)
        assert made.state == "captured"
        assert made.totals.captured == twd("1000")  # 400 + 600
        assert made.capturable == twd("0")
        assert names(made) == [
            "PaymentCreated",
            "PaymentAuthorized",
            "PaymentCaptureRequested",
            "PaymentCaptured",
            "PaymentCaptured",
        ]
        assert [e.sequence for e in made.pending_events] == [1, 2, 3, 4, 5]

    def test_the_events_carry_the_totals_after_the_move(self) -> None:
        made = authorized_card()
        event = made.capture_succeeded(capture_id="c-1", amount=twd("250"), at=AT)
        assert isinstance(event, PaymentCaptured)
        assert event.order_id == "o-1"
        assert event.totals == made.totals
        assert event.totals.captured == twd("250")

    def test_a_capture_above_what_is_capturable_is_refused_with_the_numbers(self) -> None:
        made = authorized_card()
        made.request_capture(capture_id="c-1", amount=twd("700"), at=AT)
        before = snapshot(made)
        # 1000 − 700 requested = 300 capturable; 400 is too much.
        with pytest.raises(GuardRejected, match=r"400 TWD asked, 300 TWD capturable"):
            made.request_capture(capture_id="c-2", amount=twd("400"), at=AT)
        with pytest.raises(GuardRejected, match="capture_confirms"):
            made.capture_succeeded(capture_id="c-3", amount=twd("301"), at=AT)
        assert snapshot(made) == before

    def test_an_expired_authorisation_cannot_be_captured(self) -> None:
        made = authorized_card()
        expires = AT + timedelta(days=7)
        # One second before the window ends the capture is still allowed ...
        made.request_capture(capture_id="c-1", amount=twd("100"), at=expires - timedelta(seconds=1))
        before = snapshot(made)
        # ... at the very end of the window it is not.
        with pytest.raises(GuardRejected, match=r"authorization_current.*expired at 2026-11-29"):
            made.request_capture(capture_id="c-2", amount=twd("100"), at=expires)
        assert snapshot(made) == before

    def test_the_window_is_configurable(self) -> None:
        made = Payment.create(
            id="p-2",
            order_id="o-1",
            method=PaymentMethod.CARD,
            amount=twd("500"),
            at=AT,
            authorization_window=timedelta(days=5),
        )
        made.authorize(amount=twd("500"), at=AT + HOUR)
        assert made.authorization_expires_at == AT + HOUR + timedelta(days=5)
        with pytest.raises(GuardRejected, match="authorization_current"):
            made.request_capture(capture_id="c-1", amount=twd("500"), at=AT + timedelta(days=6))

    def test_expire_releases_an_uncaptured_authorisation(self) -> None:
        made = authorized_card()
        with pytest.raises(GuardRejected, match=r"authorization_lapsed.*runs until"):
            made.expire(at=AT + timedelta(days=6))
        event = made.expire(at=AT + timedelta(days=7))
        assert isinstance(event, PaymentExpired)
        assert event.released == twd("1000")
        assert event.deadline == AT + timedelta(days=7)
        assert (made.state, made.is_final) == ("expired", True)
        assert made.expire(at=AT + timedelta(days=8)) is None  # a repeat changes nothing
        with pytest.raises(InvalidTransition, match="final state"):
            made.capture_succeeded(capture_id="c-1", amount=twd("1"), at=AT + timedelta(days=8))

    def test_expiry_after_a_partial_capture_keeps_what_was_captured(self) -> None:
        made = authorized_card()
        made.capture_succeeded(capture_id="c-1", amount=twd("400"), at=AT)
        made.expire(at=AT + timedelta(days=7))
        # 1000 authorised − 400 captured = 600 released; the payment is captured for 400.
        assert made.state == "captured"
        assert (made.totals.captured, made.totals.released) == (twd("400"), twd("600"))
        assert made.release is not None
        assert made.release.cause is ReleaseCause.EXPIRY
        assert made.expire(at=AT + timedelta(days=7)) is None

    def test_the_provider_may_report_a_lapse_before_our_window_ends(self) -> None:
        made = authorized_card()
        event = made.expire(at=AT + timedelta(days=5), by_provider=True)
        assert isinstance(event, PaymentExpired)
        assert event.by_provider
        assert made.state == "expired"

    def test_expiry_waits_for_a_capture_in_flight(self) -> None:
        made = authorized_card()
        made.request_capture(capture_id="c-1", amount=twd("400"), at=AT)
        with pytest.raises(GuardRejected, match="a capture of 400 TWD is in flight"):
            made.expire(at=AT + timedelta(days=7))
        made.capture_failed(capture_id="c-1", reason="issuer unavailable", at=AT + 2 * HOUR)
        assert made.capturable == twd("1000")
        made.expire(at=AT + timedelta(days=7))
        assert made.state == "expired"

    def test_three_d_secure_then_authorised(self) -> None:
        made = payment()
        made.require_authentication(reference="3ds-1", at=AT, deadline=AT + HOUR)
        assert made.state == "requires_action"
        assert made.action is not None
        assert made.action.kind is ActionKind.AUTHENTICATE
        assert made.require_authentication(reference="3ds-1", at=AT, deadline=AT + HOUR) is None
        made.authorize(amount=twd("1000"), at=AT + HOUR / 2, provider_ref="auth-1")
        assert made.state == "authorized"

    def test_abandoned_three_d_secure_expires_at_its_deadline(self) -> None:
        made = payment()
        made.require_authentication(reference="3ds-1", at=AT, deadline=AT + HOUR)
        made.expire(at=AT + HOUR)
        assert made.state == "expired"
        assert made.totals.released == twd("0")


class TestBankTransfer:
    def test_funds_awaited_then_paid_authorise_and_capture_at_once(self) -> None:
        made = payment(PaymentMethod.BANK_TRANSFER)
        made.await_funds(virtual_account="9600-1234-5678", deadline=AT + timedelta(days=3), at=AT)
        assert made.state == "requires_action"
        assert made.action is not None
        assert made.action.kind is ActionKind.TRANSFER_FUNDS
        event = made.capture_succeeded(capture_id="tx-77", amount=twd("1000"), at=AT + HOUR)
        assert isinstance(event, PaymentCaptured)
        assert made.state == "captured"
        totals = made.totals
        assert (totals.authorized, totals.captured) == (twd("1000"), twd("1000"))
        assert made.authorization is not None
        assert not made.authorization.confirmed  # implied by the money that arrived

    def test_an_unpaid_transfer_expires_at_its_deadline(self) -> None:
        made = payment(PaymentMethod.BANK_TRANSFER)
        deadline = AT + timedelta(days=3)
        made.await_funds(virtual_account="9600-1234-5678", deadline=deadline, at=AT)
        before = snapshot(made)
        with pytest.raises(GuardRejected, match="deadline_passed"):
            made.expire(at=deadline - timedelta(minutes=1))
        assert snapshot(made) == before
        made.expire(at=deadline)
        assert made.state == "expired"
        with pytest.raises(InvalidTransition, match="final state"):
            made.capture_succeeded(capture_id="tx-1", amount=twd("1000"), at=deadline + HOUR)

    def test_only_a_transfer_awaits_funds(self) -> None:
        made = payment(PaymentMethod.CARD)
        with pytest.raises(GuardRejected, match="this is a card payment"):
            made.await_funds(virtual_account="9600", deadline=AT + HOUR, at=AT)

    def test_the_deadline_must_be_in_the_future(self) -> None:
        made = payment(PaymentMethod.BANK_TRANSFER)
        with pytest.raises(InvalidInput, match="must be after at"):
            made.await_funds(virtual_account="9600", deadline=AT, at=AT)


class TestCashOnDelivery:
    def test_approved_collected_remitted(self) -> None:
        made = payment(PaymentMethod.CASH_ON_DELIVERY, "1280")
        made.authorize(amount=twd("1280"), at=AT)  # approved at placement, no provider
        assert made.state == "authorized"
        assert made.authorization_expires_at is None  # COD approval does not lapse
        made.capture_succeeded(capture_id="parcel-1", amount=twd("1280"), at=AT + 48 * HOUR)
        assert made.state == "captured"
        assert made.totals.remitted == twd("0")  # the carrier still holds the cash
        event = made.record_remittance(
            capture_id="parcel-1", remittance_ref="tcat-2026-12-01", at=AT + 10 * 24 * HOUR
        )
        assert isinstance(event, PaymentRemitted)
        assert (event.amount, event.totals.remitted) == (twd("1280"), twd("1280"))
        assert made.captures["parcel-1"].remittance_ref == "tcat-2026-12-01"
        assert made.state == "captured"
        again = made.record_remittance(
            capture_id="parcel-1", remittance_ref="tcat-2026-12-01", at=AT + 11 * 24 * HOUR
        )
        assert again is None

    def test_split_parcels_are_collected_and_remitted_one_by_one(self) -> None:
        made = payment(PaymentMethod.CASH_ON_DELIVERY, "1000")
        made.authorize(amount=twd("1000"), at=AT)
        made.capture_succeeded(capture_id="parcel-1", amount=twd("300"), at=AT)
        with pytest.raises(NotFound, match="no capture on payment 'p-1' with id 'parcel-2'"):
            made.record_remittance(capture_id="parcel-2", remittance_ref="r", at=AT)
        made.request_capture(capture_id="parcel-2", amount=twd("700"), at=AT)
        with pytest.raises(GuardRejected, match="no collected capture 'parcel-2'"):
            made.record_remittance(capture_id="parcel-2", remittance_ref="r", at=AT)
        made.record_remittance(capture_id="parcel-1", remittance_ref="r-1", at=AT)
        made.capture_succeeded(capture_id="parcel-2", amount=twd("700"), at=AT)
        assert made.state == "captured"
        # 300 remitted of 300 + 700 = 1000 collected
        assert (made.totals.remitted, made.totals.captured) == (twd("300"), twd("1000"))

    def test_a_refused_parcel_voids_the_approval(self) -> None:
        made = payment(PaymentMethod.CASH_ON_DELIVERY)
        made.authorize(amount=twd("1000"), at=AT)
        made.request_void(reason="parcel refused", at=AT + HOUR)
        event = made.void_succeeded(at=AT + HOUR)
        assert isinstance(event, PaymentVoided)
        assert event.released == twd("1000")
        assert made.state == "voided"

    def test_only_cash_on_delivery_is_remitted(self) -> None:
        made = authorized_card()
        made.capture_succeeded(capture_id="c-1", amount=twd("1000"), at=AT)
        with pytest.raises(GuardRejected, match="only cash on delivery"):
            made.record_remittance(capture_id="c-1", remittance_ref="r-1", at=AT)


class TestImmediateTenders:
    def test_an_e_wallet_authorises_and_captures_in_one_step(self) -> None:
        made = payment(PaymentMethod.E_WALLET, "640")
        event = made.capture_succeeded(
            capture_id="lp-1", amount=twd("640"), at=AT, provider_ref="linepay-9"
        )
        assert isinstance(event, PaymentCaptured)
        assert made.state == "captured"
        assert (made.totals.authorized, made.totals.captured) == (twd("640"), twd("640"))
        assert names(made) == ["PaymentCreated", "PaymentCaptured"]

    @pytest.mark.parametrize(
        "method",
        [PaymentMethod.STORE_CREDIT, PaymentMethod.GIFT_CARD, PaymentMethod.LOYALTY_POINTS],
    )
    def test_shop_held_tenders_are_captured_from_their_balance(self, method: PaymentMethod) -> None:
        assert method.is_shop_held
        made = payment(method, "150")
        made.capture_succeeded(capture_id="balance-tx-1", amount=twd("150"), at=AT)
        assert made.state == "captured"
        assert made.totals.captured == twd("150")

    def test_a_tender_cannot_take_more_than_the_payment_covers(self) -> None:
        made = payment(PaymentMethod.STORE_CREDIT, "150")
        with pytest.raises(GuardRejected, match="151 TWD captured, only 150 TWD"):
            made.capture_succeeded(capture_id="balance-tx-1", amount=twd("151"), at=AT)
        assert made.state == "pending"


class TestReconciliation:
    def test_a_timeout_is_resolved_as_approved(self) -> None:
        made = payment()
        made.time_out(at=AT)
        assert made.state == "needs_reconciliation"
        assert made.time_out(at=AT + HOUR) is None
        made.authorize(amount=twd("1000"), at=AT + HOUR, provider_ref="auth-late")
        assert made.state == "authorized"
        assert made.authorization is not None
        assert made.authorization.provider_ref == "auth-late"

    def test_a_timeout_is_resolved_as_failed(self) -> None:
        made = payment()
        made.time_out(at=AT)
        made.fail(reason="declined: insufficient funds", at=AT + HOUR)
        assert (made.state, made.closing_reason) == ("failed", "declined: insufficient funds")
        assert made.fail(reason="declined: insufficient funds", at=AT + 2 * HOUR) is None
        with pytest.raises(InvalidTransition, match="final state"):
            made.fail(reason="something else", at=AT + 2 * HOUR)

    def test_a_timed_out_wallet_charge_is_resolved_as_captured(self) -> None:
        made = payment(PaymentMethod.E_WALLET)
        made.time_out(at=AT)
        made.capture_succeeded(capture_id="w-1", amount=twd("1000"), at=AT + HOUR)
        assert made.state == "captured"

    def test_a_timed_out_capture_stays_requested_until_answered(self) -> None:
        made = authorized_card()
        made.request_capture(capture_id="c-1", amount=twd("1000"), at=AT)  # timed out
        assert made.state == "authorized"
        assert made.captures["c-1"].status is OperationStatus.REQUESTED
        made.capture_succeeded(capture_id="c-1", amount=twd("1000"), at=AT + HOUR)
        assert made.state == "captured"


class TestRefunds:
    def captured(self) -> Payment:
        made = authorized_card()
        made.capture_succeeded(capture_id="c-1", amount=twd("1000"), at=AT)
        return made

    def test_a_partial_then_a_full_refund(self) -> None:
        made = self.captured()
        made.request_refund(refund_id="r-1", amount=twd("300"), at=AT + HOUR)
        assert made.state == "captured"  # requested, not yet confirmed
        assert made.refundable == twd("700")  # 1000 − 300 in flight
        event = made.refund_succeeded(refund_id="r-1", at=AT + 2 * HOUR, provider_ref="rf-1")
        assert isinstance(event, PaymentRefunded)
        assert made.state == "partially_refunded"
        assert made.totals.refunded == twd("300")
        made.request_refund(refund_id="r-2", amount=twd("700"), at=AT + 3 * HOUR)
        made.refund_succeeded(refund_id="r-2", at=AT + 4 * HOUR)
        assert (made.state, made.is_final) == ("refunded", True)
        assert made.totals.refunded == twd("1000")  # 300 + 700

    def test_a_refund_above_what_is_refundable_is_refused(self) -> None:
        made = self.captured()
        made.request_refund(refund_id="r-1", amount=twd("600"), at=AT)
        before = snapshot(made)
        # 1000 captured − 600 in flight = 400 refundable
        with pytest.raises(GuardRejected, match="401 TWD asked, 400 TWD refundable"):
            made.request_refund(refund_id="r-2", amount=twd("401"), at=AT)
        assert snapshot(made) == before

    def test_nothing_is_refundable_before_a_capture(self) -> None:
        made = authorized_card()
        with pytest.raises(InvalidTransition, match="'request_refund' is not a move"):
            made.request_refund(refund_id="r-1", amount=twd("1"), at=AT)

    def test_failed_and_canceled_refunds_give_the_amount_back_to_refundable(self) -> None:
        made = self.captured()
        made.request_refund(refund_id="r-1", amount=twd("600"), at=AT)
        made.request_refund(refund_id="r-2", amount=twd("400"), at=AT)
        assert made.refundable == twd("0")
        made.refund_failed(refund_id="r-1", reason="card closed", at=AT)
        made.refund_canceled(refund_id="r-2", reason="customer kept it", at=AT)
        assert made.refundable == twd("1000")
        assert made.state == "captured"
        assert made.refunds["r-1"].status is OperationStatus.FAILED
        assert made.refunds["r-2"].status is OperationStatus.CANCELED
        assert made.refund_failed(refund_id="r-1", reason="card closed", at=AT) is None
        with pytest.raises(GuardRejected, match="refund 'r-1' already failed"):
            made.refund_succeeded(refund_id="r-1", at=AT)

    def test_an_outcome_for_an_unknown_refund_is_not_found(self) -> None:
        made = self.captured()
        with pytest.raises(NotFound, match="'r-9'"):
            made.refund_succeeded(refund_id="r-9", at=AT)

    def test_refunding_a_partial_capture_leaves_the_rest_capturable(self) -> None:
        made = authorized_card()
        made.capture_succeeded(capture_id="c-1", amount=twd("400"), at=AT)
        made.request_refund(refund_id="r-1", amount=twd("400"), at=AT)
        made.refund_succeeded(refund_id="r-1", at=AT)
        # All 400 captured went back, but 600 may still be captured: not final.
        assert made.state == "partially_refunded"
        made.capture_succeeded(capture_id="c-2", amount=twd("600"), at=AT)
        assert made.state == "partially_refunded"
        assert made.totals.captured == twd("1000")


class TestVoids:
    def test_void_requested_then_confirmed(self) -> None:
        made = authorized_card()
        made.request_void(reason="order canceled", at=AT)
        assert made.state == "void_requested"
        assert made.request_void(reason="order canceled", at=AT) is None
        with pytest.raises(InvalidTransition, match="'request_capture' is not a move"):
            made.request_capture(capture_id="c-1", amount=twd("1"), at=AT)
        made.void_succeeded(at=AT + HOUR)
        assert (made.state, made.totals.released) == ("voided", twd("1000"))
        assert made.void_succeeded(at=AT + 2 * HOUR) is None

    def test_a_refused_void_leaves_the_authorisation_as_it_was(self) -> None:
        made = authorized_card()
        made.capture_succeeded(capture_id="c-1", amount=twd("400"), at=AT)
        made.request_void(reason="rest canceled", at=AT)
        made.void_failed(reason="already settled", at=AT + HOUR)
        assert made.state == "partially_captured"
        assert made.capturable == twd("600")
        assert made.void_failed(reason="already settled", at=AT + HOUR) is None

    def test_voiding_the_rest_after_a_partial_capture(self) -> None:
        made = authorized_card()
        made.capture_succeeded(capture_id="c-1", amount=twd("400"), at=AT)
        event = made.void_succeeded(at=AT + HOUR)
        assert isinstance(event, PaymentVoided)
        assert event.released == twd("600")  # 1000 − 400 captured
        assert made.state == "captured"

    def test_a_void_waits_for_a_capture_in_flight(self) -> None:
        made = authorized_card()
        made.request_capture(capture_id="c-1", amount=twd("400"), at=AT)
        with pytest.raises(GuardRejected, match="remainder_releasable"):
            made.request_void(reason="order canceled", at=AT)

    def test_cancel_before_anything_was_authorised(self) -> None:
        made = payment()
        made.cancel(reason="customer left", at=AT)
        assert (made.state, made.closing_reason) == ("voided", "customer left")
        assert made.cancel(reason="customer left", at=AT) is None


class TestOutOfOrderAndRepeats:
    def test_captured_before_authorised_ends_right(self) -> None:
        made = payment()
        made.capture_succeeded(capture_id="c-1", amount=twd("400"), at=AT)
        assert made.state == "captured"  # for now: 400 implied
        event = made.authorize(amount=twd("1000"), at=AT + HOUR, provider_ref="auth-1")
        assert isinstance(event, PaymentAuthorized)
        assert made.state == "partially_captured"
        assert made.capturable == twd("600")  # 1000 authorised − 400 captured
        assert made.authorization is not None
        assert made.authorization.confirmed
        assert made.authorize(amount=twd("1000"), at=AT + HOUR, provider_ref="auth-1") is None

    def test_a_late_authorisation_of_the_captured_amount_only_adds_the_reference(self) -> None:
        made = payment(PaymentMethod.E_WALLET)
        made.capture_succeeded(capture_id="w-1", amount=twd("1000"), at=AT)
        made.authorize(amount=twd("1000"), at=AT, provider_ref="w-auth")
        assert made.state == "captured"
        assert made.authorization is not None
        assert made.authorization.provider_ref == "w-auth"

    @pytest.mark.parametrize(
        "repeat",
        [
            lambda p: p.authorize(amount=twd("1000"), at=AT, provider_ref="auth-1"),
            lambda p: p.authorize(amount=twd("1000"), at=AT),
            lambda p: p.request_capture(capture_id="c-1", amount=twd("300"), at=AT),
            lambda p: p.capture_succeeded(capture_id="c-1", amount=twd("300"), at=AT),
            lambda p: p.request_refund(refund_id="r-1", amount=twd("100"), at=AT),
            lambda p: p.refund_succeeded(refund_id="r-1", at=AT, provider_ref="rf-1"),
        ],
    )
    def test_a_repeated_notification_changes_nothing(
        self, repeat: Callable[[Payment], object]
    ) -> None:
        made = authorized_card()
        made.request_capture(capture_id="c-1", amount=twd("300"), at=AT)
        made.capture_succeeded(capture_id="c-1", amount=twd("300"), at=AT)
        made.request_refund(refund_id="r-1", amount=twd("100"), at=AT)
        made.refund_succeeded(refund_id="r-1", at=AT, provider_ref="rf-1")
        before = snapshot(made)
        assert repeat(made) is None
        assert snapshot(made) == before

    def test_a_second_authorisation_is_refused(self) -> None:
        made = authorized_card()
        before = snapshot(made)
        with pytest.raises(InvalidInput, match="already authorised for 1000 TWD under 'auth-1'"):
            made.authorize(amount=twd("900"), at=AT, provider_ref="auth-1")
        with pytest.raises(InvalidInput, match="not 1000 TWD under 'auth-2'"):
            made.authorize(amount=twd("1000"), at=AT, provider_ref="auth-2")
        assert snapshot(made) == before

    def test_a_late_authorisation_below_what_was_captured_is_refused(self) -> None:
        made = payment()
        made.capture_succeeded(capture_id="c-1", amount=twd("600"), at=AT)
        with pytest.raises(GuardRejected, match="400 TWD asked, but 600 TWD was already captured"):
            made.authorize(amount=twd("400"), at=AT, provider_ref="auth-1")
        assert made.state == "captured"

    def test_an_id_repeated_with_another_amount_is_refused(self) -> None:
        made = authorized_card()
        made.request_capture(capture_id="c-1", amount=twd("300"), at=AT)
        with pytest.raises(InvalidInput, match="'c-1' was recorded for 300 TWD, not 400 TWD"):
            made.capture_succeeded(capture_id="c-1", amount=twd("400"), at=AT)

    def test_a_failed_capture_cannot_then_succeed(self) -> None:
        made = authorized_card()
        made.request_capture(capture_id="c-1", amount=twd("300"), at=AT)
        made.capture_failed(capture_id="c-1", reason="declined", at=AT)
        with pytest.raises(GuardRejected, match="capture 'c-1' already failed"):
            made.capture_succeeded(capture_id="c-1", amount=twd("300"), at=AT)
        with pytest.raises(NotFound, match="'c-9'"):
            made.capture_failed(capture_id="c-9", reason="declined", at=AT)


class TestBadInput:
    @pytest.mark.parametrize(
        ("amount", "error", "complaint"),
        [
            (twd("0"), InvalidInput, "must be positive, not 0 TWD"),
            (twd("-5"), InvalidInput, "must be positive, not -5 TWD"),
            (twd("0.005"), InvalidInput, "0.005 TWD is not a whole number of TWD minor units"),
            (Money("10", "USD"), CurrencyMismatch, "10 USD with TWD"),
            ("10", InvalidInput, "must be Money, not '10'"),
        ],
    )
    def test_bad_amounts_are_refused_and_change_nothing(
        self, amount: Any, error: type[Exception], complaint: str
    ) -> None:
        made = authorized_card()
        made.capture_succeeded(capture_id="c-1", amount=twd("500"), at=AT)
        before = snapshot(made)
        calls: list[Callable[[], object]] = [
            lambda: made.request_capture(capture_id="c-2", amount=amount, at=AT),
            lambda: made.capture_succeeded(capture_id="c-2", amount=amount, at=AT),
            lambda: made.request_refund(refund_id="r-1", amount=amount, at=AT),
            lambda: made.authorize(amount=amount, at=AT),
        ]
        for call in calls:
            with pytest.raises(error, match=complaint):
                call()
        assert snapshot(made) == before

    def test_creation_checks_its_input(self) -> None:
        with pytest.raises(InvalidInput, match="must be positive, not 0 TWD"):
            Payment.create(id="p", order_id="o", method=PaymentMethod.CARD, amount=twd("0"), at=AT)
        with pytest.raises(InvalidInput, match="method must be a PaymentMethod"):
            Payment.create(id="p", order_id="o", method="cheque", amount=twd("1"), at=AT)
        with pytest.raises(InvalidInput, match="timezone-aware"):
            Payment.create(
                id="p",
                order_id="o",
                method=PaymentMethod.CARD,
                amount=twd("1"),
                at=datetime(2026, 1, 1),
            )
        with pytest.raises(InvalidInput, match="authorization_window must be a positive"):
            Payment.create(
                id="p",
                order_id="o",
                method=PaymentMethod.CARD,
                amount=twd("1"),
                at=AT,
                authorization_window=timedelta(0),
            )
        made = Payment.create(
            id="p",
            order_id="o",
            method="e_wallet",
            amount=twd("1"),
            at=AT,
        )
        assert made.method is PaymentMethod.E_WALLET

    def test_empty_ids_and_reasons_are_refused(self) -> None:
        made = authorized_card()
        with pytest.raises(InvalidInput, match="capture_id must be a non-empty string"):
            made.request_capture(capture_id=" ", amount=twd("1"), at=AT)
        with pytest.raises(InvalidInput, match="reason must be a non-empty string"):
            made.request_void(reason="", at=AT)
        assert made.version == 2


def test_sums_do_not_depend_on_the_callers_decimal_context() -> None:
    made = payment(amount="123456.78")
    with localcontext() as context:
        context.prec = 4  # a careless caller; money must stay exact
        made.capture_succeeded(capture_id="c-1", amount=twd("123456.77"), at=AT)
        made.capture_succeeded(capture_id="c-2", amount=twd("0.01"), at=AT)
        # 123456.77 + 0.01 = 123456.78, all of it: captured, not "partially" by a rounding
        assert made.state == "captured"
    assert made.totals.captured == twd("123456.78")


class TestTheMachine:
    def test_it_is_registered_with_its_final_states(self) -> None:
        assert machine_named("payment") is PAYMENT_MACHINE
        assert PAYMENT_MACHINE.spec.final == ("refunded", "voided", "failed", "expired")
        assert not PAYMENT_MACHINE.is_final("captured")  # refunds can still come

    def test_the_diagram_shows_the_amount_guards(self) -> None:
        diagram = PAYMENT_MACHINE.mermaid()
        assert "captured --> refunded: refund_succeeded [refund_in_flight & lands_refunded]" in (
            diagram
        )
        assert "requires_action --> expired: expire [deadline_passed]" in diagram

    def test_a_final_payment_allows_nothing(self) -> None:
        made = authorized_card()
        made.capture_succeeded(capture_id="c-1", amount=twd("100"), at=AT)
        made.void_succeeded(at=AT)
        made.request_refund(refund_id="r-1", amount=twd("100"), at=AT)
        made.refund_succeeded(refund_id="r-1", at=AT)
        assert (made.state, made.allowed_events) == ("refunded", ())
        with pytest.raises(InvalidTransition, match="none, it is a final state"):
            made.request_refund(refund_id="r-2", amount=twd("1"), at=AT)

    def test_a_stored_payment_loads_in_any_state(self) -> None:
        made = authorized_card()
        made.capture_succeeded(capture_id="c-1", amount=twd("400"), at=AT)
        loaded = Payment(
            id=made.id,
            state=made.state,
            version=made.version,
            order_id=made.order_id,
            method=made.method,
            amount=made.amount,
            authorization=made.authorization,
            authorized_at=made.authorized_at,
            captures=dict(made.captures),
        )
        assert (loaded.state, loaded.totals, loaded.pending_events) == (
            "partially_captured",
            made.totals,
            (),
        )
        event = loaded.capture_succeeded(capture_id="c-2", amount=twd("600"), at=AT)
        assert event is not None
        assert event.sequence == made.version + 1

    def test_the_totals_name_the_state(self) -> None:
        zero = twd("0")
        totals = PaymentTotals(
            amount=twd("10"),
            authorized=twd("10"),
            captured=twd("10"),
            capture_pending=zero,
            refunded=twd("10"),
            refund_pending=zero,
            released=zero,
            remitted=zero,
        )
        assert totals.settled_state() == "refunded"
        nothing_taken = attrs.evolve(totals, captured=zero, refunded=zero)
        assert nothing_taken.settled_state() == "authorized"
        # nothing captured and nothing left to capture: the event decides (voided or expired)
        assert attrs.evolve(nothing_taken, released=twd("10")).settled_state() is None
        assert attrs.evolve(totals, refunded=twd("4")).settled_state() == "partially_refunded"
        # 10 authorised − 4 captured − 1 released = 5 still held (capturable or in flight)
        held = attrs.evolve(nothing_taken, captured=twd("4"), released=twd("1"))
        assert (held.held, held.capturable) == (twd("5"), twd("5"))


def test_payment_methods_say_who_holds_the_money() -> None:
    assert [m for m in PaymentMethod if m.is_shop_held] == [
        PaymentMethod.STORE_CREDIT,
        PaymentMethod.GIFT_CARD,
        PaymentMethod.LOYALTY_POINTS,
    ]
    assert PaymentMethod.CASH_ON_DELIVERY.collected_by_carrier
    assert PaymentMethod.CASH_ON_DELIVERY.chinese == "貨到付款"
    assert [m for m in PaymentMethod if m.has_authorization_window] == [PaymentMethod.CARD]
