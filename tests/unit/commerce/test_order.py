"""The order aggregate: placement from a quote, its lifecycle, derived statuses and changes.

Figures used throughout (TW preset: prices include 5% tax, tax rounded to whole dollars):
2 T-shirts at 590 and 1 pair of socks at 350 make 1530; "spend 1000, get 100 off" spreads
100 by line value: 1180/1530 × 100 = 77.12 on the T-shirts (38.56 a unit: each pays 551.44)
and 22.88 on the socks (327.12). Home delivery in Taipei costs 100, so the total is
1430 + 100 = 1530, with 73 of tax inside (1530 × 5/105 = 72.86 → 73).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest

from fourflows import CurrencyMismatch, GuardRejected, InvalidInput, InvalidTransition, Money
from fourflows.commerce.cart import Cart, Channel, Customer, PricingContext
from fourflows.commerce.catalog import Product
from fourflows.commerce.order import (
    ORDER_MACHINE,
    FulfilmentStatus,
    ItemsDelivered,
    ItemsReturnedUndelivered,
    ItemsShipped,
    LineAllocated,
    LineCounts,
    LineQuantity,
    Order,
    OrderApproved,
    OrderCanceled,
    OrderChange,
    OrderChanged,
    OrderChangeDeclined,
    OrderChangeProposed,
    OrderCompleted,
    OrderDelivered,
    OrderHeld,
    OrderPaid,
    OrderPlaced,
    OrderReleased,
    OrderShipped,
    PaymentFigures,
    PaymentPlan,
    PaymentStatus,
    SkuQuantity,
)
from fourflows.commerce.pricing import Quote, price_cart
from fourflows.commerce.promotions import SpendThreshold
from fourflows.events import DomainEvent
from fourflows.geo import Address
from fourflows.logistics.promise import BusinessCalendar, Origin
from fourflows.logistics.shipping import ShippingTable
from fourflows.tax import PriceMode, TaxTable


def twd(amount: str) -> Money:
    return Money(amount, "TWD")


TEE = Product(sku="TEE-M", name="T-shirt", price=twd("590"), weight_g=200, size_cm=(30, 20, 3))
SOCKS = Product(sku="SOCK", name="Socks", price=twd("350"), weight_g=80, size_cm=(20, 10, 2))
AT = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # Friday 12:00 in Taipei
LATER = AT + timedelta(hours=1)
CONTEXT = PricingContext(at=AT, customer=Customer(id="c-1"))
TW = TaxTable.preset("TW")
TABLE = ShippingTable.example_taiwan()
TAIPEI = Address(country="TW", city="Taipei", postal_code="106")
PENGHU = Address(country="TW", city="Magong", postal_code="880")
SPEND_1000 = SpendThreshold(id="spend-1000", tiers=[(twd("1000"), twd("100"))])
WAREHOUSE = Origin(
    id="tpe", timezone="Asia/Taipei", cutoff="14:00", calendar=BusinessCalendar("TW")
)
NOTHING = PaymentFigures.of("TWD")


@functools.cache
def quote(
    tee: int = 2,
    socks: int = 1,
    *,
    service: str | None = "home",
    ship_to: Address | None = TAIPEI,
    cod: bool = False,
    context: PricingContext = CONTEXT,
    mode: PriceMode = PriceMode.INCLUSIVE,
) -> Quote:
    cart = Cart("TWD")
    if tee:
        cart = cart.add(TEE, tee)
    if socks:
        cart = cart.add(SOCKS, socks)
    return price_cart(
        cart,
        context=context,
        tax=TW.with_mode(mode),
        promotions=[SPEND_1000],
        shipping=None if service is None else TABLE,
        ship_to=ship_to if service is not None else None,
        service=service,
        cod=cod,
        origin=WAREHOUSE,
    )


def placed(**changes: Any) -> Order:
    fields: dict[str, Any] = {"id": "o-1", "quote": quote(), "at": AT}
    fields.update(changes)
    return Order.place(**fields)


def paid(figures: PaymentFigures | None = None) -> Order:
    order = placed()
    order.mark_paid(figures or PaymentFigures.of("TWD", authorized="1530"), at=AT)
    return order


def snapshot(order: Order) -> tuple[Any, ...]:
    return (
        order.state,
        order.version,
        order.lines,
        order.shipping,
        order.shipping_address,
        order.held_from,
        order.hold_reason,
        order.cancel_reason,
        order.pending_change,
        dict(order.allocations),
        dict(order.shipments),
        order.delivered_shipments,
        dict(order.decided_changes),
        order.pending_events,
    )


def counts(order: Order) -> list[tuple[int, ...]]:
    return [
        (c.ordered, c.allocated, c.shipped, c.delivered, c.canceled)
        for c in (line.counts for line in order.lines)
    ]


class TestPlacing:
    def test_lines_are_frozen_with_what_each_unit_pays(self) -> None:
        order = placed()
        tee, socks = order.lines
        assert (tee.sku, tee.name, tee.quantity, tee.list_price) == (
            "TEE-M",
            "T-shirt",
            2,
            twd("590"),
        )
        # 1180 − 77.12 = 1102.88, two units of 551.44; tax 53 of the 73 (26.50 a unit)
        assert tee.discount == twd("77.12")
        assert tee.unit_totals == (twd("551.44"), twd("551.44"))
        assert tee.unit_taxes == (twd("26.50"), twd("26.50"))
        assert (tee.tax_category, tee.tax_rate) == ("standard", Decimal("5"))
        assert (tee.net + tee.tax, tee.gross) == (twd("1102.88"), twd("1102.88"))
        assert socks.unit_totals == (twd("327.12"),)
        assert (order.currency, order.price_mode, order.channel) == (
            "TWD",
            PriceMode.INCLUSIVE,
            Channel.WEB,
        )
        assert (order.customer_id, order.payment_plan) == ("c-1", PaymentPlan.PREPAID)

    def test_shipping_keeps_the_option_and_its_promise(self) -> None:
        shipping = placed().shipping
        assert shipping is not None
        assert (shipping.service_id, shipping.fee, shipping.tax) == ("home", twd("100"), twd("5"))
        # Friday 12:00 before the 14:00 cut-off ships Friday; 1-2 business days + 1 buffer
        assert (shipping.earliest, shipping.latest) == (
            datetime(2026, 11, 23).date(),
            datetime(2026, 11, 25).date(),
        )

    def test_totals_agree_with_the_quote(self) -> None:
        totals = placed().totals
        assert (totals.subtotal, totals.discount, totals.goods) == (
            twd("1530"),
            twd("100"),
            twd("1430"),
        )
        # 1430 + 100 shipping; tax 53 + 15 on goods, 5 on shipping
        assert (totals.shipping, totals.tax, totals.total) == (twd("100"), twd("73"), twd("1530"))

    def test_placing_records_what_a_consumer_needs(self) -> None:
        order = placed(billing_address=TAIPEI)
        (event,) = order.pending_events
        assert isinstance(event, OrderPlaced)
        assert (event.aggregate_id, event.sequence, event.occurred_at) == ("o-1", 1, AT)
        assert (event.customer_id, event.currency, event.total) == ("c-1", "TWD", twd("1530"))
        assert [(s.sku, s.quantity, s.total) for s in event.lines] == [
            ("TEE-M", 2, twd("1102.88")),
            ("SOCK", 1, twd("327.12")),
        ]
        assert (event.shipping_service, event.channel, event.payment_plan) == (
            "home",
            "web",
            "prepaid",
        )
        assert (order.state, order.version, order.billing_address) == (
            "pending_payment",
            1,
            TAIPEI,
        )

    def test_prices_without_tax_keep_a_gross_per_unit(self) -> None:
        order = placed(quote=quote(mode=PriceMode.EXCLUSIVE))
        tee = order.lines[0]
        # 551.44 net a unit plus its share of tax: each unit's total is amount + tax
        assert all(
            total == amount + tax
            for total, amount, tax in zip(
                tee.unit_totals, tee.unit_amounts, tee.unit_taxes, strict=True
            )
        )
        assert order.totals.total == quote(mode=PriceMode.EXCLUSIVE).total
        assert order.totals.total == order.totals.goods + order.totals.shipping + order.totals.tax

    def test_a_store_sale_needs_no_shipping(self) -> None:
        store = PricingContext(at=AT, customer=Customer(id="c-1"), channel="store")
        order = placed(quote=quote(service=None, context=store))
        assert (order.shipping, order.shipping_address, order.channel) == (
            None,
            None,
            Channel.STORE,
        )
        assert order.totals.total == twd("1430")

    def test_a_web_order_without_shipping_is_refused(self) -> None:
        with pytest.raises(InvalidInput, match="a web order needs a shipping choice"):
            placed(quote=quote(service=None))

    def test_cash_on_delivery_needs_a_cod_quote(self) -> None:
        with pytest.raises(InvalidInput, match="cod=True"):
            placed(payment_plan="cash_on_delivery")
        order = placed(quote=quote(cod=True), payment_plan=PaymentPlan.CASH_ON_DELIVERY)
        # the COD fee of 30 is in the shipping: 100 + 30
        assert order.totals.total == twd("1560")

    @pytest.mark.parametrize(
        ("changes", "complaint"),
        [
            ({"at": datetime(2026, 11, 20, 12)}, "timezone-aware"),
            ({"quote": "q"}, "priced Quote"),
            ({"customer": "c-2"}, "priced for customer 'c-1', not 'c-2'"),
            ({"channel": "store"}, "priced for the web channel, not store"),
            ({"channel": "fax"}, "unknown channel 'fax'"),
            ({"shipping_address": PENGHU}, "priced for shipping to"),
            ({"payment_plan": "barter"}, "unknown payment plan 'barter'"),
            ({"id": ""}, "id must be a non-empty string"),
        ],
    )
    def test_bad_input_is_refused(self, changes: dict[str, Any], complaint: str) -> None:
        with pytest.raises(InvalidInput, match=complaint):
            placed(**changes)

    def test_a_quote_that_does_not_add_up_is_refused(self) -> None:
        good = quote()
        assert good.shipping is not None
        wrong = attrs.evolve(
            good, promotions=attrs.evolve(good.promotions, discount_total=twd("90"))
        )
        with pytest.raises(InvalidInput, match="does not add up"):
            placed(quote=wrong)
        cheaper = attrs.evolve(good.shipping.option, fee=twd("1"))
        bad = attrs.evolve(good, shipping=attrs.evolve(good.shipping, option=cheaper))
        with pytest.raises(InvalidInput, match=r"fee 1 TWD disagrees with the 100\.00 TWD"):
            placed(quote=bad)


class TestPrepaidLifecycle:
    def test_paid_then_shipped_in_two_parts_then_delivered_then_completed(self) -> None:
        order = placed()
        events: list[DomainEvent] = order.collect_events()
        figures = PaymentFigures.of("TWD", authorized="1530")
        assert order.payment_status(figures) is PaymentStatus.AUTHORIZED
        assert isinstance(order.mark_paid(figures, at=AT), OrderPaid)
        assert order.state == "awaiting_fulfilment"

        order.allocate("TEE-M", 2, allocation_id="a-1", at=AT)
        assert (order.state, order.fulfilment_status) == (
            "awaiting_fulfilment",
            FulfilmentStatus.PARTIALLY_ALLOCATED,
        )
        order.allocate(1, 1, allocation_id="a-2", at=AT)
        assert (order.state, order.fulfilment_status) == (
            "awaiting_fulfilment",
            FulfilmentStatus.ALLOCATED,
        )

        first = order.record_shipment("s-1", {"TEE-M": 2}, at=AT)
        assert isinstance(first, ItemsShipped)
        assert first.items == (LineQuantity(0, "TEE-M", 2),)
        assert (order.state, order.fulfilment_status) == (
            "partially_shipped",
            FulfilmentStatus.PARTIALLY_SHIPPED,
        )
        # the card is captured for what shipped: 2 × 551.44 = 1102.88 of 1530
        part = PaymentFigures.of("TWD", captured="1102.88", authorized="427.12")
        assert order.payment_status(part) is PaymentStatus.PARTIALLY_PAID

        assert isinstance(order.record_shipment("s-2", {"SOCK": 1}, at=AT), OrderShipped)
        assert (order.state, order.fulfilment_status) == ("shipped", FulfilmentStatus.SHIPPED)
        assert order.payment_status(PaymentFigures.of("TWD", captured="1530")) is PaymentStatus.PAID

        assert isinstance(order.record_delivery("s-1", at=LATER), ItemsDelivered)
        assert (order.state, order.fulfilment_status) == (
            "shipped",
            FulfilmentStatus.PARTIALLY_DELIVERED,
        )
        assert isinstance(order.record_delivery("s-2", at=LATER), OrderDelivered)
        assert (order.state, order.fulfilment_status) == ("delivered", FulfilmentStatus.DELIVERED)
        assert isinstance(order.complete(at=LATER), OrderCompleted)
        assert (order.state, order.is_final) == ("completed", True)

        events += order.collect_events()
        assert [type(e).__name__ for e in events] == [
            "OrderPlaced",
            "OrderPaid",
            "LineAllocated",
            "LineAllocated",
            "ItemsShipped",
            "OrderShipped",
            "ItemsDelivered",
            "OrderDelivered",
            "OrderCompleted",
        ]
        assert [e.sequence for e in events] == list(range(1, 10))
        assert counts(order) == [(2, 2, 2, 2, 0), (1, 1, 1, 1, 0)]

    def test_payment_that_does_not_cover_the_total_is_refused(self) -> None:
        order = placed()
        before = snapshot(order)
        short = PaymentFigures.of("TWD", authorized="1529")
        with pytest.raises(GuardRejected, match="payment_covers_total"):
            order.mark_paid(short, at=AT)
        assert snapshot(order) == before

    def test_split_tender_covers_the_total_together(self) -> None:
        order = placed()
        # 300 in points captured at once, the card holds 1230: 300 + 1230 = 1530
        split = PaymentFigures.of("TWD", captured="300", authorized="1230")
        assert order.payment_status(split) is PaymentStatus.PARTIALLY_PAID
        event = order.mark_paid(split, at=AT)
        assert isinstance(event, OrderPaid)
        assert (event.payment_status, event.secured) == ("partially_paid", twd("1530"))

    def test_a_repeated_payment_notification_changes_nothing(self) -> None:
        order = paid()
        before = snapshot(order)
        assert order.mark_paid(PaymentFigures.of("TWD", captured="1530"), at=LATER) is None
        assert snapshot(order) == before

    def test_shipping_needs_allocated_units(self) -> None:
        order = paid()
        order.allocate("TEE-M", 1, allocation_id="a-1", at=AT)
        before = snapshot(order)
        with pytest.raises(InvalidInput, match="1 allocated units not yet shipped, not 2"):
            order.record_shipment("s-1", {"TEE-M": 2}, at=AT)
        with pytest.raises(InvalidInput, match="0 allocated units not yet shipped, not 1"):
            order.record_shipment("s-1", {"TEE-M": 1, "SOCK": 1}, at=AT)
        assert snapshot(order) == before

    def test_nothing_is_allocated_before_payment(self) -> None:
        order = placed()
        with pytest.raises(InvalidTransition, match="cannot 'allocate'"):
            order.allocate("TEE-M", 1, allocation_id="a-1", at=AT)
        assert order.version == 1

    @pytest.mark.parametrize(
        ("line", "quantity", "complaint"),
        [
            ("HAT", 1, "no line with sku 'HAT' on this order; lines: 0 'TEE-M', 1 'SOCK'"),
            (5, 1, "no line 5 on this order"),
            (True, 1, "name a line by its sku or index, not True"),
            ("TEE-M", 0, "at least 1, not 0"),
            ("TEE-M", -1, "at least 1, not -1"),
            ("TEE-M", "1", "at least 1, not '1'"),
            ("TEE-M", 3, "can take 2 more allocated units .2 open, 0 allocated., not 3"),
        ],
    )
    def test_bad_allocations_are_refused(self, line: Any, quantity: Any, complaint: str) -> None:
        order = paid()
        before = snapshot(order)
        with pytest.raises(InvalidInput, match=complaint):
            order.allocate(line, quantity, allocation_id="a-1", at=AT)
        assert snapshot(order) == before

    def test_repeated_fulfilment_commands_change_nothing(self) -> None:
        order = paid()
        order.allocate("TEE-M", 2, allocation_id="a-1", at=AT)
        order.record_shipment("s-1", {0: 1}, at=AT)
        order.record_delivery("s-1", at=AT)
        before = snapshot(order)
        assert order.allocate(0, 2, allocation_id="a-1", at=LATER) is None
        assert order.record_shipment("s-1", {"TEE-M": 1}, at=LATER) is None
        assert order.record_delivery("s-1", at=LATER) is None
        assert snapshot(order) == before
        with pytest.raises(InvalidInput, match="allocation 'a-1' was recorded for 2"):
            order.allocate(0, 1, allocation_id="a-1", at=LATER)
        with pytest.raises(InvalidInput, match="shipment 's-1' was recorded with 1 × 'TEE-M'"):
            order.record_shipment("s-1", {"TEE-M": 2}, at=LATER)
        with pytest.raises(InvalidInput, match="no shipment 's-9' on this order; shipments: 's-1'"):
            order.record_delivery("s-9", at=LATER)
        assert snapshot(order) == before

    def test_a_naive_time_is_refused(self) -> None:
        order = paid()
        with pytest.raises(InvalidInput, match="timezone-aware"):
            order.allocate(0, 1, allocation_id="a-1", at=datetime(2026, 11, 20, 12))


class TestCashOnDelivery:
    def test_an_approved_cod_order_awaits_fulfilment_unpaid(self) -> None:
        order = placed(quote=quote(cod=True), payment_plan="cash_on_delivery")
        event = order.approve(at=AT, note="phone verified")
        assert isinstance(event, OrderApproved)
        assert order.state == "awaiting_fulfilment"
        assert order.payment_status(NOTHING) is PaymentStatus.UNPAID
        assert order.approve(at=LATER) is None  # a repeat changes nothing
        assert order.version == 2

    def test_a_prepaid_order_cannot_be_approved_unpaid(self) -> None:
        order = placed()
        with pytest.raises(GuardRejected, match="cash_on_delivery"):
            order.approve(at=AT)
        assert order.state == "pending_payment"


class TestOnAccount:
    """A business buyer's order, invoiced and paid later on terms (net 30 and the like)."""

    def test_an_order_on_account_is_approved_and_fulfilled_unpaid(self) -> None:
        # no COD quote is needed: the buyer pays the invoice later, by bank transfer
        order = placed(payment_plan="on_account", purchase_order=" PO-7781 ")
        assert order.payment_plan is PaymentPlan.ON_ACCOUNT
        assert order.purchase_order == "PO-7781"
        event = order.approve(at=AT, note="net 30")
        assert isinstance(event, OrderApproved)
        assert order.state == "awaiting_fulfilment"
        assert order.payment_status(NOTHING) is PaymentStatus.UNPAID
        assert order.approve(at=LATER) is None  # a repeat changes nothing
        assert order.version == 2

    def test_the_placed_event_carries_the_plan_and_purchase_order(self) -> None:
        order = placed(payment_plan=PaymentPlan.ON_ACCOUNT, purchase_order="PO-7781")
        (event,) = order.pending_events
        assert isinstance(event, OrderPlaced)
        assert (event.payment_plan, event.purchase_order) == ("on_account", "PO-7781")

    def test_a_prepaid_order_has_no_purchase_order_unless_given(self) -> None:
        order = placed()
        (event,) = order.pending_events
        assert isinstance(event, OrderPlaced)
        assert order.purchase_order is None
        assert event.purchase_order is None

    def test_partial_transfers_then_full_payment_show_in_the_payment_status(self) -> None:
        # total 1530: 1000 then 530 received by bank transfer, captured by the shop
        order = placed(payment_plan="on_account")
        order.approve(at=AT)
        part = PaymentFigures.of("TWD", captured="1000")
        assert order.payment_status(part) is PaymentStatus.PARTIALLY_PAID
        full = PaymentFigures.of("TWD", captured="1530")
        assert order.payment_status(full) is PaymentStatus.PAID
        assert order.mark_paid(full, at=LATER) is None  # approved already: nothing to move

    @pytest.mark.parametrize("reference", ["", "   ", 7781])
    def test_a_bad_purchase_order_is_refused(self, reference: object) -> None:
        with pytest.raises(InvalidInput, match="purchase-order reference"):
            placed(payment_plan="on_account", purchase_order=reference)

    def test_an_unknown_plan_lists_on_account_among_the_allowed(self) -> None:
        with pytest.raises(InvalidInput, match="on_account"):
            placed(payment_plan="net_30")


class TestCancel:
    def test_cancel_after_capture_refunds_and_releases_stock(self) -> None:
        order = paid(PaymentFigures.of("TWD", captured="1530"))
        order.allocate("TEE-M", 2, allocation_id="a-1", at=AT)
        figures = PaymentFigures.of("TWD", captured="1530")
        event = order.cancel(reason="customer asked", figures=figures, at=LATER)
        assert isinstance(event, OrderCanceled)
        assert (event.to_void, event.to_refund, event.release_stock) == (
            twd("0"),
            twd("1530"),
            True,
        )
        assert event.units_to_release == (SkuQuantity("SOCK", 1), SkuQuantity("TEE-M", 2))
        assert (order.state, order.fulfilment_status) == ("canceled", FulfilmentStatus.CANCELED)
        assert counts(order) == [(2, 0, 0, 0, 2), (1, 0, 0, 0, 1)]
        # nothing is due any more: 1530 held is owed back until refunded
        assert order.totals.total == twd("0")
        assert order.payment_status(figures) is PaymentStatus.CREDIT_OWED
        refunded = PaymentFigures.of("TWD", captured="1530", refunded="1530")
        assert order.payment_status(refunded) is PaymentStatus.REFUNDED

    def test_cancel_before_capture_voids_the_authorisation(self) -> None:
        order = paid()
        figures = PaymentFigures.of("TWD", authorized="1530")
        event = order.cancel(reason="out of stock", figures=figures, at=LATER)
        assert isinstance(event, OrderCanceled)
        assert (event.to_void, event.to_refund) == (twd("1530"), twd("0"))
        assert order.payment_status(NOTHING) is PaymentStatus.UNPAID

    def test_cancel_once_anything_shipped_is_refused(self) -> None:
        order = paid()
        order.allocate(0, 1, allocation_id="a-1", at=AT)
        order.record_shipment("s-1", {0: 1}, at=AT)
        before = snapshot(order)
        with pytest.raises(InvalidTransition, match="partially_shipped"):
            order.cancel(reason="changed mind", figures=NOTHING, at=LATER)
        order.hold(reason="fraud review", at=LATER)
        with pytest.raises(GuardRejected, match="nothing_shipped"):
            order.cancel(reason="fraud", figures=NOTHING, at=LATER)
        assert order.lines == before[2]
        assert order.state == "on_hold"

    def test_repeating_a_cancel_changes_nothing(self) -> None:
        order = placed()
        order.cancel(reason="unpaid", figures=NOTHING, at=AT)
        before = snapshot(order)
        assert order.cancel(reason="unpaid", figures=NOTHING, at=LATER) is None
        assert snapshot(order) == before
        with pytest.raises(InvalidTransition, match="final state"):
            order.cancel(reason="other", figures=NOTHING, at=LATER)

    def test_a_reason_and_figures_in_the_order_currency_are_needed(self) -> None:
        order = placed()
        with pytest.raises(GuardRejected, match="a reason is given"):
            order.cancel(reason=" ", figures=NOTHING, at=AT)
        with pytest.raises(CurrencyMismatch, match="cannot mix payment figures in USD with TWD"):
            order.cancel(reason="x", figures=PaymentFigures.of("USD"), at=AT)
        with pytest.raises(InvalidInput, match="must be PaymentFigures"):
            order.cancel(reason="x", figures="1530", at=AT)  # type: ignore[arg-type]
        assert (order.state, order.version) == ("pending_payment", 1)


class TestHold:
    def test_hold_and_release_return_to_where_it_was(self) -> None:
        order = paid()
        assert isinstance(order.hold(reason="address check", at=AT), OrderHeld)
        assert (order.state, order.held_from) == ("on_hold", "awaiting_fulfilment")
        assert order.hold(reason="address check", at=LATER) is None
        with pytest.raises(InvalidTransition, match="on_hold"):
            order.allocate(0, 1, allocation_id="a-1", at=AT)
        event = order.release(at=LATER)
        assert isinstance(event, OrderReleased)
        assert (event.returned_to, order.state, order.held_from) == (
            "awaiting_fulfilment",
            "awaiting_fulfilment",
            None,
        )
        with pytest.raises(InvalidTransition, match="cannot 'release'"):
            order.release(at=LATER)

    def test_a_payment_arriving_while_held_is_kept_for_the_release(self) -> None:
        order = placed()
        order.hold(reason="fraud score high", at=AT)
        assert isinstance(
            order.mark_paid(PaymentFigures.of("TWD", captured="1530"), at=AT), OrderPaid
        )
        assert (order.state, order.held_from) == ("on_hold", "awaiting_fulfilment")
        order.release(at=LATER)
        assert order.state == "awaiting_fulfilment"

    def test_a_parcel_already_out_is_delivered_while_held(self) -> None:
        order = paid()
        order.allocate(0, 2, allocation_id="a-1", at=AT)
        order.record_shipment("s-1", {0: 2}, at=AT)
        order.hold(reason="customer dispute", at=AT)
        assert isinstance(order.record_delivery("s-1", at=LATER), ItemsDelivered)
        assert order.state == "on_hold"
        order.release(at=LATER)
        assert order.state == "partially_shipped"


class TestChanges:
    def test_quantity_down_before_payment_is_repriced(self) -> None:
        order = placed()
        change = OrderChange(id="ch-1", quantities={"TEE-M": 1})
        preview = order.preview_change(change, quote(tee=1))
        # 590 + 350 = 940 no longer reaches 1000: no discount; 940 + 100 shipping = 1040
        assert (preview.repriced, preview.totals.discount, preview.totals.total) == (
            True,
            twd("0"),
            twd("1040"),
        )
        assert preview.difference == twd("-490")
        assert (preview.to_refund, preview.to_collect) == (twd("0"), twd("1040"))
        assert preview.units_to_release == (SkuQuantity("TEE-M", 1),)
        assert order.version == 1  # a preview records nothing

        assert order.propose_change(change, quote(tee=1), at=AT) == preview
        assert isinstance(order.pending_events[-1], OrderChangeProposed)
        event = order.confirm_change("ch-1", at=LATER)
        assert isinstance(event, OrderChanged)
        assert (event.previous_total, event.new_total) == (twd("1530"), twd("1040"))
        assert [(line.sku, line.quantity, line.discount) for line in order.lines] == [
            ("TEE-M", 1, twd("0")),
            ("SOCK", 1, twd("0")),
        ]
        assert (order.totals.total, order.state, order.pending_change) == (
            twd("1040"),
            "pending_payment",
            None,
        )

    def test_quantity_down_after_payment_refunds_the_unit_at_what_it_paid(self) -> None:
        order = paid(PaymentFigures.of("TWD", captured="1530"))
        order.allocate(0, 2, allocation_id="a-1", at=AT)
        figures = PaymentFigures.of("TWD", captured="1530")
        change = OrderChange(id="ch-1", quantities={"TEE-M": 1}, reason="one is enough")
        preview = order.propose_change(change, figures=figures, at=AT)
        # the T-shirt kept its share of the spend discount: 551.44 back; 1530 − 551.44 = 978.56
        assert (preview.repriced, preview.totals.total, preview.to_refund) == (
            False,
            twd("978.56"),
            twd("551.44"),
        )
        order.confirm_change("ch-1", at=LATER)
        assert counts(order)[0] == (2, 1, 0, 0, 1)  # one canceled, the allocation released
        assert order.payment_status(figures) is PaymentStatus.CREDIT_OWED
        after = PaymentFigures.of("TWD", captured="1530", refunded="551.44")
        assert order.payment_status(after) is PaymentStatus.PARTIALLY_REFUNDED

    def test_address_change_with_its_new_fee(self) -> None:
        order = paid(PaymentFigures.of("TWD", captured="1530"))
        figures = PaymentFigures.of("TWD", captured="1530")
        change = OrderChange(id="ch-1", shipping_address=PENGHU)
        preview = order.preview_change(change, quote(ship_to=PENGHU), figures=figures)
        # Penghu is an outlying island: home delivery 100 + 100 surcharge = 200
        assert (preview.totals.shipping, preview.totals.total) == (twd("200"), twd("1630"))
        assert (preview.difference, preview.to_collect, preview.to_refund) == (
            twd("100"),
            twd("100"),
            twd("0"),
        )
        order.propose_change(change, quote(ship_to=PENGHU), figures=figures, at=AT)
        order.confirm_change("ch-1", at=AT)
        assert (order.shipping_address, order.totals.total) == (PENGHU, twd("1630"))

    def test_an_address_change_without_a_quote_keeps_the_fee(self) -> None:
        order = paid()
        elsewhere = Address(country="TW", city="Taipei", postal_code="110")
        preview = order.preview_change(OrderChange(id="ch-1", shipping_address=elsewhere))
        assert (preview.difference, preview.shipping_address) == (twd("0"), elsewhere)

    def test_shipping_option_change(self) -> None:
        order = paid(PaymentFigures.of("TWD", captured="1530"))
        figures = PaymentFigures.of("TWD", captured="1530")
        change = OrderChange(id="ch-1", shipping_service="cvs")
        preview = order.preview_change(change, quote(service="cvs"), figures=figures)
        # convenience-store pickup costs 60 instead of 100
        assert (preview.totals.total, preview.difference, preview.to_refund) == (
            twd("1490"),
            twd("-40"),
            twd("40"),
        )
        with pytest.raises(InvalidInput, match="needs a new quote"):
            order.preview_change(change)
        with pytest.raises(InvalidInput, match="the quote ships with 'home'"):
            order.preview_change(change, quote())

    def test_canceling_the_last_units_to_ship_makes_the_order_shipped(self) -> None:
        order = paid()
        order.allocate(0, 2, allocation_id="a-1", at=AT)
        order.record_shipment("s-1", {0: 2}, at=AT)
        order.propose_change(OrderChange(id="ch-1", quantities={"SOCK": 0}), at=AT)
        order.confirm_change("ch-1", at=AT)
        assert (order.state, order.fulfilment_status) == ("shipped", FulfilmentStatus.SHIPPED)

    def test_a_change_left_pending_when_everything_ships_can_only_be_declined(self) -> None:
        order = paid()
        order.propose_change(OrderChange(id="ch-1", quantities={"SOCK": 0}), at=AT)
        order.allocate(0, 2, allocation_id="a-1", at=AT)
        order.allocate(1, 1, allocation_id="a-2", at=AT)
        order.record_shipment("s-1", {0: 2, 1: 1}, at=AT)
        order.record_delivery("s-1", at=AT)
        assert order.state == "delivered"
        with pytest.raises(InvalidTransition, match="fully shipped"):
            order.confirm_change("ch-1", at=AT)
        with pytest.raises(GuardRejected, match="no_change_pending"):
            order.complete(at=AT)
        order.decline_change("ch-1", reason="the socks shipped anyway", at=AT)
        assert isinstance(order.complete(at=AT), OrderCompleted)

    def test_only_one_change_at_a_time_and_repeats_change_nothing(self) -> None:
        order = paid()
        change = OrderChange(id="ch-1", quantities={"SOCK": 0})
        order.propose_change(change, at=AT)
        before = snapshot(order)
        assert order.propose_change(change, at=LATER) is order.pending_change
        assert snapshot(order) == before
        with pytest.raises(GuardRejected, match="no_change_pending"):
            order.propose_change(OrderChange(id="ch-2", quantities={"TEE-M": 1}), at=AT)
        assert snapshot(order) == before
        assert isinstance(order.decline_change("ch-1", at=AT), OrderChangeDeclined)
        assert order.decline_change("ch-1", at=LATER) is None
        with pytest.raises(InvalidInput, match="'ch-1' was already declined"):
            order.propose_change(change, at=AT)
        with pytest.raises(GuardRejected, match="change_pending"):
            order.confirm_change("ch-1", at=AT)
        assert counts(order) == [(2, 0, 0, 0, 0), (1, 0, 0, 0, 0)]

    def test_a_change_previewed_before_payment_is_not_confirmed_after_it(self) -> None:
        order = placed()
        order.propose_change(OrderChange(id="ch-1", quantities={"TEE-M": 1}), quote(tee=1), at=AT)
        order.mark_paid(PaymentFigures.of("TWD", captured="1530"), at=AT)
        before = snapshot(order)
        # after payment the T-shirt would go at what it paid (978.56), not re-priced (1040)
        with pytest.raises(InvalidInput, match=r"would now total 978\.56 TWD, not 1040"):
            order.confirm_change("ch-1", at=LATER)
        assert snapshot(order) == before

    @pytest.mark.parametrize(
        ("change", "new_quote", "complaint"),
        [
            ({"quantities": {"TEE-M": 3}}, None, "cannot go up from 2 to 3 after payment"),
            ({"quantities": {"HAT": 1}}, None, "no line with sku 'HAT'"),
            ({"quantities": {"TEE-M": 0, "SOCK": 0}}, None, "no unit in the order; cancel"),
            ({"quantities": {"TEE-M": 2}}, None, "asks for nothing the order does not have"),
            ({"quantities": {"TEE-M": 1, 0: 1}}, None, "names line 0 twice"),
            ({"quantities": {"TEE-M": 1}}, "usd", "cannot mix a new quote in USD with TWD"),
            ({"quantities": {"TEE-M": 1}}, "tee2", r"prices \{'SOCK': 1, 'TEE-M': 2\}"),
        ],
    )
    def test_bad_changes_are_refused(
        self, change: dict[str, Any], new_quote: str | None, complaint: str
    ) -> None:
        order = paid()
        usd = Product(
            sku="TEE-M", name="T", price=Money("20", "USD"), weight_g=1, size_cm=(1, 1, 1)
        )
        quotes = {
            None: None,
            "usd": price_cart(Cart("USD").add(usd, 1), context=CONTEXT, tax=TW),
            "tee2": quote(),
        }
        before = snapshot(order)
        with pytest.raises(InvalidInput, match=complaint):
            order.propose_change(OrderChange(id="ch-x", **change), quotes[new_quote], at=AT)
        assert snapshot(order) == before

    def test_shipped_units_cannot_change(self) -> None:
        order = paid()
        order.allocate(0, 2, allocation_id="a-1", at=AT)
        order.record_shipment("s-1", {0: 2}, at=AT)
        with pytest.raises(InvalidInput, match=r"2 units have shipped \(returns come later\)"):
            order.preview_change(OrderChange(id="ch-1", quantities={"TEE-M": 1}))
        with pytest.raises(InvalidInput, match="units have already shipped"):
            order.preview_change(OrderChange(id="ch-1", shipping_service="cvs"), quote())
        with pytest.raises(InvalidInput, match="non-empty mapping"):
            order.record_shipment("s-2", {}, at=AT)
        assert order.state == "partially_shipped"

    def test_no_change_once_everything_shipped(self) -> None:
        order = paid()
        order.allocate(0, 2, allocation_id="a-1", at=AT)
        order.allocate(1, 1, allocation_id="a-2", at=AT)
        order.record_shipment("s-1", {0: 2, 1: 1}, at=AT)
        with pytest.raises(InvalidTransition, match="fully shipped"):
            order.preview_change(OrderChange(id="ch-1", shipping_address=PENGHU))

    @pytest.mark.parametrize(
        ("fields", "complaint"),
        [
            ({"id": ""}, "a change id must be a non-empty string"),
            ({"id": "c"}, "asks for nothing"),
            ({"id": "c", "quantities": {"TEE-M": -1}}, "at least 0, not -1"),
            ({"id": "c", "quantities": 5}, "quantities map a line"),
            ({"id": "c", "shipping_address": "Taipei"}, "must be an Address or None"),
        ],
    )
    def test_a_change_is_checked_when_built(self, fields: dict[str, Any], complaint: str) -> None:
        with pytest.raises(InvalidInput, match=complaint):
            OrderChange(**fields)


class TestPaymentStatus:
    @pytest.mark.parametrize(
        ("figures", "status"),
        [
            ({}, PaymentStatus.UNPAID),
            ({"authorized": "1000"}, PaymentStatus.UNPAID),  # a hold short of 1530
            ({"authorized": "1530"}, PaymentStatus.AUTHORIZED),
            ({"captured": "1000", "authorized": "530"}, PaymentStatus.PARTIALLY_PAID),
            ({"captured": "1530"}, PaymentStatus.PAID),
            ({"captured": "1600"}, PaymentStatus.CREDIT_OWED),  # 70 more than it costs
            ({"captured": "1530", "refunded": "30"}, PaymentStatus.PARTIALLY_REFUNDED),
            ({"captured": "1530", "credit_issued": "30"}, PaymentStatus.PARTIALLY_REFUNDED),
            ({"captured": "1530", "refunded": "1530"}, PaymentStatus.REFUNDED),
            ({"captured": "1630", "refunded": "100"}, PaymentStatus.PARTIALLY_REFUNDED),
        ],
    )
    def test_rules(self, figures: dict[str, str], status: PaymentStatus) -> None:
        assert placed().payment_status(PaymentFigures.of("TWD", **figures)) is status

    def test_a_free_order_is_paid(self) -> None:
        order = placed()
        order.lines = tuple(
            attrs.evolve(
                line,
                unit_amounts=[twd("0")] * line.quantity,
                unit_taxes=[twd("0")] * line.quantity,
                unit_totals=[twd("0")] * line.quantity,
                net=twd("0"),
                tax=twd("0"),
                gross=twd("0"),
            )
            for line in order.lines
        )
        order.shipping = None
        assert order.payment_status(NOTHING) is PaymentStatus.PAID

    @pytest.mark.parametrize(
        ("figures", "complaint"),
        [
            ({"captured": "10", "refunded": "11"}, "above the 10 TWD captured"),
            ({"captured": "-1"}, "captured must be Money of 0 or more"),
        ],
    )
    def test_impossible_figures_are_refused(self, figures: dict[str, str], complaint: str) -> None:
        with pytest.raises(InvalidInput, match=complaint):
            PaymentFigures.of("TWD", **figures)

    def test_one_currency(self) -> None:
        with pytest.raises(CurrencyMismatch):
            PaymentFigures(
                authorized=Money("0", "USD"),
                captured=twd("0"),
                refunded=twd("0"),
                credit_issued=twd("0"),
            )


class TestCounters:
    @pytest.mark.parametrize(
        ("fields", "broken"),
        [
            ({"ordered": 2, "canceled": 3}, "canceled ≤ ordered"),
            ({"ordered": 2, "canceled": 1, "allocated": 2}, "allocated ≤ ordered − canceled"),
            ({"ordered": 2, "allocated": 1, "shipped": 2}, "shipped ≤ allocated"),
            (
                {"ordered": 2, "allocated": 2, "shipped": 1, "delivered": 1, "written_off": 1},
                "delivered \\+ written off ≤ shipped",
            ),
            ({"ordered": 1, "return_requested": 1}, "return requested ≤ delivered"),
            (
                {"ordered": 1, "allocated": 1, "shipped": 1, "delivered": 1, "returned": 1},
                "returned ≤ return requested",
            ),
            ({"ordered": -1}, "ordered count must be a whole number of at least 0"),
        ],
    )
    def test_invariants(self, fields: dict[str, int], broken: str) -> None:
        with pytest.raises(InvalidInput, match=broken):
            LineCounts(**fields)

    @pytest.mark.parametrize(
        ("tee", "socks", "status"),
        [
            ({}, {}, FulfilmentStatus.UNFULFILLED),
            ({"allocated": 1}, {}, FulfilmentStatus.PARTIALLY_ALLOCATED),
            ({"allocated": 2}, {"allocated": 1}, FulfilmentStatus.ALLOCATED),
            ({"allocated": 2, "shipped": 2}, {}, FulfilmentStatus.PARTIALLY_SHIPPED),
            (
                {"allocated": 2, "shipped": 2, "delivered": 2},
                {},
                FulfilmentStatus.PARTIALLY_SHIPPED,
            ),
            ({"allocated": 2, "shipped": 2}, {"canceled": 1}, FulfilmentStatus.SHIPPED),
            (
                {"allocated": 2, "shipped": 2, "delivered": 1},
                {"allocated": 1, "shipped": 1},
                FulfilmentStatus.PARTIALLY_DELIVERED,
            ),
            (
                {"allocated": 2, "shipped": 2, "delivered": 1, "written_off": 1},
                {"canceled": 1},
                FulfilmentStatus.DELIVERED,
            ),
            ({"canceled": 2}, {"canceled": 1}, FulfilmentStatus.CANCELED),
        ],
    )
    def test_fulfilment_status_is_read_from_the_counters(
        self, tee: dict[str, int], socks: dict[str, int], status: FulfilmentStatus
    ) -> None:
        order = placed()
        order.lines = (
            attrs.evolve(order.lines[0], counts=LineCounts(ordered=2, **tee)),
            attrs.evolve(order.lines[1], counts=LineCounts(ordered=1, **socks)),
        )
        assert order.fulfilment_status is status


class TestKeptTotals:
    """The order keeps its totals; they follow every change of lines or shipping."""

    def test_a_loaded_order_works_its_totals_out(self) -> None:
        order = paid()
        fields = {str(f.alias): getattr(order, f.name) for f in attrs.fields(Order) if f.init}
        loaded = Order(**fields)
        # 1430 of goods (1180 - 77.12 + 350 - 22.88) + 100 of shipping = 1530, 73 of tax.
        assert loaded.totals == order.totals
        assert (loaded.totals.total, loaded.totals.tax) == (twd("1530"), twd("73"))

    def test_fulfilment_keeps_the_totals_and_cancel_clears_them(self) -> None:
        order = paid()
        order.allocate("TEE-M", 2, allocation_id="a-1", at=AT)
        order.record_shipment("s-1", {"TEE-M": 1}, at=AT)
        order.record_delivery("s-1", at=AT)
        assert order.totals.total == twd("1530")  # no unit opened or canceled
        order = paid()
        order.cancel(reason="out of stock", figures=NOTHING, at=AT)
        assert order.totals.total == twd("0")  # every unit canceled, shipping no longer due

    def test_replacing_the_shipping_changes_the_totals(self) -> None:
        order = placed()
        assert order.totals.shipping == twd("100")
        order.shipping = None
        # 1530 - 100 of shipping = 1430.
        assert (order.totals.shipping, order.totals.total) == (twd("0"), twd("1430"))

    def test_a_delivery_beyond_the_units_shipped_is_refused(self) -> None:
        order = paid()
        order.allocate("TEE-M", 2, allocation_id="a-1", at=AT)
        order.record_shipment("s-1", {"TEE-M": 2}, at=AT)
        # Both T-shirts of the shipment were written off as lost: none is left to deliver.
        tee = order.lines[0]
        lost = LineCounts(ordered=2, allocated=2, shipped=2, written_off=2)
        order.lines = (attrs.evolve(tee, counts=lost), order.lines[1])
        before = snapshot(order)
        with pytest.raises(InvalidInput, match="0 shipped units not yet delivered or written off"):
            order.record_delivery("s-1", at=AT)
        assert snapshot(order) == before


def test_the_machine_declares_every_lifecycle_state() -> None:
    spec = ORDER_MACHINE.spec
    assert spec.states == (
        "pending_payment",
        "awaiting_fulfilment",
        "partially_shipped",
        "shipped",
        "delivered",
        "completed",
        "canceled",
        "on_hold",
    )
    assert spec.final == ("completed", "canceled")
    assert ORDER_MACHINE.allowed_events("shipped") == (
        "decline_change",
        "deliver",
        "return_undelivered",
    )
    assert "partially_shipped --> shipped: ship [ships_every_unit]" in ORDER_MACHINE.mermaid()
    assert LineAllocated.flow.value == "commerce"


def test_a_shipment_back_undelivered_takes_its_units_off_the_order() -> None:
    order = paid()
    order.allocate("TEE-M", 2, allocation_id="a1", at=AT)
    order.allocate("SOCK", 1, allocation_id="a2", at=AT)
    order.record_shipment("s1", {"TEE-M": 2}, at=AT)
    order.record_shipment("s2", {"SOCK": 1}, at=AT)
    before = order.totals.total
    socks = order.lines[order._index("SOCK")]
    event = order.record_return("s2", reason="refused at the door", at=AT)
    assert isinstance(event, ItemsReturnedUndelivered)
    assert event.remaining == "shipped"  # the T-shirts are still on their way
    assert order.state == "shipped"
    # the socks is off the order: canceled, no longer allocated or shipped
    back = order.lines[socks.index].counts
    assert (back.canceled, back.allocated, back.shipped) == (1, 0, 0)
    assert order.totals.total == before - socks.unit_totals[0]
    assert order.record_return("s2", reason="refused at the door", at=AT) is None
    order.record_delivery("s1", at=AT)
    assert order.state == "delivered"


def test_the_last_shipment_back_undelivered_cancels_the_order() -> None:
    order = paid()
    for sku, qty in (("TEE-M", 2), ("SOCK", 1)):
        order.allocate(sku, qty, allocation_id=f"a-{sku}", at=AT)
    order.record_shipment("s1", {"TEE-M": 2, "SOCK": 1}, at=AT)
    order.record_return("s1", reason="not collected at the store", at=AT)
    assert order.state == "canceled"
    assert order.cancel_reason == "not collected at the store"
    assert order.totals.total.amount == 0


def test_a_delivered_or_unknown_shipment_cannot_come_back_undelivered() -> None:
    order = paid()
    order.allocate("TEE-M", 2, allocation_id="a1", at=AT)
    order.record_shipment("s1", {"TEE-M": 2}, at=AT)
    order.record_delivery("s1", at=AT)
    with pytest.raises(InvalidInput, match="was delivered"):
        order.record_return("s1", reason="x", at=AT)
    with pytest.raises(InvalidInput, match="no shipment 's9'"):
        order.record_return("s9", reason="x", at=AT)
