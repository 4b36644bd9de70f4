"""One Shop, every part wired: disputes by webhook, order changes and customer notices."""

import pytest

from fourflows import InvalidInput
from fourflows.adapters.fakes import RecordingNotifier
from fourflows.adapters.tw_einvoice import InvoicePeriod, NumberRange, TaiwanInvoiceNumbering
from fourflows.app.changes import ConfirmOrderChange, PreviewOrderChange, ProposeOrderChange
from fourflows.app.checkout import CapturePayment, PlaceOrder, RefundPayment
from fourflows.app.disputes import SubmitDisputeEvidence
from fourflows.app.invoicing import Invoicing
from fourflows.cash.invoices import Party
from shop_fixtures import TAIPEI, make_shop, twd


def place(shop_key: str = "place-1", **extra: object) -> PlaceOrder:
    return PlaceOrder(
        idempotency_key=shop_key,
        items={"TEE-M": 2},
        customer_id="c-1",
        ship_to=TAIPEI,
        service="home",
        **extra,
    )


def test_a_dispute_webhook_reaches_the_shop_through_apply_notification() -> None:
    shop, gateway, _ = make_shop()
    placed = shop.place_order(place())
    assert placed.payment_id is not None
    total = shop.order(placed.order_id).totals.total
    shop.capture_payment(
        CapturePayment(idempotency_key="cap-1", payment_id=placed.payment_id, amount=total)
    )
    notice = gateway.open_dispute(placed.payment_id)
    opened = shop.apply_notification(notice)
    # a paid order not yet shipped must not ship while its money is contested
    assert shop.order(placed.order_id).state == "on_hold"
    assert shop.apply_notification(notice) == opened  # the same webhook again: one effect
    (dispute,) = shop.disputes_of(placed.order_id)
    assert shop.dispute(dispute.id).state == "needs_response"
    shop.submit_dispute_evidence(
        SubmitDisputeEvidence(
            idempotency_key="ev-1", dispute_id=dispute.id, evidence="signed delivery note"
        )
    )
    shop.apply_notification(gateway.close_dispute(dispute.id, won=True))
    assert shop.dispute(dispute.id).state == "won"
    assert shop.order(placed.order_id).state == "awaiting_fulfilment"


def test_a_decline_is_told_to_the_customer_when_the_shop_has_a_notifier() -> None:
    notifier = RecordingNotifier()
    shop, _, _ = make_shop(notifier=notifier, locale="zh_TW")
    declined = shop.place_order(place(payment_token="fake-card-declined"))
    assert declined.outcome == "declined"
    kinds = [n.kind.value for n in notifier.sent_to("c-1")]
    assert kinds == ["order_confirmed", "payment_declined"]


def test_an_order_change_goes_through_the_shop() -> None:
    shop, _, _ = make_shop()
    placed = shop.place_order(place())
    before = shop.order(placed.order_id).totals.total
    change = {"order_id": placed.order_id, "change_id": "ch-1", "quantities": {"TEE-M": 1}}
    effect = shop.preview_change(PreviewOrderChange(**change))
    assert effect.previous_total == before
    assert shop.order(placed.order_id).totals.total == before  # a preview changes nothing
    shop.propose_change(ProposeOrderChange(idempotency_key="p-1", **change))
    shop.confirm_change(
        ConfirmOrderChange(idempotency_key="c-1", order_id=placed.order_id, change_id="ch-1")
    )
    after = shop.order(placed.order_id)
    assert after.totals.total == effect.new_total
    assert after.totals.total < before
    # the money secured follows the order: held or captured, never more than it now costs
    assert shop.figures(placed.order_id).secured == after.totals.total
    assert twd(0) < after.totals.total


def test_money_a_dispute_holds_cannot_be_refunded_and_a_loss_counts_as_refunded() -> None:
    shop, gateway, _ = make_shop()
    placed = shop.place_order(place())
    assert placed.payment_id is not None
    total = shop.order(placed.order_id).totals.total  # 2 x 590 + 100 shipping = 1280
    shop.capture_payment(
        CapturePayment(idempotency_key="cap-1", payment_id=placed.payment_id, amount=total)
    )
    opened = gateway.open_dispute(placed.payment_id, amount=twd(500))
    shop.apply_notification(opened)
    # 1280 captured, 500 before the bank: at most 780 can be refunded by the shop
    with pytest.raises(InvalidInput, match="at most 780"):
        shop.refund_payment(
            RefundPayment(
                idempotency_key="r-1", payment_id=placed.payment_id, amount=twd(781), reason="x"
            )
        )
    (dispute,) = shop.disputes_of(placed.order_id)
    shop.apply_notification(gateway.close_dispute(dispute.id, won=False))
    figures = shop.figures(placed.order_id)
    assert figures.refunded == twd(500)
    assert figures.kept == twd(780)


def test_every_shop_keeps_balanced_books_that_agree_with_its_payments() -> None:
    shop, _, _ = make_shop()
    placed = shop.place_order(place())
    assert placed.payment_id is not None
    total = shop.order(placed.order_id).totals.total  # 1280
    shop.capture_payment(
        CapturePayment(idempotency_key="cap-1", payment_id=placed.payment_id, amount=total)
    )
    shop.refund_payment(
        RefundPayment(
            idempotency_key="r-1", payment_id=placed.payment_id, amount=twd(590), reason="return"
        )
    )
    books = shop.trial_balance()
    assert books.is_balanced
    assert shop.reconcile() == ()
    # the order's own books: the sale, the capture, the refund
    assert shop.trial_balance(order_id=placed.order_id).is_balanced
    assert len(shop.ledger().entries_for(order_id=placed.order_id)) >= 3


def test_a_shop_with_invoicing_invoices_a_paid_order_and_credits_its_refund() -> None:
    numbering = TaiwanInvoiceNumbering(
        [NumberRange("QF", "20260000", "20260049", InvoicePeriod(2026, 11))]
    )
    seller = Party(name="Fourflows Tees", country="TW", tax_id="04595257")
    shop, _, _ = make_shop(invoicing=Invoicing(numbering, seller))
    placed = shop.place_order(place())
    assert placed.payment_id is not None
    (invoice,) = shop.invoices_of(placed.order_id)
    assert invoice.number == "QF20260000"
    assert invoice.gross == shop.order(placed.order_id).totals.total  # 1280
    shop.capture_payment(
        CapturePayment(idempotency_key="cap-1", payment_id=placed.payment_id, amount=invoice.gross)
    )
    shop.refund_payment(
        RefundPayment(
            idempotency_key="r-1", payment_id=placed.payment_id, amount=twd(590), reason="return"
        )
    )
    (credit,) = shop.credit_notes_of(placed.order_id)
    assert credit.gross == twd(590)
    assert shop.uncredited_of(placed.order_id) == ()
