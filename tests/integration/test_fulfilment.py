"""Goods move through the Shop: stock held at checkout, shipped, tracked, delivered or sent back."""

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from fourflows import InsufficientStock, Money
from fourflows.adapters.fake_carrier import FakeCarrier, Timeline
from fourflows.adapters.fake_gateway import FakeGateway
from fourflows.adapters.fakes import FixedClock, SequentialIds
from fourflows.adapters.stock import MemoryStockStore
from fourflows.app.changes import ConfirmOrderChange, ProposeOrderChange
from fourflows.app.checkout import CancelOrder, PlaceOrder
from fourflows.app.fulfilment import (
    ExpireReservations,
    MarkPickedUp,
    PackShipment,
    ShipShipment,
    TrackShipment,
    capture_problems,
)
from fourflows.app.shop import Shop
from fourflows.commerce.catalog import Catalog, Product
from fourflows.errors import GatewayUnavailable
from fourflows.geo import Address
from fourflows.logistics.carriers import Booking, BookingRequest, RawTrackingEvent
from fourflows.logistics.inventory import StockLocation, StockPolicy
from fourflows.logistics.promise import BusinessCalendar, Origin
from fourflows.logistics.shipping import ShippingTable
from fourflows.tax import TaxTable

AT = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Taipei
TEE = Product(
    sku="TEE-M", name="T-shirt", price=Money("590", "TWD"), weight_g=200, size_cm=(30, 20, 3)
)
MUG = Product(sku="MUG", name="Mug", price=Money("350", "TWD"), weight_g=400, size_cm=(12, 12, 10))
TAIPEI = {"country": "TW", "city": "Taipei", "postal_code": "106"}
WAREHOUSES = {
    "tpe": Address(country="TW", city="Taipei", postal_code="114"),
    "txg": Address(country="TW", city="Taichung", postal_code="407"),
}


class World:
    """A shop with two warehouses and a store, a fake gateway and a fake carrier."""

    def __init__(self, stock: dict[tuple[str, str], int]) -> None:
        self.clock = FixedClock(AT)
        self.stock = MemoryStockStore(
            [
                StockLocation(id="tpe", priority=0),
                StockLocation(id="txg", priority=1),
                StockLocation(id="xinyi", kind="store", priority=2),
            ],
            [StockPolicy(sku="TEE-M"), StockPolicy(sku="MUG")],
        )
        for (sku, location), quantity in stock.items():
            self.stock.receive(sku, location, quantity, reference=f"po-{sku}-{location}", at=AT)
        self.carrier = FakeCarrier("tw-post", self.clock)
        self.gateway = FakeGateway(self.clock)
        self.shop = Shop.in_memory(
            catalog=Catalog([TEE, MUG]),
            tax=TaxTable.preset("TW"),
            shipping=ShippingTable.example_taiwan(),
            gateway=self.gateway,
            clock=self.clock,
            ids=SequentialIds(),
            stock=self.stock,
            locations=WAREHOUSES,
            carriers=[self.carrier],
            origin=Origin(
                id="tpe", timezone="Asia/Taipei", cutoff="14:00", calendar=BusinessCalendar("TW")
            ),
        )

    def place(self, key: str = "p1", **fields: object) -> str:
        order = {
            "idempotency_key": key,
            "items": {"TEE-M": 2, "MUG": 1},
            "customer_id": "c-1",
            "ship_to": TAIPEI,
            "service": "home",
            **fields,
        }
        return self.shop.place_order(PlaceOrder(**order)).order_id

    def ship(self, shipment_id: str, key: str = "ship") -> None:
        self.shop.pack_shipment(PackShipment(shipment_id=shipment_id))
        self.shop.ship_shipment(
            ShipShipment(
                idempotency_key=f"{key}-{shipment_id}",
                shipment_id=shipment_id,
                carrier="tw-post",
            )
        )

    def after(self, hours: int) -> None:
        self.clock.advance(timedelta(hours=hours))

    def captured(self, order_id: str) -> Money:
        return self.shop.figures(order_id).captured

    def change(self, order_id: str, change_id: str = "ch-1", **asked: object) -> str:
        fields: dict[str, object] = {"order_id": order_id, "change_id": change_id, **asked}
        self.shop.propose_change(ProposeOrderChange(idempotency_key=f"p-{change_id}", **fields))
        done = self.shop.confirm_change(
            ConfirmOrderChange(
                idempotency_key=f"c-{change_id}", order_id=order_id, change_id=change_id
            )
        )
        return done.outcome

    def problems(self, order_id: str) -> tuple[str, ...]:
        with self.shop.store.unit_of_work() as uow:
            return capture_problems(uow, order_id)


def test_a_card_order_is_reserved_shipped_captured_and_delivered() -> None:
    world = World({("TEE-M", "tpe"): 5, ("MUG", "tpe"): 5})
    order_id = world.place()
    # placed and paid (the card was authorised): held, allocated, one shipment ready to pack
    assert world.stock.level("TEE-M", "tpe").reserved == 2
    (shipment,) = world.shop.shipments_of(order_id)
    assert (shipment.state, shipment.location_id) == ("ready", "tpe")
    assert world.captured(order_id).amount == 0  # a card is captured at shipment, not before
    world.ship(shipment.id)
    order = world.shop.order(order_id)
    assert order.state == "shipped"
    assert world.captured(order_id) == order.totals.total  # the one shipment takes it all
    assert world.stock.level("TEE-M", "tpe").on_hand == 3  # the units left the warehouse
    world.after(30)  # the fake carrier's normal timeline delivers at 28 hours
    tracked = world.shop.track_shipment(TrackShipment(shipment_id=shipment.id))
    assert tracked.state == "delivered"
    assert world.shop.order(order_id).state == "delivered"
    again = world.shop.track_shipment(TrackShipment(shipment_id=shipment.id))
    assert again.outcome == "unchanged"  # the same scans again change nothing
    # promised for 11-21..11-23 (Taipei), delivered 11-21 10:00 UTC: on time
    record = world.shop.delivery_performance()
    assert (record.measured, record.on_time) == (1, 1)


def test_a_split_shipment_from_two_warehouses_captures_each_part() -> None:
    # the T-shirts are in Taipei, the mug in Taichung: no one place can send it all
    world = World({("TEE-M", "tpe"): 5, ("MUG", "txg"): 5})
    order_id = world.place()
    first, second = world.shop.shipments_of(order_id)
    assert (first.location_id, first.units) == ("tpe", {"TEE-M": 2})
    assert (second.location_id, second.units) == ("txg", {"MUG": 1})
    order = world.shop.order(order_id)
    tees = order.lines[0].gross  # both T-shirts, with their tax and discount
    world.ship(first.id)
    assert world.shop.order(order_id).state == "partially_shipped"
    # the first shipment captures its T-shirts and the shipping fee
    assert order.shipping is not None
    assert world.captured(order_id) == tees + order.shipping.gross
    world.ship(second.id)
    assert world.captured(order_id) == order.totals.total  # the last one takes the rest
    payment = world.shop.payments_of(order_id)[0]
    assert payment.state == "captured"
    assert len(payment.captures) == 2


def test_cash_on_delivery_at_a_convenience_store_is_collected_on_pickup() -> None:
    world = World({("TEE-M", "tpe"): 5, ("MUG", "tpe"): 5})
    order_id = world.place(
        payment_method="cash_on_delivery", service="cvs", pickup_point="FamilyMart Da'an"
    )
    (shipment,) = world.shop.shipments_of(order_id)
    total = world.shop.order(order_id).totals.total
    assert shipment.cod_amount == total
    world.ship(shipment.id)
    assert world.captured(order_id).amount == 0  # nothing is taken before the pickup
    world.after(51)  # at the store at 30 hours, collected at 50
    world.shop.track_shipment(TrackShipment(shipment_id=shipment.id))
    assert world.shop.shipment(shipment.id).state == "picked_up"
    assert world.captured(order_id) == total
    assert world.shop.order(order_id).state == "delivered"


def test_an_uncollected_cod_parcel_goes_back_restocked_and_cancels_the_order() -> None:
    world = World({("TEE-M", "tpe"): 5, ("MUG", "tpe"): 5})
    order_id = world.place(
        payment_method="cash_on_delivery", service="cvs", pickup_point="FamilyMart Da'an"
    )
    (shipment,) = world.shop.shipments_of(order_id)
    world.carrier.set_timeline(shipment.id, Timeline.PICKUP_EXPIRED)
    world.ship(shipment.id)
    assert world.stock.level("TEE-M", "tpe").on_hand == 3
    world.after(250)  # expired at 198 hours, back at the sender at 246
    world.shop.track_shipment(TrackShipment(shipment_id=shipment.id))
    assert world.shop.shipment(shipment.id).state == "returned_to_sender"
    assert world.stock.level("TEE-M", "tpe").on_hand == 5  # back on the shelf
    order = world.shop.order(order_id)
    assert order.state == "canceled"
    (payment,) = world.shop.payments_of(order_id)
    assert payment.state == "voided"  # no cash was ever taken
    assert world.captured(order_id).amount == 0


def test_a_prepaid_parcel_sent_back_is_refunded() -> None:
    world = World({("TEE-M", "tpe"): 5, ("MUG", "tpe"): 5})
    order_id = world.place(service="cvs", pickup_point="FamilyMart Da'an")
    (shipment,) = world.shop.shipments_of(order_id)
    world.carrier.set_timeline(shipment.id, Timeline.PICKUP_EXPIRED)
    world.ship(shipment.id)
    captured = world.captured(order_id)
    world.after(250)
    world.shop.track_shipment(TrackShipment(shipment_id=shipment.id))
    figures = world.shop.figures(order_id)
    assert figures.refunded == captured  # the order is canceled: everything goes back
    assert world.shop.order(order_id).state == "canceled"


def test_in_store_pickup_is_fulfilled_from_the_chosen_store_with_no_carrier() -> None:
    # the Taipei warehouse comes first for home deliveries, but the customer collects in Xinyi
    world = World(
        {("TEE-M", "tpe"): 5, ("MUG", "tpe"): 5, ("TEE-M", "xinyi"): 5, ("MUG", "xinyi"): 5}
    )
    order_id = world.place(payment_method="cash_on_delivery", service="store", pickup_point="xinyi")
    (shipment,) = world.shop.shipments_of(order_id)
    assert shipment.location_id == "xinyi"
    world.shop.pack_shipment(PackShipment(shipment_id=shipment.id))
    world.shop.ship_shipment(ShipShipment(idempotency_key="s1", shipment_id=shipment.id))
    at_counter = world.shop.shipment(shipment.id)
    assert (at_counter.state, at_counter.pickup_point) == ("ready_for_pickup", "xinyi")
    assert world.stock.level("TEE-M", "tpe").on_hand == 5  # the warehouse was not touched
    world.shop.mark_picked_up(MarkPickedUp(shipment_id=shipment.id))
    assert world.shop.shipment(shipment.id).state == "picked_up"
    assert world.captured(order_id) == world.shop.order(order_id).totals.total


def test_short_stock_refuses_the_checkout_and_saves_nothing() -> None:
    world = World({("TEE-M", "tpe"): 1, ("MUG", "tpe"): 5})
    with pytest.raises(InsufficientStock, match="'TEE-M'"):
        world.place()
    assert world.stock.summary("TEE-M").reserved == 0
    assert world.stock.summary("MUG").reserved == 0
    assert world.shop.store.rows == {}  # no order, no payment


def test_canceling_releases_the_stock_and_the_planned_shipments() -> None:
    world = World({("TEE-M", "tpe"): 5, ("MUG", "tpe"): 5})
    order_id = world.place()
    world.shop.cancel_order(
        CancelOrder(idempotency_key="c1", order_id=order_id, reason="changed mind")
    )
    assert world.stock.summary("TEE-M").reserved == 0
    assert [s.state for s in world.shop.shipments_of(order_id)] == ["canceled"]


def test_an_unpaid_order_whose_hold_expires_is_canceled_and_its_stock_released() -> None:
    world = World({("TEE-M", "tpe"): 5, ("MUG", "tpe"): 5})
    order_id = world.place(payment_method="bank_transfer", payment_token="fake-bank-transfer")
    assert world.shop.order(order_id).state == "pending_payment"
    assert world.stock.summary("TEE-M").reserved == 2
    world.after(1)  # the checkout hold is 30 minutes
    canceled = world.shop.expire_reservations(ExpireReservations(now=world.clock.now()))
    assert canceled == (order_id,)
    assert world.shop.order(order_id).state == "canceled"
    assert world.stock.summary("TEE-M").reserved == 0


def test_shipping_is_idempotent_and_needs_packing_first() -> None:
    world = World({("TEE-M", "tpe"): 5, ("MUG", "tpe"): 5})
    order_id = world.place()
    (shipment,) = world.shop.shipments_of(order_id)
    with pytest.raises(ValueError, match="pack it before it ships"):
        world.shop.ship_shipment(
            ShipShipment(idempotency_key="early", shipment_id=shipment.id, carrier="tw-post")
        )
    world.ship(shipment.id)
    world.ship(shipment.id)  # again: nothing books or ships twice
    assert len(world.carrier.bookings) == 1
    assert world.stock.level("TEE-M", "tpe").on_hand == 3


class SilentCarrier(FakeCarrier):
    """A carrier whose scans name no place."""

    def track(self, tracking_number: str) -> tuple[RawTrackingEvent, ...]:
        return tuple(attrs.evolve(e, location="") for e in super().track(tracking_number))


def test_a_pickup_scan_naming_no_store_uses_the_store_the_customer_chose() -> None:
    world = World({("TEE-M", "tpe"): 5, ("MUG", "tpe"): 5})
    world.carrier = SilentCarrier("tw-post", world.clock)
    world.shop = Shop.in_memory(
        catalog=Catalog([TEE, MUG]),
        tax=TaxTable.preset("TW"),
        shipping=ShippingTable.example_taiwan(),
        gateway=world.gateway,
        clock=world.clock,
        ids=SequentialIds(),
        stock=world.stock,
        locations=WAREHOUSES,
        carriers=[world.carrier],
    )
    order_id = world.place(service="cvs", pickup_point="7-ELEVEN Xinyi")
    (shipment,) = world.shop.shipments_of(order_id)
    world.ship(shipment.id)
    world.after(31)
    tracked = world.shop.track_shipment(TrackShipment(shipment_id=shipment.id))
    assert tracked.state == "ready_for_pickup"
    assert world.shop.shipment(shipment.id).pickup_point == "7-ELEVEN Xinyi"


def test_a_carrier_scan_the_shipment_cannot_take_is_flagged_not_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World({("TEE-M", "tpe"): 5, ("MUG", "tpe"): 5})
    order_id = world.place()  # home delivery: a convenience-store scan makes no sense for it
    (shipment,) = world.shop.shipments_of(order_id)
    world.ship(shipment.id)
    tracking = world.shop.shipment(shipment.id).tracking_number
    assert tracking is not None
    stray = RawTrackingEvent(
        tracking_number=tracking, code="CVS", occurred_at=AT + timedelta(hours=5), location="x"
    )
    monkeypatch.setattr(world.carrier, "track", lambda tracking_number: (stray,))
    tracked = world.shop.track_shipment(TrackShipment(shipment_id=shipment.id))
    assert tracked.state == "shipped"
    assert any("CVS: not applied" in flag for flag in tracked.flagged)


# --- order changes ---------------------------------------------------------------------------


def test_a_paid_order_changed_down_ships_and_captures_only_what_is_left() -> None:
    world = World({("TEE-M", "tpe"): 5})
    order_id = world.place(items={"TEE-M": 2})
    (planned,) = world.shop.shipments_of(order_id)
    assert planned.units == {"TEE-M": 2}
    assert world.change(order_id, quantities={"TEE-M": 1}) == "confirmed"
    # the unit taken off is no longer held: 2 - 1 = 1 reserved, 5 - 1 = 4 available
    level = world.stock.level("TEE-M", "tpe")
    assert (level.on_hand, level.reserved, level.available) == (5, 1, 4)
    assert world.stock.summary("TEE-M").reserved == 1
    # the planned shipment of 2 is called off and one of 1 planned in its place
    old, new = world.shop.shipments_of(order_id)
    assert (old.id, old.state) == (planned.id, "canceled")
    assert (new.state, new.location_id, new.units) == ("ready", "tpe", {"TEE-M": 1})
    world.ship(new.id)
    order = world.shop.order(order_id)
    assert order.state == "shipped"
    assert (order.lines[0].counts.shipped, order.lines[0].counts.canceled) == (1, 1)
    level = world.stock.level("TEE-M", "tpe")
    assert (level.on_hand, level.reserved) == (4, 0)  # 5 - 1 shipped; nothing held
    assert world.stock.summary("TEE-M").reserved == 0
    # one T-shirt 590 + home delivery 100 = 690, the new total, and no more
    assert order.totals.total == Money("690", "TWD")
    assert world.captured(order_id) == Money("690", "TWD")
    assert world.problems(order_id) == ()


def test_a_change_of_address_alone_leaves_stock_and_shipments_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World({("TEE-M", "tpe"): 5, ("MUG", "tpe"): 5})
    asked: list[BookingRequest] = []
    book = world.carrier.book

    def spy(request: BookingRequest) -> Booking:
        asked.append(request)
        return book(request)

    monkeypatch.setattr(world.carrier, "book", spy)
    order_id = world.place()
    (planned,) = world.shop.shipments_of(order_id)
    journal = world.stock.journal()
    kaohsiung = {"country": "TW", "city": "Kaohsiung", "postal_code": "800"}
    assert world.change(order_id, ship_to=kaohsiung) == "confirmed"
    assert world.stock.journal() == journal  # no stock moved
    (same,) = world.shop.shipments_of(order_id)  # the same shipment, still ready to pack
    assert (same.id, same.state, same.units) == (planned.id, "ready", {"TEE-M": 2, "MUG": 1})
    world.ship(planned.id)
    assert [request.destination.city for request in asked] == ["Kaohsiung"]
    assert world.captured(order_id) == world.shop.order(order_id).totals.total
    assert world.stock.level("TEE-M", "tpe").on_hand == 3  # 5 - 2


def test_a_change_before_payment_shrinks_the_hold() -> None:
    world = World({("TEE-M", "tpe"): 5, ("MUG", "tpe"): 5})
    order_id = world.place(payment_method="bank_transfer", payment_token="fake-bank-transfer")
    assert world.stock.summary("TEE-M").reserved == 2
    world.change(order_id, quantities={"TEE-M": 1})
    assert world.shop.order(order_id).state == "pending_payment"
    assert (world.stock.summary("TEE-M").reserved, world.stock.summary("MUG").reserved) == (1, 1)
    assert world.shop.shipments_of(order_id) == ()  # nothing is planned before payment
    assert world.stock.reservation(order_id).quantity("TEE-M") == 1


def test_a_cash_on_delivery_change_replans_what_the_carrier_collects() -> None:
    world = World({("TEE-M", "tpe"): 5, ("MUG", "tpe"): 5})
    order_id = world.place(payment_method="cash_on_delivery")
    (planned,) = world.shop.shipments_of(order_id)
    assert planned.cod_amount == world.shop.order(order_id).totals.total
    world.change(order_id, quantities={"TEE-M": 1})
    total = world.shop.order(order_id).totals.total
    # one T-shirt 590 + the mug 350 + home delivery with its COD charge 130 = 1070
    assert total == Money("1070", "TWD")
    _, replanned = world.shop.shipments_of(order_id)
    assert (replanned.units, replanned.cod_amount) == ({"TEE-M": 1, "MUG": 1}, total)


# --- captures that cannot happen -------------------------------------------------------------


def test_a_lapsed_authorisation_is_noted_for_a_person_and_never_jams_the_outbox() -> None:
    world = World({("TEE-M", "tpe"): 5, ("MUG", "tpe"): 5})
    order_id = world.place()
    (shipment,) = world.shop.shipments_of(order_id)
    world.after(8 * 24)  # a card authorisation is good for 7 days
    world.ship(shipment.id)
    assert world.shop.order(order_id).state == "shipped"  # the parcel left all the same
    assert world.captured(order_id).amount == 0
    (problem,) = world.problems(order_id)
    # the whole order: 2 x 590 + 350 + 100 home delivery = 1630
    assert problem.startswith(f"shipment {shipment.id}: 1630.00 TWD of payment ")
    assert "expired" in problem
    assert world.shop.store.outbox.unsettled() == ()  # settled: not retried forever
    world.shop.bus.dispatch()
    assert len(world.problems(order_id)) == 1  # noted once


def test_a_gateway_outage_at_capture_is_retried_by_the_outbox(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World({("TEE-M", "tpe"): 5, ("MUG", "tpe"): 5})
    order_id = world.place()
    (shipment,) = world.shop.shipments_of(order_id)
    checkout = world.shop.checkout

    def down(*args: object, **kwargs: object) -> object:
        raise GatewayUnavailable("fake", "capture", "timed out")

    monkeypatch.setattr(checkout, "capture_payment", down)
    world.ship(shipment.id)
    (waiting,) = world.shop.store.outbox.unsettled()
    assert waiting.event.aggregate_id == shipment.id
    assert world.problems(order_id) == ()  # not a problem for a person: it may work later
    monkeypatch.undo()
    assert world.shop.bus.dispatch() == ()
    assert world.captured(order_id) == world.shop.order(order_id).totals.total
