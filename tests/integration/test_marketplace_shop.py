"""A marketplace shop: captures and refunds split between two sellers, payouts, statements.

Two T-shirts (590 each, seller ``s-tee``, the default 12 %) and a mug (350,
seller ``s-mug``, its own 5 %), home delivery 100: 1,630 TWD with tax; the
commission is at least 50 a line.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fourflows import Money
from fourflows.adapters.fake_carrier import FakeCarrier
from fourflows.adapters.fake_gateway import FakeGateway
from fourflows.adapters.fakes import FixedClock, SequentialIds
from fourflows.adapters.stock import MemoryStockStore
from fourflows.app.checkout import CapturePayment, PlaceOrder, RefundPayment
from fourflows.app.fulfilment import PackShipment, ShipShipment
from fourflows.app.marketplace_books import (
    MarketplaceBooks,
    PaySeller,
    capture_entry_id,
    payout_entry_id,
    refund_entry_id,
)
from fourflows.app.messagebus import MessageBus
from fourflows.app.notify import merge_policies
from fourflows.app.shop import Shop
from fourflows.cash.ledger import COMMISSION_REVENUE, SELLER_PAYABLE, JournalEntry, Ledger
from fourflows.cash.marketplace import (
    Marketplace,
    PayoutExceedsPayable,
    Seller,
    SellerStatement,
    UnknownSeller,
)
from fourflows.commerce.catalog import Catalog, Product
from fourflows.commerce.order import Order
from fourflows.errors import IdempotencyConflict, InvalidInput
from fourflows.events import DomainEvent
from fourflows.geo import Address
from fourflows.logistics.inventory import StockLocation, StockPolicy
from fourflows.logistics.shipping import ShippingTable
from fourflows.tax import TaxTable

AT = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
LATER = AT + timedelta(days=3)
TAIPEI = {"country": "TW", "city": "Taipei", "postal_code": "106"}
TEE = Product(
    sku="TEE-M", name="T-shirt", price=Money("590", "TWD"), weight_g=200, size_cm=(30, 20, 3)
)
MUG = Product(sku="MUG", name="Mug", price=Money("350", "TWD"), weight_g=400, size_cm=(12, 12, 10))
MARKET = Marketplace(
    sellers=[Seller("s-tee", "Tee Co"), Seller("s-mug", "Mug Co", commission_rate=Decimal("5"))],
    sku_sellers={"TEE-M": "s-tee", "MUG": "s-mug"},
    default_rate=Decimal("12"),
    minimum=Money("50", "TWD"),
)


def twd(amount: str) -> Money:
    return Money(amount, "TWD")


class Recorder:
    """A publisher keeping every event it is given, to deliver them all a second time."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    def publish(self, event: DomainEvent) -> None:
        self.events.append(event)


def wire(shop: Shop, books: MarketplaceBooks) -> Shop:
    """The marketplace's policies merged after the shop's own, and `PaySeller` handled."""
    bus = shop.bus
    shop.bus = MessageBus(
        unit_of_work=shop.store.unit_of_work,
        clock=bus.clock,
        ids=bus.ids,
        commands={**bus._commands, **books.handlers()},
        policies=merge_policies(bus._policies, books.policies()),
        publishers=bus._publishers,
    )
    return shop


def make(recorder: Recorder | None = None) -> tuple[Shop, MarketplaceBooks, FixedClock]:
    clock = FixedClock(AT)
    shop = Shop.in_memory(
        catalog=Catalog([TEE, MUG]),
        tax=TaxTable.preset("TW"),
        shipping=ShippingTable.example_taiwan(),
        gateway=FakeGateway(clock),
        clock=clock,
        ids=SequentialIds(),
        publishers=None if recorder is None else {"recorder": recorder},
    )
    books = MarketplaceBooks(MARKET, chart=shop.accounting.chart)
    return wire(shop, books), books, clock


def place(shop: Shop) -> tuple[str, str]:
    placed = shop.place_order(
        PlaceOrder(
            idempotency_key="order",
            items={"TEE-M": 2, "MUG": 1},
            ship_to=TAIPEI,
            service="home",
        )
    )
    assert placed.payment_id is not None
    return placed.order_id, placed.payment_id


def lines(entry: JournalEntry) -> list[tuple[str, str, Money]]:
    return [(line.side.value, line.account, line.amount) for line in entry.lines]


def statements(shop: Shop, books: MarketplaceBooks) -> list[SellerStatement]:
    with shop.store.unit_of_work() as uow:
        return [books.statement(uow, seller_id) for seller_id in ("s-tee", "s-mug")]


def payable(shop: Shop, books: MarketplaceBooks, seller_id: str) -> Money:
    with shop.store.unit_of_work() as uow:
        return books.payable(uow, seller_id, "TWD")


def captured_and_refunded(
    recorder: Recorder | None = None,
) -> tuple[Shop, MarketplaceBooks, FixedClock, str]:
    """The order captured in full, then 350 of it refunded three days later."""
    shop, books, clock = make(recorder)
    _, payment_id = place(shop)
    shop.capture_payment(
        CapturePayment(idempotency_key="ship", payment_id=payment_id, amount=twd("1630"))
    )
    clock.advance(LATER - AT)
    shop.refund_payment(
        RefundPayment(idempotency_key="r", payment_id=payment_id, amount=twd("350"), reason="x")
    )
    return shop, books, clock, payment_id


def test_a_capture_is_split_into_seller_payables_and_commission() -> None:
    shop, _, _ = make()
    order_id, payment_id = place(shop)
    shop.capture_payment(
        CapturePayment(idempotency_key="ship", payment_id=payment_id, amount=twd("1630"))
    )
    ledger = shop.ledger()
    base = capture_entry_id(payment_id, "ship:capture")
    tee = ledger.entry(f"{base}/s-tee")
    mug = ledger.entry(f"{base}/s-mug")
    # By value: tee line 2 x 590 = 1,180, mug line 350; together 1,530.
    # s-tee 1,630 x 1,180 / 1,530 = 1,257.124.. -> 1,257.12; s-mug 372.875.. -> 372.87 + the
    # cent left over (larger remainder) = 372.88.
    # s-tee 12 %: 1,257.12 x 0.12 = 150.8544 -> 150.85 (above the minimum 50): payable 1,106.27.
    assert lines(tee) == [
        ("debit", "sales_revenue", twd("1257.12")),
        ("credit", SELLER_PAYABLE, twd("1106.27")),
        ("credit", COMMISSION_REVENUE, twd("150.85")),
    ]
    # s-mug 5 %: 372.88 x 0.05 = 18.644 -> 18.64, below the minimum: 50. Payable 322.88.
    assert lines(mug) == [
        ("debit", "sales_revenue", twd("372.88")),
        ("credit", SELLER_PAYABLE, twd("322.88")),
        ("credit", COMMISSION_REVENUE, twd("50.00")),
    ]
    assert (tee.kind, tee.order_id, tee.payment_id) == (
        "marketplace_sale:s-tee",
        order_id,
        payment_id,
    )
    assert tee.cause is not None
    assert tee.cause.aggregate_id == payment_id
    # The capture itself was posted by accounting, as before.
    assert ledger.entry(f"{payment_id}/capture/ship:capture").kind == "capture"
    assert ledger.balance(SELLER_PAYABLE, "TWD") == twd("1429.15")  # 1,106.27 + 322.88
    assert ledger.balance(COMMISSION_REVENUE, "TWD") == twd("200.85")  # 150.85 + 50
    assert ledger.trial_balance().is_balanced
    assert shop.reconcile() == ()


def test_a_partial_refund_takes_the_sellers_shares_back_and_gives_commission_back() -> None:
    shop, books, _, payment_id = captured_and_refunded()
    ledger = shop.ledger()
    base = refund_entry_id(payment_id, "r:refund")
    refund_ids = [e.id for e in ledger.entries if e.id.startswith(base)]
    assert refund_ids == [f"{base}/s-tee", f"{base}/s-mug"]
    tee, mug = (ledger.entry(entry_id) for entry_id in refund_ids)
    # 350 by value: s-tee 350 x 1,180 / 1,530 = 269.934.. -> 269.93; s-mug 80.065.. -> 80.06,
    # and the cent left over to the larger remainder (.54 > .46): 80.07.
    # s-tee: 269.93 x 0.12 = 32.3916 -> 32.39 (the minimum's part 50 x 269.93 / 1,180 = 11.44
    # is less): the seller gives back 269.93 - 32.39 = 237.54.
    assert lines(tee) == [
        ("debit", SELLER_PAYABLE, twd("237.54")),
        ("debit", COMMISSION_REVENUE, twd("32.39")),
        ("credit", "sales_revenue", twd("269.93")),
    ]
    # s-mug: 80.07 x 0.05 = 4.0035 -> 4.00, raised to the minimum's part
    # 50 x 80.07 / 350 = 11.438.. -> 11.44: gives back 80.07 - 11.44 = 68.63.
    assert lines(mug) == [
        ("debit", SELLER_PAYABLE, twd("68.63")),
        ("debit", COMMISSION_REVENUE, twd("11.44")),
        ("credit", "sales_revenue", twd("80.07")),
    ]
    assert payable(shop, books, "s-tee") == twd("868.73")  # 1,106.27 - 237.54
    assert payable(shop, books, "s-mug") == twd("254.25")  # 322.88 - 68.63
    # 200.85 - 32.39 - 11.44 = 157.02
    assert ledger.balance(COMMISSION_REVENUE, "TWD") == twd("157.02")
    assert ledger.trial_balance().is_balanced
    assert shop.reconcile() == ()


def test_a_payout_and_the_statements_sum_to_the_ledger() -> None:
    shop, books, clock, _ = captured_and_refunded()
    paid = shop.handle(PaySeller(idempotency_key="pay-1", seller_id="s-tee", amount=twd("800")))
    assert isinstance(paid, JournalEntry)
    assert paid.id == payout_entry_id("pay-1")
    assert lines(paid) == [("debit", SELLER_PAYABLE, twd("800")), ("credit", "cash", twd("800"))]
    assert payable(shop, books, "s-tee") == twd("68.73")  # 868.73 - 800
    tee, mug = statements(shop, books)
    # s-tee: sales 1,257.12 - refunds 269.93 - commission (150.85 - 32.39 = 118.46) = 868.73
    assert (tee.sales, tee.refunds, tee.commission) == (
        twd("1257.12"),
        twd("269.93"),
        twd("118.46"),
    )
    assert tee.net_payable == twd("868.73")
    assert (tee.paid_out, tee.closing) == (twd("800"), twd("68.73"))
    # s-mug: 372.88 - 80.07 - (50 - 11.44 = 38.56) = 254.25, nothing paid yet
    assert (mug.net_payable, mug.paid_out, mug.closing) == (twd("254.25"), twd("0"), twd("254.25"))
    ledger = shop.ledger()
    assert tee.closing + mug.closing == ledger.balance(SELLER_PAYABLE, "TWD")
    assert tee.commission + mug.commission == ledger.balance(COMMISSION_REVENUE, "TWD")
    assert ledger.trial_balance().is_balanced
    assert shop.reconcile() == ()
    # A statement for a period: the refund three days later falls outside the first day.
    with shop.store.unit_of_work() as uow:
        first_day = books.statement(uow, "s-tee", start=AT, end=AT + timedelta(days=1))
    assert (first_day.sales, first_day.refunds, first_day.closing) == (
        twd("1257.12"),
        twd("0"),
        twd("1106.27"),
    )
    assert clock.now() == LATER


def test_a_payout_is_refused_above_the_payable_for_an_unknown_seller_and_on_a_reused_key() -> None:
    shop, books, _, _ = captured_and_refunded()
    before = shop.ledger()
    with pytest.raises(PayoutExceedsPayable, match=r"868\.73"):
        shop.handle(PaySeller(idempotency_key="too-much", seller_id="s-tee", amount=twd("900")))
    with pytest.raises(UnknownSeller, match="s-nobody"):
        shop.handle(PaySeller(idempotency_key="nobody", seller_id="s-nobody", amount=twd("1")))
    assert shop.ledger().entries == before.entries  # nothing changed
    first = shop.handle(PaySeller(idempotency_key="pay", seller_id="s-mug", amount=twd("200")))
    again = shop.handle(PaySeller(idempotency_key="pay", seller_id="s-mug", amount=twd("200")))
    assert again == first
    assert payable(shop, books, "s-mug") == twd("54.25")  # 254.25 - 200, paid once
    with pytest.raises(IdempotencyConflict):
        shop.handle(PaySeller(idempotency_key="pay", seller_id="s-mug", amount=twd("10")))
    with pytest.raises(InvalidInput):
        PaySeller(idempotency_key="bad", seller_id="s-mug", amount=1.5)


def test_a_redispatched_event_posts_once() -> None:
    recorder = Recorder()
    shop, _, _, _ = captured_and_refunded(recorder)
    before = shop.ledger()
    kinds = [e.kind for e in before.entries]
    assert kinds.count("marketplace_sale:s-tee") == 1
    assert kinds.count("marketplace_refund:s-mug") == 1
    shop.store.outbox.append(recorder.events)  # every event delivered a second time
    assert shop.bus.dispatch() == ()
    assert shop.ledger().entries == before.entries
    assert shop.reconcile() == ()


def test_captures_from_shipments_are_split_by_the_units_each_shipment_took() -> None:
    # The T-shirts wait in Taipei, the mug in Taichung: two shipments, two captures.
    clock = FixedClock(AT)
    stock = MemoryStockStore(
        [StockLocation(id="tpe", priority=0), StockLocation(id="txg", priority=1)],
        [StockPolicy(sku="TEE-M"), StockPolicy(sku="MUG")],
    )
    stock.receive("TEE-M", "tpe", 5, reference="po-tee", at=AT)
    stock.receive("MUG", "txg", 5, reference="po-mug", at=AT)
    shop = Shop.in_memory(
        catalog=Catalog([TEE, MUG]),
        tax=TaxTable.preset("TW"),
        shipping=ShippingTable.example_taiwan(),
        gateway=FakeGateway(clock),
        clock=clock,
        ids=SequentialIds(),
        stock=stock,
        locations={
            "tpe": Address(country="TW", city="Taipei", postal_code="114"),
            "txg": Address(country="TW", city="Taichung", postal_code="407"),
        },
        carriers=[FakeCarrier("tw-post", clock)],
    )
    books = MarketplaceBooks(MARKET, chart=shop.accounting.chart)
    wire(shop, books)
    order_id, _ = place(shop)
    first, second = shop.shipments_of(order_id)
    for shipment in (first, second):
        shop.pack_shipment(PackShipment(shipment_id=shipment.id))
        shop.ship_shipment(
            ShipShipment(
                idempotency_key=f"s-{shipment.id}", shipment_id=shipment.id, carrier="tw-post"
            )
        )
    ledger: Ledger = shop.ledger()
    sales = [e for e in ledger.entries if e.kind.startswith("marketplace_sale")]
    # First parcel: the T-shirts 1,180 and the shipping fee 100 = 1,280, all s-tee's;
    # 12 % = 153.60, payable 1,126.40. Second parcel: the mug 350, s-mug's; 5 % = 17.50,
    # raised to the minimum 50: payable 300.
    assert [(e.kind, lines(e)) for e in sales] == [
        (
            "marketplace_sale:s-tee",
            [
                ("debit", "sales_revenue", twd("1280")),
                ("credit", SELLER_PAYABLE, twd("1126.40")),
                ("credit", COMMISSION_REVENUE, twd("153.60")),
            ],
        ),
        (
            "marketplace_sale:s-mug",
            [
                ("debit", "sales_revenue", twd("350")),
                ("credit", SELLER_PAYABLE, twd("300.00")),
                ("credit", COMMISSION_REVENUE, twd("50.00")),
            ],
        ),
    ]
    assert ledger.trial_balance().is_balanced
    assert shop.reconcile() == ()


def test_lines_no_seller_sells_keep_their_part_for_the_platform() -> None:
    house = Product(
        sku="BAG", name="Bag", price=Money("350", "TWD"), weight_g=100, size_cm=(30, 30, 1)
    )
    market = Marketplace(
        sellers=[Seller("s-tee", "Tee Co")], sku_sellers={"TEE-M": "s-tee"}, default_rate=10
    )
    clock = FixedClock(AT)
    shop = Shop.in_memory(
        catalog=Catalog([TEE, house]),
        tax=TaxTable.preset("TW"),
        shipping=ShippingTable.example_taiwan(),
        gateway=FakeGateway(clock),
        clock=clock,
        ids=SequentialIds(),
    )
    books = MarketplaceBooks(market, chart=shop.accounting.chart)
    wire(shop, books)
    placed = shop.place_order(
        PlaceOrder(
            idempotency_key="o", items={"TEE-M": 1, "BAG": 1}, ship_to=TAIPEI, service="home"
        )
    )
    assert placed.payment_id is not None
    shop.capture_payment(
        CapturePayment(idempotency_key="ship", payment_id=placed.payment_id, amount=twd("1040"))
    )
    (entry,) = [e for e in shop.ledger().entries if e.kind.startswith("marketplace_sale")]
    # 590 + 350 + shipping 100 = 1,040; the tee's part 1,040 x 590 / 940 = 652.765.. -> 652.77
    # (the bag 387.234.. -> 387.23; the cent left goes to the larger remainder, .59 > .40).
    # Commission 10 %: 65.277 -> 65.28; payable 587.49.
    assert lines(entry) == [
        ("debit", "sales_revenue", twd("652.77")),
        ("credit", SELLER_PAYABLE, twd("587.49")),
        ("credit", COMMISSION_REVENUE, twd("65.28")),
    ]
    assert shop.reconcile() == ()


HOUSE = Product(sku="BAG", name="Bag", price=Money("350", "TWD"), weight_g=100, size_cm=(30, 30, 1))


@functools.cache
def mixed_order() -> Order:
    """Two T-shirts (s-tee), a mug (s-mug) and the platform's own bag, placed through a shop."""
    clock = FixedClock(AT)
    shop = Shop.in_memory(
        catalog=Catalog([TEE, MUG, HOUSE]),
        tax=TaxTable.preset("TW"),
        shipping=ShippingTable.example_taiwan(),
        gateway=FakeGateway(clock),
        clock=clock,
        ids=SequentialIds(),
    )
    placed = shop.place_order(
        PlaceOrder(
            idempotency_key="o",
            items={"TEE-M": 2, "MUG": 1, "BAG": 1},
            ship_to=TAIPEI,
            service="home",
        )
    )
    return shop.order(placed.order_id)


@given(
    cents=st.integers(min_value=1, max_value=198_000),
    units=st.none() | st.fixed_dictionaries({0: st.integers(1, 2), 2: st.integers(0, 1)}),
)
def test_the_sellers_part_never_exceeds_the_amount_and_splits_exactly(
    cents: int, units: dict[int, int] | None
) -> None:
    order = mixed_order()
    amount = Money(Decimal(cents) / 100, "TWD")
    split = MarketplaceBooks(MARKET).split(order, amount, units=units)
    if split is None:  # too little for the sellers to get a cent
        return
    assert Money.zero("TWD") < split.amount <= amount
    assert sum(share.amount.amount for share in split.sellers) == split.amount.amount
    for share in split.sellers:
        assert Money.zero("TWD") <= share.commission <= share.amount
        assert share.payable + share.commission == share.amount
    if units is not None and units.get(2, 0) == 0:
        assert split.amount == amount  # a parcel of sellers' goods only: all theirs


def test_units_naming_no_line_of_the_order_are_refused() -> None:
    with pytest.raises(InvalidInput, match="line indexes"):
        MarketplaceBooks(MARKET).split(mixed_order(), twd("100"), units={7: 1})
    with pytest.raises(InvalidInput, match="Marketplace"):
        MarketplaceBooks(object())  # type: ignore[arg-type]
