"""The ledger follows the shop: sales, captures, fees, refunds, COD remittances, cancellations.

Taiwanese prices include 5 % tax, rounded to whole dollars; the T-shirt is
590, home delivery to Taipei 100 (130 with the cash-on-delivery fee).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from fourflows import Money
from fourflows.adapters.fake_carrier import FakeCarrier, Timeline
from fourflows.adapters.fake_gateway import FakeGateway
from fourflows.adapters.fakes import FixedClock, SequentialIds
from fourflows.adapters.stock import MemoryStockStore
from fourflows.app.accounting import (
    Accounting,
    RecordCodRemittance,
    RecordGatewayFee,
    authorization_id,
    reconcile_shop,
    sale_id,
)
from fourflows.app.changes import ConfirmOrderChange, ProposeOrderChange
from fourflows.app.checkout import (
    CancelOrder,
    CapturePayment,
    IssueStoreCredit,
    LoadGiftCard,
    PlaceOrder,
    RefundOrder,
    RefundPayment,
    ShopResult,
    Tender,
)
from fourflows.app.disputes import AcceptDispute, ApplyDisputeNotification
from fourflows.app.fulfilment import PackShipment, ShipShipment, TrackShipment
from fourflows.app.messagebus import Policy
from fourflows.app.shop import Shop
from fourflows.cash.gateway import DisputeReason
from fourflows.cash.ledger import (
    ChartOfAccounts,
    Difference,
    JournalEntry,
    Ledger,
    SettlementKind,
)
from fourflows.cash.payment import PaymentRefunded
from fourflows.commerce.catalog import Catalog
from fourflows.commerce.promotions import PercentageOff
from fourflows.errors import CurrencyMismatch, IdempotencyConflict, InvalidInput, NotFound
from fourflows.events import DomainEvent
from fourflows.geo import Address
from fourflows.logistics.inventory import StockLocation, StockPolicy
from fourflows.logistics.shipping import ShippingTable
from fourflows.tax import TaxTable
from ledger import TAIPEI, TEE, ledger, shop_with_ledger

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


# --- order changes, disputes, returned parcels, late captures ---------------------------------


def change(shop: Shop, order_id: str, change_id: str = "ch-1", **asked: object) -> str:
    """Propose and confirm a change; return the confirmation's outcome."""
    shop.handle(
        ProposeOrderChange(
            idempotency_key=f"propose-{change_id}",
            order_id=order_id,
            change_id=change_id,
            **asked,
        )
    )
    result = shop.handle(
        ConfirmOrderChange(
            idempotency_key=f"confirm-{change_id}", order_id=order_id, change_id=change_id
        )
    )
    assert isinstance(result, ShopResult)
    return result.outcome


def test_a_change_after_capture_trues_up_the_sale_and_keeps_its_refund_out_of_refunds() -> None:
    shop, _ = make()
    order_id, payment_id = card_order(shop)
    shop.capture_payment(
        CapturePayment(idempotency_key="ship", payment_id=payment_id, amount=twd(1280))
    )
    assert change(shop, order_id, quantities={"TEE-M": 1}) == "confirmed"
    book = ledger(shop)
    # One T-shirt: 590 with tax 590 - 590 / 1.05 = 28.10 -> 28, so revenue 562; delivery
    # stays 95 + 5. The sale was 1,124 + 95 + 61 = 1,280: revenue down 1,124 - 562 = 562,
    # tax down 61 - 33 = 28, the customer owes 1,280 - 690 = 590 less.
    assert lines(book.entry(f"{order_id}/sale/change/ch-1")) == [
        ("sales_revenue", "debit", twd(562)),
        ("tax_payable", "debit", twd(28)),
        ("customer_receivable", "credit", twd(590)),
    ]
    # The 590 was captured, so the change refunded it: a repayment, not a return.
    assert lines(book.entry(f"{payment_id}/refund/confirm-ch-1:{payment_id}:refund")) == [
        ("refunds", "debit", twd(590)),
        ("gateway_clearing", "credit", twd(590)),
    ]
    given_back = book.entry(f"{order_id}/sale/change/ch-1/given-back")
    assert lines(given_back) == [
        ("customer_receivable", "debit", twd(590)),
        ("refunds", "credit", twd(590)),
    ]
    assert given_back.payment_id is None  # reconciliation still reads the refund entry
    assert book.balance("customer_receivable", "TWD", order_id=order_id) == twd(0)
    assert book.balance("refunds", "TWD") == twd(0)  # nothing was returned
    assert book.balance("sales_revenue", "TWD") == twd(562)  # 1,124 - 562
    assert book.balance("tax_payable", "TWD") == twd(33)  # 28 + 5: what the order now bears
    assert book.balance("gateway_clearing", "TWD") == twd(690)
    assert differences(shop) == ()


def test_a_change_before_capture_is_settled_by_the_hold() -> None:
    shop, _ = make()
    order_id, payment_id = card_order(shop)
    assert change(shop, order_id, quantities={"TEE-M": 1}) == "confirmed"
    book = ledger(shop)
    # Same true-up as above; the hold of 1,280 is captured for 690 and the rest voided,
    # so no money goes back and nothing is given back.
    assert lines(book.entry(f"{order_id}/sale/change/ch-1")) == [
        ("sales_revenue", "debit", twd(562)),
        ("tax_payable", "debit", twd(28)),
        ("customer_receivable", "credit", twd(590)),
    ]
    with pytest.raises(NotFound):
        book.entry(f"{order_id}/sale/change/ch-1/given-back")
    assert lines(book.entry(f"{payment_id}/capture/confirm-ch-1:{payment_id}:capture")) == [
        ("gateway_clearing", "debit", twd(690)),
        ("customer_receivable", "credit", twd(690)),
    ]
    assert book.balance("customer_receivable", "TWD", order_id=order_id) == twd(0)
    assert book.pending_entries() == ()  # the hold was released by the void
    assert differences(shop) == ()


def test_a_dearer_address_adds_shipping_revenue_and_the_extra_payment_owes_it() -> None:
    shop, _ = make()
    order_id, payment_id = card_order(shop)
    shop.capture_payment(
        CapturePayment(idempotency_key="ship", payment_id=payment_id, amount=twd(1280))
    )
    penghu = {"country": "TW", "city": "Magong", "postal_code": "880"}
    assert change(shop, order_id, ship_to=penghu) == "confirmed"
    book = ledger(shop)
    # Home delivery to the islands costs 100 more: 200 with tax 200 - 200 / 1.05 = 9.52
    # -> 10, so shipping 190 (was 95) and tax 56 + 10 = 66 (was 61).
    assert lines(book.entry(f"{order_id}/sale/change/ch-1")) == [
        ("customer_receivable", "debit", twd(100)),
        ("shipping_revenue", "credit", twd(95)),
        ("tax_payable", "credit", twd(5)),
    ]
    # The extra payment of 100 is only authorised: the receivable holds it until captured.
    assert book.balance("customer_receivable", "TWD", order_id=order_id) == twd(100)
    (extra,) = [p for p in shop.payments_of(order_id) if p.id != payment_id]
    shop.capture_payment(
        CapturePayment(idempotency_key="more", payment_id=extra.id, amount=twd(100))
    )
    assert ledger(shop).balance("customer_receivable", "TWD", order_id=order_id) == twd(0)
    assert differences(shop) == ()


def test_a_lost_dispute_posts_a_chargeback_that_reconciles_as_refunded() -> None:
    shop, _ = make()
    order_id, payment_id = card_order(shop)
    shop.capture_payment(
        CapturePayment(idempotency_key="ship", payment_id=payment_id, amount=twd(1280))
    )
    gateway = shop.checkout.gateway
    assert isinstance(gateway, FakeGateway)
    gateway.take_notifications()  # the capture's: already applied
    opened = gateway.open_dispute(payment_id, amount=twd(500), reason=DisputeReason.FRAUDULENT)
    assert opened.dispute_id is not None
    (notice,) = gateway.take_notifications()
    payload = notice.to_payload()
    shop.handle(ApplyDisputeNotification(body=payload.body.decode(), headers=payload.headers))
    assert [e.kind for e in ledger(shop).entries] == ["sale", "capture"]  # opened: no money moved
    shop.handle(AcceptDispute(idempotency_key="give-in", dispute_id=opened.dispute_id))
    book = ledger(shop)
    chargeback = book.entry(f"{payment_id}/chargeback/{opened.dispute_id}")
    assert lines(chargeback) == [
        ("refunds", "debit", twd(500)),
        ("gateway_clearing", "credit", twd(500)),
    ]
    assert (chargeback.kind, chargeback.order_id, chargeback.payment_id) == (
        "chargeback",
        order_id,
        payment_id,
    )
    assert book.balance("gateway_clearing", "TWD") == twd(780)  # 1,280 - 500 taken back
    assert shop.payment(payment_id).totals.refunded == twd(0)  # the payment refunded nothing
    assert differences(shop) == ()  # yet the 500 counts as refunded, as in payment_figures
    assert book.trial_balance().is_balanced


def cod_shop() -> tuple[Shop, FakeCarrier, FixedClock]:
    """A shop that ships from a Taipei warehouse with a fake carrier (its ledger built in)."""
    clock = FixedClock(AT)
    stock = MemoryStockStore([StockLocation(id="tpe", priority=0)], [StockPolicy(sku="TEE-M")])
    stock.receive("TEE-M", "tpe", 5, reference="po-1", at=AT)
    carrier = FakeCarrier("tw-post", clock)
    shop = Shop.in_memory(
        catalog=Catalog([TEE]),
        tax=TaxTable.preset("TW"),
        shipping=ShippingTable.example_taiwan(),
        clock=clock,
        ids=SequentialIds(),
        stock=stock,
        locations={"tpe": Address(country="TW", city="Taipei", postal_code="114")},
        carriers=[carrier],
    )
    return shop, carrier, clock


def test_a_cod_parcel_returned_undelivered_takes_its_sale_off_the_receivable() -> None:
    shop, carrier, clock = cod_shop()
    placed = shop.place_order(
        PlaceOrder(
            idempotency_key="cod",
            items={"TEE-M": 1},
            ship_to=TAIPEI,
            service="cvs",
            pickup_point="FamilyMart Da'an",
            payment_method="cash_on_delivery",
        )
    )
    order_id = placed.order_id
    (shipment,) = shop.shipments_of(order_id)
    carrier.set_timeline(shipment.id, Timeline.PICKUP_EXPIRED)
    shop.pack_shipment(PackShipment(shipment_id=shipment.id))
    shop.ship_shipment(
        ShipShipment(idempotency_key="s", shipment_id=shipment.id, carrier="tw-post")
    )
    sale = ledger(shop).entry(sale_id(order_id))
    # 590 + convenience-store pickup 60 (COD free) = 650; tax 28 + 3 (60 - 60 / 1.05 = 2.86)
    assert lines(sale) == [
        ("customer_receivable", "debit", twd(650)),
        ("sales_revenue", "credit", twd(562)),
        ("shipping_revenue", "credit", twd(57)),
        ("tax_payable", "credit", twd(31)),
    ]
    clock.advance(timedelta(hours=250))  # not picked up: back at the sender
    shop.track_shipment(TrackShipment(shipment_id=shipment.id))
    assert shop.order(order_id).state == "canceled"
    book = ledger(shop)
    undone = book.reversal_of(sale.id)
    assert undone is not None  # nothing was ever collected: the whole sale is reversed
    assert undone.id == f"{order_id}/sale/returned/{shipment.id}"
    assert book.balance("customer_receivable", "TWD", order_id=order_id) == twd(0)
    for account in ("sales_revenue", "shipping_revenue", "tax_payable", "cod_in_transit"):
        assert book.balance(account, "TWD") == twd(0)
    with shop.store.unit_of_work() as uow:
        assert reconcile_shop(uow) == ()


def test_a_cod_order_half_returned_undoes_the_sale_of_the_parcel_that_came_back() -> None:
    clock = FixedClock(AT)
    stock = MemoryStockStore(
        [StockLocation(id="tpe", priority=0), StockLocation(id="txg", priority=1)],
        [StockPolicy(sku="TEE-M")],
    )
    stock.receive("TEE-M", "tpe", 1, reference="po-1", at=AT)
    stock.receive("TEE-M", "txg", 1, reference="po-2", at=AT)  # one T-shirt in each
    carrier = FakeCarrier("tw-post", clock)
    shop = Shop.in_memory(
        catalog=Catalog([TEE]),
        tax=TaxTable.preset("TW"),
        shipping=ShippingTable.example_taiwan(),
        clock=clock,
        ids=SequentialIds(),
        stock=stock,
        locations={
            "tpe": Address(country="TW", city="Taipei", postal_code="114"),
            "txg": Address(country="TW", city="Taichung", postal_code="407"),
        },
        carriers=[carrier],
    )
    placed = shop.place_order(
        PlaceOrder(
            idempotency_key="cod",
            items={"TEE-M": 2},
            ship_to=TAIPEI,
            service="home",
            payment_method="cash_on_delivery",
        )
    )
    order_id = placed.order_id
    first, second = shop.shipments_of(order_id)
    carrier.set_timeline(second.id, Timeline.PICKUP_EXPIRED)  # never handed to the customer
    for shipment in (first, second):
        shop.pack_shipment(PackShipment(shipment_id=shipment.id))
        shop.ship_shipment(
            ShipShipment(idempotency_key=shipment.id, shipment_id=shipment.id, carrier="tw-post")
        )
    clock.advance(timedelta(hours=60))
    shop.track_shipment(TrackShipment(shipment_id=first.id))  # delivered: 590 + 130 collected
    clock.advance(timedelta(hours=250))
    shop.track_shipment(TrackShipment(shipment_id=second.id))  # back at the sender
    book = ledger(shop)
    # Sold: 1,180 + delivery 100 + COD fee 30 = 1,310; tax 56 + 6 = 62, shipping 124,
    # revenue 1,124. The second T-shirt (590, tax 28, revenue 562) was never collected and
    # comes off the order, which now costs 720: exactly its revenue and tax are undone.
    assert lines(book.entry(f"{order_id}/sale/returned/{second.id}")) == [
        ("sales_revenue", "debit", twd(562)),
        ("tax_payable", "debit", twd(28)),
        ("customer_receivable", "credit", twd(590)),
    ]
    assert shop.order(order_id).totals.total == twd(720)
    assert book.balance("customer_receivable", "TWD", order_id=order_id) == twd(0)
    assert book.balance("cod_in_transit", "TWD") == twd(720)  # the carrier holds the cash
    assert book.balance("sales_revenue", "TWD") == twd(562)
    assert book.balance("tax_payable", "TWD") == twd(34)  # what the order now bears
    with shop.store.unit_of_work() as uow:
        assert reconcile_shop(uow) == ()


def test_the_trial_balance_table_leaves_out_accounts_that_net_to_zero() -> None:
    shop, _ = make()
    order_id, _ = card_order(shop)
    shop.cancel_order(CancelOrder(idempotency_key="x", order_id=order_id, reason="no"))
    trial = ledger(shop).trial_balance()
    assert {row.account.code for row in trial.rows} >= {"customer_receivable", "sales_revenue"}
    # every account is back to zero: only the header and the totals are printed
    assert trial.format().splitlines() == [
        f"{'account (TWD)':<28}{'debit':>14}{'credit':>14}",
        f"{'total':<28}{'0.00':>14}{'0.00':>14}",
    ]
