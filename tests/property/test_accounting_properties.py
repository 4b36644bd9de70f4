"""Whatever the shop does to orders and payments, its ledger balances and agrees with them.

The shop ships from stock with a fake carrier, so besides captures, refunds,
cancellations, fees and COD remittances the operations include order changes
after payment, a dispute lost, parcels delivered, and a cash-on-delivery
parcel that comes back undelivered.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from fourflows import Money
from fourflows.adapters.fake_carrier import FakeCarrier, Timeline
from fourflows.adapters.fake_gateway import FakeGateway
from fourflows.adapters.fakes import FixedClock, SequentialIds
from fourflows.adapters.stock import MemoryStockStore
from fourflows.app.accounting import (
    RecordCodRemittance,
    RecordGatewayFee,
    authorization_id,
    reconcile_shop,
)
from fourflows.app.changes import ConfirmOrderChange, ProposeOrderChange
from fourflows.app.checkout import CancelOrder, CapturePayment, PlaceOrder, RefundPayment
from fourflows.app.disputes import AcceptDispute, ApplyDisputeNotification
from fourflows.app.fulfilment import PackShipment, ShipShipment, TrackShipment
from fourflows.app.shop import Shop
from fourflows.cash.gateway import DisputeReason
from fourflows.cash.ledger import Side
from fourflows.cash.payment import Payment, PaymentMethod
from fourflows.commerce.catalog import Catalog
from fourflows.errors import FourFlowsError
from fourflows.geo import Address
from fourflows.logistics.inventory import StockLocation, StockPolicy
from fourflows.logistics.shipping import ShippingTable
from fourflows.tax import TaxTable
from ledger import TAIPEI, TEE, ledger

AT = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
PENGHU = {"country": "TW", "city": "Magong", "postal_code": "880"}

_place = st.tuples(
    st.just("place"), st.integers(1, 3), st.sampled_from(["card", "cash_on_delivery"])
)
_act = st.tuples(
    st.sampled_from(
        [
            "capture",
            "refund",
            "cancel",
            "remit",
            "fee",
            "fewer",
            "islands",
            "dispute",
            "deliver",
            "send_back",
        ]
    ),
    st.integers(0, 2),  # which order (modulo the orders placed)
    st.integers(1, 100),  # percent of what is left to capture, refund or dispute
)
OPERATIONS = st.lists(st.one_of(_place, _act, _act), min_size=1, max_size=14)  # acts twice as often


class World:
    """A shop with a warehouse, a fake carrier and a fake gateway on one clock."""

    def __init__(self) -> None:
        self.clock = FixedClock(AT)
        stock = MemoryStockStore([StockLocation(id="tpe", priority=0)], [StockPolicy(sku="TEE-M")])
        stock.receive("TEE-M", "tpe", 1000, reference="po-1", at=AT)
        self.carrier = FakeCarrier("tw-post", self.clock)
        self.gateway = FakeGateway(self.clock)
        self.shop = Shop.in_memory(
            catalog=Catalog([TEE]),
            tax=TaxTable.preset("TW"),
            shipping=ShippingTable.example_taiwan(),
            gateway=self.gateway,
            clock=self.clock,
            ids=SequentialIds(),
            stock=stock,
            locations={"tpe": Address(country="TW", city="Taipei", postal_code="114")},
            carriers=[self.carrier],
        )


def _part(left: Money, percent: int) -> Money:
    """``percent`` of ``left`` in whole dollars, at least 1."""
    whole = (left.amount * percent / 100).quantize(Decimal(1))
    return Money(max(whole, Decimal(1)), left.currency)


def _run(world: World, step: int, operation: tuple[str, int, object]) -> None:
    shop = world.shop
    kind, first, second = operation
    key = f"op-{step}"
    if kind == "place":
        cod = second == "cash_on_delivery"
        shop.place_order(
            PlaceOrder(
                idempotency_key=key,
                items={"TEE-M": first},
                ship_to=TAIPEI,
                service="cvs" if cod else "home",
                pickup_point="FamilyMart Da'an" if cod else None,
                payment_method=second,
            )
        )
        return
    orders = _orders(shop)
    if not orders:
        return
    order_id = orders[first % len(orders)]
    payment = shop.payments_of(order_id)[-1]
    assert isinstance(second, int)
    if kind == "capture":
        shop.capture_payment(
            CapturePayment(
                idempotency_key=key,
                payment_id=payment.id,
                amount=_part(payment.capturable, second),
            )
        )
    elif kind == "refund":
        shop.refund_payment(
            RefundPayment(
                idempotency_key=key,
                payment_id=payment.id,
                amount=_part(payment.refundable, second),
                reason="returned",
            )
        )
    elif kind == "cancel":
        shop.cancel_order(CancelOrder(idempotency_key=key, order_id=order_id, reason="canceled"))
    elif kind == "remit":
        for capture_id in payment.captures:
            shop.handle(
                RecordCodRemittance(
                    payment_id=payment.id,
                    capture_id=capture_id,
                    remittance_ref=key,
                    collection_fee=Money(second % 10, "TWD"),
                )
            )
    elif kind == "fee":
        shop.handle(
            RecordGatewayFee(
                idempotency_key=key, payment_id=payment.id, amount=Money(second, "TWD")
            )
        )
    elif kind in ("fewer", "islands"):
        asked: dict[str, object] = (
            {"quantities": {"TEE-M": 1 + second % 2}} if kind == "fewer" else {"ship_to": PENGHU}
        )
        shop.handle(
            ProposeOrderChange(
                idempotency_key=f"{key}-propose",
                order_id=order_id,
                change_id=key,
                **asked,
            )
        )
        shop.handle(ConfirmOrderChange(idempotency_key=key, order_id=order_id, change_id=key))
    elif kind == "dispute":
        _lose_dispute(world, payment, second, key)
    else:
        _ship(world, order_id, returned=kind == "send_back", key=key)


def _lose_dispute(world: World, payment: Payment, percent: int, key: str) -> None:
    """The customer's bank disputes part of what the payment holds; the shop gives in."""
    if payment.method is not PaymentMethod.CARD:
        return
    left = world.gateway.balance(payment.id).refundable
    if left.amount <= 0:
        return
    world.gateway.take_notifications()  # earlier ones: the shop already applied them
    opened = world.gateway.open_dispute(
        payment.id, amount=_part(left, percent), reason=DisputeReason.FRAUDULENT
    )
    assert opened.dispute_id is not None
    for notice in world.gateway.take_notifications():
        payload = notice.to_payload()
        world.shop.handle(
            ApplyDisputeNotification(body=payload.body.decode("utf-8"), headers=payload.headers)
        )
    world.shop.handle(AcceptDispute(idempotency_key=key, dispute_id=opened.dispute_id))


def _ship(world: World, order_id: str, *, returned: bool, key: str) -> None:
    """Ship the order's ready shipments; they are delivered, or come back uncollected."""
    shop = world.shop
    for shipment in shop.shipments_of(order_id):
        if shipment.state != "ready":
            continue
        if returned:  # sent back uncollected: a cash-on-delivery parcel at a convenience store
            world.carrier.set_timeline(shipment.id, Timeline.PICKUP_EXPIRED)
        shop.pack_shipment(PackShipment(shipment_id=shipment.id))
        shop.ship_shipment(
            ShipShipment(
                idempotency_key=f"{key}-{shipment.id}", shipment_id=shipment.id, carrier="tw-post"
            )
        )
        world.clock.advance(timedelta(hours=250 if returned else 60))
        shop.track_shipment(TrackShipment(shipment_id=shipment.id))


def _orders(shop: Shop) -> list[str]:
    found = []
    for number in range(1, 20):
        order_id = f"order-{number:04d}"
        try:
            shop.order(order_id)
        except FourFlowsError:
            break
        found.append(order_id)
    return found


@given(OPERATIONS)
def test_the_ledger_balances_and_reconciles_after_any_operations(
    operations: list[tuple[str, int, object]],
) -> None:
    world = World()
    shop = world.shop
    for step, operation in enumerate(operations):
        with suppress(FourFlowsError):  # refused (nothing left, already canceled): no change
            _run(world, step, operation)
    book = ledger(shop)
    failed = [
        consumer
        for record in shop.store.outbox.unsettled()
        for consumer, _ in record.failures
        if consumer.startswith("fourflows.app.accounting")
    ]
    assert failed == []  # no posting policy failed (a capture may: an authorisation expired)
    for entry in book.entries:
        for code in entry.currencies:
            debits = sum(
                (line.amount.amount for line in entry.lines if line.side is Side.DEBIT),
                Decimal(0),
            )
            credits = sum(
                (line.amount.amount for line in entry.lines if line.side is Side.CREDIT),
                Decimal(0),
            )
            assert debits == credits, (entry.id, code)
    assert book.trial_balance().is_balanced
    with shop.store.unit_of_work() as uow:
        assert reconcile_shop(uow) == ()
    for order_id in _orders(shop):
        order = shop.order(order_id)
        payments = shop.payments_of(order_id)
        owed = book.balance("customer_receivable", "TWD", order_id=order_id)
        held = sum(((p.capturable + p.totals.capture_pending).amount for p in payments), Decimal(0))
        if order.state == "canceled":
            assert owed.amount == 0  # the sale undone, or all of it captured and refunded
        else:
            # what the order still owes is what its payments still hold: nothing once it is
            # finished (captured, or its uncollected cash on delivery voided)
            assert owed.amount == held, (order.state, owed, held)
        in_transit = Decimal(0)
        for payment in payments:
            if payment.method is PaymentMethod.CARD:  # held while something can be captured
                open_ = (payment.capturable + payment.totals.capture_pending).amount > 0
                assert (book.settlement(authorization_id(payment.id)) is None) == open_
            if payment.method is PaymentMethod.CASH_ON_DELIVERY:
                in_transit += payment.totals.captured.amount - payment.totals.remitted.amount
        assert book.balance("cod_in_transit", "TWD", order_id=order_id).amount == in_transit
