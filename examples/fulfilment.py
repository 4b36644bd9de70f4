"""Fulfil orders from stock with the Shop facade, a fake carrier and an in-memory stock store.

Two parts:

* a card order whose units sit in two warehouses: it leaves as two
  shipments, one from each, and each captures its own share of the card
  money as it ships; the fake carrier then delivers both;
* cash on delivery at a convenience store (超商取貨付款): one parcel is
  collected and its cash recorded on the payment; another is never
  collected, so it goes back to the warehouse, its stock returns and the
  order is canceled with nothing taken.

Run it: ``python examples/fulfilment.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fourflows import Money
from fourflows.adapters.fake_carrier import FakeCarrier, Timeline
from fourflows.adapters.fake_gateway import FakeGateway
from fourflows.adapters.fakes import FixedClock, SequentialIds
from fourflows.adapters.stock import MemoryStockStore
from fourflows.app.checkout import PlaceOrder
from fourflows.app.fulfilment import PackShipment, ShipShipment, TrackShipment
from fourflows.app.shop import Shop
from fourflows.commerce.catalog import Catalog, Product
from fourflows.geo import Address
from fourflows.logistics.inventory import StockLocation, StockPolicy
from fourflows.logistics.shipping import ShippingTable
from fourflows.money import sum_money
from fourflows.tax import TaxTable

START = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Taipei
TAIPEI = {"country": "TW", "city": "Taipei", "postal_code": "106"}
TEE = Product(
    sku="TEE-M", name="T-shirt", price=Money("590", "TWD"), weight_g=200, size_cm=(30, 20, 3)
)
MUG = Product(sku="MUG", name="Mug", price=Money("350", "TWD"), weight_g=400, size_cm=(12, 12, 10))


class World:
    """A shop with a Taipei and a Taichung warehouse, a fake card gateway and a fake carrier."""

    def __init__(self) -> None:
        self.clock = FixedClock(START)
        self.stock = MemoryStockStore(
            [StockLocation(id="tpe", priority=0), StockLocation(id="txg", priority=1)],
            [StockPolicy(sku="TEE-M"), StockPolicy(sku="MUG")],
        )
        # the T-shirts are in Taipei, the mugs in Taichung
        self.stock.receive("TEE-M", "tpe", 10, reference="po-1", at=START)
        self.stock.receive("MUG", "txg", 10, reference="po-2", at=START)
        self.carrier = FakeCarrier("tw-post", self.clock)
        self.shop = Shop.in_memory(
            catalog=Catalog([TEE, MUG]),
            tax=TaxTable.preset("TW"),
            shipping=ShippingTable.example_taiwan(),
            gateway=FakeGateway(self.clock),
            clock=self.clock,
            ids=SequentialIds(),
            stock=self.stock,
            locations={
                "tpe": Address(country="TW", city="Taipei", postal_code="114"),
                "txg": Address(country="TW", city="Taichung", postal_code="407"),
            },
            carriers=[self.carrier],
        )

    def ship(self, shipment_id: str, pickup_point: str | None = None) -> str:
        """Pack the shipment and hand it to the carrier; its tracking number."""
        self.shop.pack_shipment(PackShipment(shipment_id=shipment_id))
        shipped = self.shop.ship_shipment(
            ShipShipment(
                idempotency_key=f"ship-{shipment_id}",
                shipment_id=shipment_id,
                carrier="tw-post",
                pickup_point=pickup_point,
            )
        )
        assert shipped.tracking_number is not None
        return shipped.tracking_number

    def track(self, shipment_id: str) -> str:
        """Read the carrier's scans for the shipment; its state afterwards."""
        return self.shop.track_shipment(TrackShipment(shipment_id=shipment_id)).state

    def on_hand(self, sku: str, location: str) -> int:
        """Units of ``sku`` on the shelves at ``location``."""
        return self.stock.level(sku, location).on_hand


def split_shipment(world: World) -> None:
    """A card order from two warehouses: two shipments, two captures, both delivered."""
    print("A card order split over two warehouses")
    shop = world.shop
    placed = shop.place_order(
        PlaceOrder(
            idempotency_key="web-1",
            items={"TEE-M": 2, "MUG": 1},
            ship_to=TAIPEI,
            service="home",
            payment_token="fake-card-approve",
        )
    )
    order = shop.order(placed.order_id)
    total = order.totals.total  # 2 × 590 + 350 + 100 home delivery = 1630
    print(f"  {order.id}: {placed.outcome}, total {total}, order {order.state}")
    assert total == Money("1630", "TWD")

    shipments = shop.shipments_of(order.id)
    assert [(s.location_id, s.units) for s in shipments] == [
        ("tpe", {"TEE-M": 2}),
        ("txg", {"MUG": 1}),
    ]
    captured = []
    before = shop.figures(order.id).captured
    for shipment in shipments:
        tracking = world.ship(shipment.id)
        now = shop.figures(order.id).captured
        captured.append(now - before)
        before = now
        print(
            f"  {shipment.id} from {shipment.location_id} {shipment.units}: "
            f"shipped as {tracking}, captured {captured[-1]}; "
            f"order {shop.order(order.id).state}"
        )
    # the first shipment takes its T-shirts and the fee: 1180 + 100 = 1280; the last the rest: 350
    assert captured == [Money("1280", "TWD"), Money("350", "TWD")]
    assert sum_money(captured) == total
    print(f"  captured {' + '.join(str(c) for c in captured)} = {sum_money(captured)}")

    world.clock.advance(timedelta(hours=30))  # the fake carrier delivers 28 hours after booking
    for shipment in shipments:
        print(f"  tracked {shipment.id}: {world.track(shipment.id)}")
    assert shop.order(order.id).state == "delivered"
    assert shop.payments_of(order.id)[0].state == "captured"
    assert (world.on_hand("TEE-M", "tpe"), world.on_hand("MUG", "txg")) == (8, 9)
    print(f"  order {shop.order(order.id).state}; left on the shelves: 8 T-shirts, 9 mugs")


def convenience_store_pickup(world: World) -> None:
    """Cash on delivery at a convenience store: one parcel collected, one left to expire."""
    print("Cash on delivery, picked up at a convenience store (超商取貨付款)")
    shop = world.shop

    def place(key: str) -> str:
        placed = shop.place_order(
            PlaceOrder(
                idempotency_key=key,
                items={"TEE-M": 1},
                ship_to=TAIPEI,
                service="cvs",
                payment_method="cash_on_delivery",
            )
        )
        return placed.order_id

    collected, forgotten = place("web-2"), place("web-3")
    # reserved at placement: both T-shirts are held in Taipei
    held = world.stock.level("TEE-M", "tpe")
    assert (held.on_hand, held.reserved) == (8, 2)
    print(f"  {collected} and {forgotten} placed: {held.reserved} T-shirts reserved in Taipei")
    (parcel,) = shop.shipments_of(collected)
    (left,) = shop.shipments_of(forgotten)
    world.carrier.set_timeline(left.id, Timeline.PICKUP_EXPIRED)  # this customer never comes

    total = shop.order(collected).totals.total  # 590 + 60 convenience-store fee = 650
    assert total == Money("650", "TWD") == parcel.cod_amount
    print(f"  {collected}: {total} to collect at the counter, order {shop.order(collected).state}")
    world.ship(parcel.id, pickup_point="7-ELEVEN Xinyi")
    world.ship(left.id, pickup_point="FamilyMart Da'an")
    assert world.on_hand("TEE-M", "tpe") == 6  # 8 left after the first part, 2 shipped
    assert shop.figures(collected).captured.amount == 0  # nothing is taken before the pickup

    world.clock.advance(timedelta(hours=31))  # at the store 30 hours after booking
    world.track(parcel.id)
    waiting = shop.shipment(parcel.id)
    assert waiting.hold_until is not None
    print(
        f"  {parcel.id}: {waiting.state} at the {waiting.pickup_point}, "
        f"held until {waiting.hold_until:%Y-%m-%d %H:%M} UTC"
    )
    world.clock.advance(timedelta(hours=20))  # collected 50 hours after booking
    print(f"  {parcel.id}: {world.track(parcel.id)}")
    (payment,) = shop.payments_of(collected)
    print(f"    cash collected {shop.figures(collected).captured}, payment {payment.state}")
    assert shop.figures(collected).captured == total
    assert shop.order(collected).state == "delivered"

    world.clock.advance(timedelta(hours=200))  # expired at 198 hours, back at 246
    print(f"  {left.id}: {world.track(left.id)} (its seven-day hold ran out)")
    order = shop.order(forgotten)
    (payment,) = shop.payments_of(forgotten)
    print(
        f"    order {order.state}, payment {payment.state}, "
        f"captured {shop.figures(forgotten).captured}"
    )
    assert order.state == "canceled"
    assert payment.state == "voided"
    assert shop.figures(forgotten).captured.amount == 0
    assert world.on_hand("TEE-M", "tpe") == 7  # the returned T-shirt is back on the shelf
    print(f"    the T-shirt is back: {world.on_hand('TEE-M', 'tpe')} on hand in Taipei")


def main() -> None:
    """Run both parts."""
    world = World()
    split_shipment(world)
    print()
    convenience_store_pickup(world)


if __name__ == "__main__":
    main()
