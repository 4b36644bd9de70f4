"""The ledger follows the shop: sales, captures, fees, refunds, COD remittances, cancellations.

Taiwanese prices include 5 % tax, rounded to whole dollars; the T-shirt is
590, home delivery to Taipei 100 (130 with the cash-on-delivery fee).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pytest

from fourflows import Money
from fourflows.adapters.fakes import FixedClock
from fourflows.app.accounting import (
    Accounting,
    RecordCodRemittance,
    RecordGatewayFee,
    authorization_id,
    reconcile_shop,
    sale_id,
)
from fourflows.app.checkout import (
    CancelOrder,
    CapturePayment,
    IssueStoreCredit,
    LoadGiftCard,
    PlaceOrder,
    RefundOrder,
    RefundPayment,
    Tender,
)
from fourflows.app.messagebus import Policy
from fourflows.app.shop import Shop
from fourflows.cash.ledger import (
    ChartOfAccounts,
    Difference,
    JournalEntry,
    Ledger,
    SettlementKind,
)
from fourflows.cash.payment import PaymentRefunded
from fourflows.commerce.promotions import PercentageOff
from fourflows.errors import CurrencyMismatch, IdempotencyConflict, InvalidInput, NotFound
from fourflows.events import DomainEvent
from ledger import TAIPEI, ledger, shop_with_ledger

AT = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)


def twd(amount: str | int) -> Money:
    return Money(str(amount), "TWD")


def lines(entry: JournalEntry) -> list[tuple[str, str, Money]]:
    """An entry's lines as (account, side, amount), in the entry's order."""
    return [(line.account, line.side.value, line.amount) for line in entry.lines]


def make() -> tuple[Shop, FixedClock]:
    clock = FixedClock(AT)
    return shop_with_ledger(clock), clock


def card_order(shop: Shop, key: str = "card", qty: int = 2) -> tuple[str, str]:
    placed = shop.place_order(
        PlaceOrder(idempotency_key=key, items={"TEE-M": qty}, ship_to=TAIPEI, service="home")
    )
    assert placed.payment_id is not None
    return placed.order_id, placed.payment_id


def cod_order(shop: Shop, key: str = "cod") -> tuple[str, str]:
    placed = shop.place_order(
        PlaceOrder(
            idempotency_key=key,
            items={"TEE-M": 1},
            ship_to=TAIPEI,
            service="home",
            payment_method="cash_on_delivery",
        )
    )
    assert placed.payment_id is not None
    return placed.order_id, placed.payment_id


def differences(shop: Shop) -> tuple[Difference, ...]:
    with shop.store.unit_of_work() as uow:
        return reconcile_shop(uow)


def test_a_card_order_with_a_gateway_fee_posts_the_sale_the_capture_and_the_fee() -> None:
    shop, _ = make()
    order_id, payment_id = card_order(shop)
    shop.capture_payment(
        CapturePayment(idempotency_key="ship", payment_id=payment_id, amount=twd(1280))
    )
    shop.handle(RecordGatewayFee(idempotency_key="fee", payment_id=payment_id, amount=twd(36)))

    book = ledger(shop)
    assert [e.id for e in book.entries] == [
        f"{order_id}/sale",
        f"{payment_id}/capture/ship:capture",
        f"{payment_id}/fee/fee",
    ]
    sale, capture, fee = book.entries
    # Two T-shirts 2 x 590 = 1,180 with tax 1,180 - 1,180 / 1.05 = 56.19 -> 56;
    # delivery 100 with tax 100 - 100 / 1.05 = 4.76 -> 5, so 95 net of tax.
    # Owed 1,280 = sales revenue 1,124 (1,180 - 56) + shipping 95 + tax 61 (56 + 5).
    assert lines(sale) == [
        ("customer_receivable", "debit", twd(1280)),
        ("sales_revenue", "credit", twd(1124)),
        ("shipping_revenue", "credit", twd(95)),
        ("tax_payable", "credit", twd(61)),
    ]
    assert sale.order_id == order_id
    assert sale.payment_id is None
    assert lines(capture) == [
        ("gateway_clearing", "debit", twd(1280)),
        ("customer_receivable", "credit", twd(1280)),
    ]
    assert (capture.order_id, capture.payment_id) == (order_id, payment_id)
    assert capture.cause is not None
    assert capture.cause.aggregate_id == payment_id
    assert lines(fee) == [
        ("gateway_fees", "debit", twd(36)),
        ("gateway_clearing", "credit", twd(36)),
    ]
    trial = book.trial_balance()
    assert trial.is_balanced
    assert trial.balance("customer_receivable", "TWD") == twd(0)  # paid in full
    assert trial.balance("gateway_clearing", "TWD") == twd(1244)  # 1,280 - 36
    assert differences(shop) == ()


def test_a_partial_refund_posts_to_refunds_from_gateway_clearing() -> None:
    shop, _ = make()
    order_id, payment_id = card_order(shop)
    shop.capture_payment(
        CapturePayment(idempotency_key="ship", payment_id=payment_id, amount=twd(1280))
    )
    shop.refund_payment(
        RefundPayment(
            idempotency_key="return", payment_id=payment_id, amount=twd(590), reason="returned"
        )
    )
    book = ledger(shop)
    refund = book.entry(f"{payment_id}/refund/return:refund")
    assert lines(refund) == [
        ("refunds", "debit", twd(590)),
        ("gateway_clearing", "credit", twd(590)),
    ]
    assert refund.kind == "refund"
    assert refund.order_id == order_id
    # Net sales of the order: 1,124 + 95 - 590 refunded = 629 (tax still 61: the credit
    # note splits the refund's tax); the gateway holds 1,280 - 590 = 690.
    assert book.balance("refunds", "TWD", order_id=order_id) == twd(590)
    assert book.balance("gateway_clearing", "TWD") == twd(690)
    assert book.trial_balance().is_balanced
    assert differences(shop) == ()


def test_a_cod_order_is_collected_into_transit_and_remitted_less_the_carrier_fee() -> None:
    shop, _ = make()
    order_id, payment_id = cod_order(shop)
    # approved at once: the sale is posted before any cash moves
    assert lines(ledger(shop).entry(sale_id(order_id))) == [
        # 590 + delivery 100 + COD fee 30 = 720; tax 590 - 590 / 1.05 = 28.10 -> 28 and
        # 130 - 130 / 1.05 = 6.19 -> 6; shipping 130 - 6 = 124; revenue 720 - 34 - 124 = 562
        ("customer_receivable", "debit", twd(720)),
        ("sales_revenue", "credit", twd(562)),
        ("shipping_revenue", "credit", twd(124)),
        ("tax_payable", "credit", twd(34)),
    ]
    shop.capture_payment(
        CapturePayment(idempotency_key="parcel", payment_id=payment_id, amount=twd(720))
    )
    assert ledger(shop).balance("cod_in_transit", "TWD") == twd(720)
    shop.handle(
        RecordCodRemittance(
            payment_id=payment_id,
            capture_id="parcel:capture",
            remittance_ref="settlement-1",
            collection_fee=twd(20),
        )
    )
    book = ledger(shop)
    assert lines(book.entry(f"{payment_id}/capture/parcel:capture")) == [
        ("cod_in_transit", "debit", twd(720)),
        ("customer_receivable", "credit", twd(720)),
    ]
    assert lines(book.entry(f"{payment_id}/remittance/parcel:capture")) == [
        ("cash", "debit", twd(700)),  # 720 collected - 20 kept by the carrier
        ("gateway_fees", "debit", twd(20)),
        ("cod_in_transit", "credit", twd(720)),
    ]
    assert book.balance("cod_in_transit", "TWD") == twd(0)
    assert shop.payment(payment_id).totals.remitted == twd(720)
    assert book.trial_balance().is_balanced
    assert differences(shop) == ()


def test_a_repeated_remittance_changes_nothing_and_a_bad_fee_is_refused() -> None:
    shop, _ = make()
    _, payment_id = cod_order(shop)
    shop.capture_payment(
        CapturePayment(idempotency_key="parcel", payment_id=payment_id, amount=twd(720))
    )
    remit = {"payment_id": payment_id, "capture_id": "parcel:capture", "remittance_ref": "s-1"}
    with pytest.raises(InvalidInput, match="fee"):
        shop.handle(RecordCodRemittance(**remit, collection_fee=twd(720)))  # all of it
    with pytest.raises(InvalidInput):
        shop.handle(RecordCodRemittance(**remit, collection_fee=Money("1", "USD")))
    assert shop.payment(payment_id).totals.remitted == twd(0)
    shop.handle(RecordCodRemittance(**remit))
    before = ledger(shop)
    shop.handle(RecordCodRemittance(**remit))
    assert ledger(shop).entries == before.entries
    assert lines(before.entries[-1])[0] == ("cash", "debit", twd(720))  # no fee: all of it


def test_a_fee_key_is_used_once() -> None:
    shop, _ = make()
    _, payment_id = card_order(shop)
    shop.handle(RecordGatewayFee(idempotency_key="fee", payment_id=payment_id, amount=twd(36)))
    again = shop.handle(
        RecordGatewayFee(idempotency_key="fee", payment_id=payment_id, amount=twd(36))
    )
    assert isinstance(again, JournalEntry)
    assert again.total() == twd(36)
    with pytest.raises(IdempotencyConflict):
        shop.handle(RecordGatewayFee(idempotency_key="fee", payment_id=payment_id, amount=twd(40)))
    with pytest.raises(CurrencyMismatch):
        shop.handle(
            RecordGatewayFee(idempotency_key="usd", payment_id=payment_id, amount=Money(1, "USD"))
        )
    assert [e.kind for e in ledger(shop).entries].count("fee") == 1


def test_a_redispatched_event_posts_once() -> None:
    seen: list[DomainEvent] = []

    class Recorder:
        def publish(self, event: DomainEvent) -> None:
            seen.append(event)

    shop = shop_with_ledger(FixedClock(AT), publishers={"recorder": Recorder()})
    _, payment_id = card_order(shop)
    shop.capture_payment(
        CapturePayment(idempotency_key="ship", payment_id=payment_id, amount=twd(1280))
    )
    shop.refund_payment(
        RefundPayment(idempotency_key="r", payment_id=payment_id, amount=twd(100), reason="late")
    )
    cod_order(shop)
    before = ledger(shop)
    assert [e.kind for e in before.entries] == ["sale", "capture", "refund", "sale"]
    shop.store.outbox.append(seen)  # every event delivered a second time
    assert shop.bus.dispatch() == ()
    after = ledger(shop)
    assert after.entries == before.entries
    assert differences(shop) == ()


def test_reconciliation_reports_a_missing_refund_entry() -> None:
    class Forgetful(Accounting):
        """Accounting that misses every refund."""

        def policies(self) -> Mapping[type[DomainEvent], Sequence[Policy]]:
            posted = super().policies()
            return {kind: found for kind, found in posted.items() if kind is not PaymentRefunded}

    shop = shop_with_ledger(FixedClock(AT), Forgetful())
    _, payment_id = card_order(shop)
    shop.capture_payment(
        CapturePayment(idempotency_key="ship", payment_id=payment_id, amount=twd(1280))
    )
    assert differences(shop) == ()
    shop.refund_payment(
        RefundPayment(idempotency_key="r", payment_id=payment_id, amount=twd(590), reason="x")
    )
    (difference,) = differences(shop)
    assert (difference.payment_id, difference.figure) == (payment_id, "refunded")
    assert (difference.payments, difference.ledger) == (twd(590), twd(0))
    assert difference.gap == twd(-590)


def test_canceling_an_uncaptured_order_reverses_its_sale() -> None:
    shop, _ = make()
    order_id, _ = card_order(shop)
    shop.cancel_order(CancelOrder(idempotency_key="x", order_id=order_id, reason="mind changed"))
    book = ledger(shop)
    reversal = book.reversal_of(sale_id(order_id))
    assert reversal is not None
    assert reversal.id == f"{order_id}/sale/canceled"
    rows = book.trial_balance(order_id=order_id).rows
    assert {row.account.code for row in rows} == {
        "customer_receivable",
        "sales_revenue",
        "shipping_revenue",
        "tax_payable",
    }
    assert all(row.balance == twd(0) for row in rows)  # every account back to zero
    for account in ("customer_receivable", "sales_revenue", "tax_payable"):
        assert book.balance(account, "TWD") == twd(0)
    assert differences(shop) == ()


def test_canceling_a_partly_captured_order_undoes_the_rest_of_the_sale() -> None:
    clock = FixedClock(AT)
    shop = shop_with_ledger(clock, promotions=[PercentageOff(id="all", percent=10)])
    order_id, payment_id = card_order(shop)
    shop.capture_payment(
        CapturePayment(idempotency_key="part", payment_id=payment_id, amount=twd(500))
    )
    shop.cancel_order(CancelOrder(idempotency_key="x", order_id=order_id, reason="mind changed"))
    book = ledger(shop)
    # 1,180 - 10 % (118) = 1,062 + delivery 100 = 1,162 owed; tax 50 + 5 = 55;
    # revenue 1,162 - 55 - 95 + 118 = 1,130.
    assert lines(book.entry(sale_id(order_id))) == [
        ("customer_receivable", "debit", twd(1162)),
        ("discounts_given", "debit", twd(118)),
        ("sales_revenue", "credit", twd(1130)),
        ("shipping_revenue", "credit", twd(95)),
        ("tax_payable", "credit", twd(55)),
    ]
    # Not captured: 1,162 - 500 = 662. Its discount 118 x 662 / 1,162 = 67.23 -> 67; the
    # credits 662 + 67 = 729 spread over 1,130 : 95 : 55 = 643.57 : 54.10 : 31.32 -> 644, 54, 31.
    assert lines(book.entry(f"{sale_id(order_id)}/canceled")) == [
        ("sales_revenue", "debit", twd(644)),
        ("shipping_revenue", "debit", twd(54)),
        ("tax_payable", "debit", twd(31)),
        ("customer_receivable", "credit", twd(662)),
        ("discounts_given", "credit", twd(67)),
    ]
    # The 500 captured is refunded: the order nets to nothing owed, nothing held.
    assert book.balance("customer_receivable", "TWD", order_id=order_id) == twd(0)
    assert book.balance("gateway_clearing", "TWD") == twd(0)
    kept = sum(
        (book.balance(a, "TWD") for a in ("sales_revenue", "shipping_revenue", "tax_payable")),
        twd(0),
    )
    given = book.balance("discounts_given", "TWD") + book.balance("refunds", "TWD")
    assert kept == given == twd(551)  # 486 + 41 + 24 = 51 + 500
    assert differences(shop) == ()


def test_stored_value_spent_posts_its_loads_first() -> None:
    shop, _ = make()
    shop.issue_store_credit(
        IssueStoreCredit(idempotency_key="sc", customer_id="c-1", amount=twd(300), reason="sorry")
    )
    shop.load_gift_card(LoadGiftCard(idempotency_key="gc", code="GC-1", amount=twd(500)))
    assert ledger(shop).entries == ()  # no event: nothing to post yet
    placed = shop.place_order(
        PlaceOrder(
            idempotency_key="split",
            items={"TEE-M": 2},
            customer_id="c-1",
            ship_to=TAIPEI,
            service="home",
            tenders=(
                Tender(method="store_credit", amount=twd(200)),
                Tender(method="gift_card", amount=twd(500), account="GC-1"),
                Tender(method="card", amount=twd(580)),
            ),
        )
    )
    book = ledger(shop)
    assert lines(book.entry("stored-value/store_credit:c-1/sc")) == [
        ("customer_compensation", "debit", twd(300)),
        ("store_credit_liability", "credit", twd(300)),
    ]
    assert lines(book.entry("stored-value/gift_card:GC-1/gc")) == [
        ("cash", "debit", twd(500)),
        ("gift_card_liability", "credit", twd(500)),
    ]
    assert book.balance("store_credit_liability", "TWD") == twd(100)  # 300 - 200 spent
    assert book.balance("gift_card_liability", "TWD") == twd(0)
    # the card's 580 is only authorised: the receivable still holds it
    assert book.balance("customer_receivable", "TWD", order_id=placed.order_id) == twd(580)
    shop.refund_order(
        RefundOrder(idempotency_key="r", order_id=placed.order_id, amount=twd(700), reason="x")
    )
    assert differences(shop) == ()
    assert ledger(shop).trial_balance().is_balanced


def test_an_empty_shop_has_an_empty_ledger() -> None:
    shop, _ = make()
    with shop.store.unit_of_work() as uow:
        book = Accounting().ledger(uow)
        assert book.entries == ()
        assert book.chart == Ledger.open().chart
        assert reconcile_shop(uow) == ()
    with pytest.raises(InvalidInput):
        Accounting(chart="default")  # type: ignore[arg-type]


def test_a_failing_policy_posts_nothing_and_stays_in_the_outbox() -> None:
    default = ChartOfAccounts.default()
    chart = ChartOfAccounts(
        {
            code: account
            for code, account in default.accounts.items()
            if code != "gift_card_liability"
        }
    )
    shop = shop_with_ledger(FixedClock(AT), Accounting(chart))
    shop.load_gift_card(LoadGiftCard(idempotency_key="gc", code="GC-1", amount=twd(500)))
    placed = shop.place_order(
        PlaceOrder(
            idempotency_key="gift",
            items={"TEE-M": 1},
            ship_to=TAIPEI,
            service="home",
            tenders=(
                Tender(method="gift_card", amount=twd(500), account="GC-1"),
                Tender(method="card", amount=twd(190)),
            ),
        )
    )
    book = ledger(shop)
    # the gift card's load and capture were refused together: neither is posted
    assert [e.kind for e in book.entries] == ["sale"]
    assert book.entry(sale_id(placed.order_id)).total() == twd(690)
    (stuck,) = shop.store.outbox.unsettled()
    assert "gift_card_liability" in str(stuck.failures)


def test_a_card_authorisation_is_held_pending_until_nothing_is_left_to_capture() -> None:
    shop, _ = make()
    _, payment_id = card_order(shop)
    hold = ledger(shop).entry(authorization_id(payment_id))
    assert lines(hold) == [
        ("gateway_clearing", "debit", twd(1280)),
        ("customer_receivable", "credit", twd(1280)),
    ]
    assert ledger(shop).pending_entries() == (hold,)
    assert ledger(shop).balance("gateway_clearing", "TWD") == twd(0)  # pending: in no balance
    shop.capture_payment(
        CapturePayment(idempotency_key="first", payment_id=payment_id, amount=twd(1000))
    )
    assert ledger(shop).settlement(hold.id) is None  # 280 can still be captured
    shop.capture_payment(
        CapturePayment(idempotency_key="rest", payment_id=payment_id, amount=twd(280))
    )
    settled = ledger(shop).settlement(hold.id)
    assert settled is not None
    assert settled.kind is SettlementKind.VOIDED  # the captures posted their own entries
    assert ledger(shop).pending_entries() == ()
    assert ledger(shop).balance("gateway_clearing", "TWD") == twd(1280)  # 1,000 + 280


def test_canceling_releases_the_authorisation_and_cod_holds_nothing() -> None:
    shop, _ = make()
    order_id, payment_id = card_order(shop)
    _, cod_payment = cod_order(shop)
    shop.cancel_order(CancelOrder(idempotency_key="x", order_id=order_id, reason="mind changed"))
    book = ledger(shop)
    settled = book.settlement(authorization_id(payment_id))
    assert settled is not None
    assert settled.released == (twd(1280),)
    with pytest.raises(NotFound):
        book.entry(authorization_id(cod_payment))
