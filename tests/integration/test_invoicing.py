"""The Shop issues invoices and credit notes by itself as it sells, ships and refunds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fourflows import Money
from fourflows.adapters.fake_carrier import FakeCarrier, Timeline
from fourflows.adapters.fake_gateway import FakeGateway
from fourflows.adapters.fakes import FixedClock, SequentialIds
from fourflows.adapters.memory import RecordingPublisher
from fourflows.adapters.stock import MemoryStockStore
from fourflows.adapters.tw_einvoice import InvoicePeriod, NumberRange, TaiwanInvoiceNumbering
from fourflows.app.checkout import CancelOrder, CapturePayment, PlaceOrder, RefundPayment
from fourflows.app.fulfilment import PackShipment, ShipShipment, TrackShipment
from fourflows.app.handlers import Context
from fourflows.app.invoicing import (
    Invoicing,
    UncreditedRefund,
    credit_notes_of,
    invoices_of,
    uncredited_of,
)
from fourflows.app.messagebus import MessageBus
from fourflows.app.notify import merge_policies
from fourflows.app.shop import Shop
from fourflows.cash.invoices import (
    CreditNote,
    Invoice,
    InvoiceStatus,
    InvoiceTiming,
    Party,
)
from fourflows.cash.payment import PaymentRefunded
from fourflows.commerce.catalog import Catalog, Product
from fourflows.errors import InvalidInput
from fourflows.events import DomainEvent
from fourflows.geo import Address
from fourflows.logistics.inventory import StockLocation, StockPolicy
from fourflows.logistics.shipping import ShippingTable
from fourflows.money import sum_money
from fourflows.tax import TaxTable

AT = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Taipei, period 2026-11/12
TEE = Product(
    sku="TEE-M", name="T-shirt", price=Money("590", "TWD"), weight_g=200, size_cm=(30, 20, 3)
)
MUG = Product(sku="MUG", name="Mug", price=Money("350", "TWD"), weight_g=400, size_cm=(12, 12, 10))
SELLER = Party(name="Four Flows Ltd", country="TW", tax_id="04595257")
TAIPEI = {"country": "TW", "city": "Taipei", "postal_code": "106"}


def twd(amount: str) -> Money:
    return Money(amount, "TWD")


class World:
    """A Taiwanese shop with invoicing merged on its bus; with ``stock``, two warehouses."""

    def __init__(
        self,
        *,
        timing: InvoiceTiming = InvoiceTiming.PER_ORDER,
        stock: dict[tuple[str, str], int] | None = None,
    ) -> None:
        self.clock = FixedClock(AT)
        self.numbers = TaiwanInvoiceNumbering(
            [NumberRange("AB", "12345000", "12345049", InvoicePeriod(2026, 11))]
        )
        self.invoicing = Invoicing(self.numbers, SELLER, timing=timing)
        self.events = RecordingPublisher()
        self.carrier = FakeCarrier("tw-post", self.clock)
        options: dict[str, object] = {}
        if stock is not None:
            store = MemoryStockStore(
                [StockLocation(id="tpe", priority=0), StockLocation(id="txg", priority=1)],
                [StockPolicy(sku="TEE-M"), StockPolicy(sku="MUG")],
            )
            for (sku, location), quantity in stock.items():
                store.receive(sku, location, quantity, reference=f"po-{sku}-{location}", at=AT)
            options = {
                "stock": store,
                "shipping": ShippingTable.example_taiwan(),
                "locations": {
                    "tpe": Address(country="TW", city="Taipei", postal_code="114"),
                    "txg": Address(country="TW", city="Taichung", postal_code="407"),
                },
                "carriers": [self.carrier],
            }
        shop = Shop.in_memory(
            catalog=Catalog([TEE, MUG]),
            tax=TaxTable.preset("TW"),
            gateway=FakeGateway(self.clock),
            clock=self.clock,
            ids=SequentialIds(),
            publishers={"recorder": self.events},
            **options,  # type: ignore[arg-type]
        )
        bus = shop.bus
        shop.bus = MessageBus(
            unit_of_work=shop.store.unit_of_work,
            clock=self.clock,
            ids=bus.ids,
            commands=bus._commands,
            policies=merge_policies(bus._policies, self.invoicing.policies()),
            publishers={"recorder": self.events},
        )
        self.shop = shop

    def place(self, key: str = "p1", **fields: object) -> tuple[str, str]:
        order = {"idempotency_key": key, "items": {"TEE-M": 2, "MUG": 1}, **fields}
        placed = self.shop.place_order(PlaceOrder(**order))
        assert placed.payment_id is not None
        return placed.order_id, placed.payment_id

    def invoices(self, order_id: str) -> tuple[Invoice, ...]:
        with self.shop.store.unit_of_work() as uow:
            return invoices_of(uow, order_id)

    def credit_notes(self, order_id: str) -> tuple[CreditNote, ...]:
        with self.shop.store.unit_of_work() as uow:
            return credit_notes_of(uow, order_id)

    def uncredited(self, order_id: str) -> tuple[UncreditedRefund, ...]:
        with self.shop.store.unit_of_work() as uow:
            return uncredited_of(uow, order_id)

    def redeliver(self, event: DomainEvent) -> None:
        """Offer ``event`` to the invoicing policies again, as a redelivering bus would."""
        for policy in self.invoicing.policies().get(type(event), ()):
            with self.shop.store.unit_of_work() as uow:
                policy(event, Context(uow=uow, clock=self.clock, ids=self.shop.bus.ids))

    def recorded(self, kind: type[DomainEvent]) -> list[DomainEvent]:
        return [event for event in self.events.events if isinstance(event, kind)]

    def ship(self, shipment_id: str) -> None:
        self.shop.pack_shipment(PackShipment(shipment_id=shipment_id))
        self.shop.ship_shipment(
            ShipShipment(
                idempotency_key=f"ship-{shipment_id}", shipment_id=shipment_id, carrier="tw-post"
            )
        )


def test_a_paid_card_order_gets_one_invoice_with_the_taiwan_tax_breakdown() -> None:
    world = World()
    order_id, _ = world.place(channel="store")
    (invoice,) = world.invoices(order_id)
    # T-shirts 2 × 590 = 1180 and a mug 350: 1530, tax included.
    # Tax inside: 1530 × 5/105 = 72.86 → 73 (whole dollars); sales amount 1530 − 73 = 1457.
    assert invoice.number == "AB12345000"  # the first number of the allocated range
    assert (invoice.gross, invoice.tax, invoice.net) == (twd("1530"), twd("73"), twd("1457"))
    (rate,) = invoice.breakdown
    assert (rate.category, rate.rate) == ("standard", Decimal(5))
    assert (rate.net, rate.tax, rate.gross) == (twd("1457"), twd("73"), twd("1530"))
    order = world.shop.order(order_id)
    assert (invoice.gross, invoice.tax) == (order.totals.total, order.totals.tax)
    assert invoice.seller == SELLER
    assert invoice.issued_at == AT


def test_a_partial_refund_gets_a_credit_note_and_a_refund_above_what_is_left_is_capped() -> None:
    world = World()
    order_id, payment_id = world.place(channel="store")
    world.shop.capture_payment(
        CapturePayment(idempotency_key="cap", payment_id=payment_id, amount=twd("1530"))
    )
    world.shop.refund_payment(
        RefundPayment(idempotency_key="r1", payment_id=payment_id, amount=twd("500"), reason="lid")
    )
    (invoice,) = world.invoices(order_id)
    (note,) = world.credit_notes(order_id)
    assert (note.number, note.invoice_number) == ("AB12345000-01", "AB12345000")
    # 500 spread over what the lines have left, in whole dollars:
    # T-shirts 500 × 1180/1530 = 385.62, mug 500 × 350/1530 = 114.38 → 385 + 114 = 499,
    # the last dollar to the larger remainder (0.62): 386 and 114.
    assert [line.gross for line in note.lines] == [twd("386"), twd("114")]
    # their tax, each line's share of its tax (T-shirts 28 + 28 = 56, mug 17), whole dollars:
    # 386 × 56/1180 = 18.32 → 18 and 114 × 17/350 = 5.54 → 6
    assert [line.tax for line in note.lines] == [twd("18"), twd("6")]
    assert note.gross == twd("500")
    assert note.tax == twd("24")
    assert invoice.left([note]) == twd("1030")  # 1530 − 500
    assert invoice.status([note]) is InvoiceStatus.PARTLY_CREDITED
    # the gateway reports a later refund of 1500: only the 1030 left is credited, the
    # other 470 is kept as uncredited with its reason
    (first,) = world.recorded(PaymentRefunded)
    assert isinstance(first, PaymentRefunded)
    late = attrs.evolve(first, refund_id="r-late", amount=twd("1500"), sequence=99)
    world.redeliver(late)
    notes = world.credit_notes(order_id)
    assert [n.gross for n in notes] == [twd("500"), twd("1030")]
    assert sum_money(n.gross for n in notes) == invoice.gross  # never above the invoice
    assert invoice.status(notes) is InvoiceStatus.FULLY_CREDITED
    (rest,) = world.uncredited(order_id)
    assert rest.amount == twd("470")  # 1500 − 1030
    assert rest.reason.endswith("its invoices had only 1030.00 TWD left to credit")


def test_redelivered_events_issue_nothing_twice_and_use_no_number() -> None:
    world = World()
    order_id, payment_id = world.place(channel="store")
    world.shop.capture_payment(
        CapturePayment(idempotency_key="cap", payment_id=payment_id, amount=twd("1530"))
    )
    world.shop.refund_payment(
        RefundPayment(idempotency_key="r1", payment_id=payment_id, amount=twd("100"), reason="x")
    )
    period = InvoicePeriod(2026, 11)
    before = world.numbers.remaining(period)
    for event in list(world.events.events):
        world.redeliver(event)
    assert len(world.invoices(order_id)) == 1
    assert len(world.credit_notes(order_id)) == 1
    assert world.numbers.remaining(period) == before  # no number asked for again
    # the same refund command again is the gateway's idempotent answer: no second note
    world.shop.refund_payment(
        RefundPayment(idempotency_key="r1", payment_id=payment_id, amount=twd("100"), reason="x")
    )
    assert len(world.credit_notes(order_id)) == 1


def test_canceling_a_paid_order_voids_its_uncredited_invoice() -> None:
    world = World()
    order_id, _ = world.place(channel="store")
    world.shop.cancel_order(CancelOrder(idempotency_key="c1", order_id=order_id, reason="oops"))
    (invoice,) = world.invoices(order_id)
    assert invoice.is_void
    assert invoice.void_reason == "order " + order_id + " canceled: oops"
    assert world.credit_notes(order_id) == ()  # the authorisation was voided: nothing refunded


def test_a_refund_before_the_order_is_invoiced_is_kept_uncredited_with_its_reason() -> None:
    world = World(timing=InvoiceTiming.PER_SHIPMENT, stock={("TEE-M", "tpe"): 5, ("MUG", "tpe"): 5})
    order_id, payment_id = world.place(ship_to=TAIPEI, service="home")
    total = world.shop.order(order_id).totals.total
    world.shop.capture_payment(
        CapturePayment(idempotency_key="cap", payment_id=payment_id, amount=total)
    )
    world.shop.refund_payment(
        RefundPayment(idempotency_key="r1", payment_id=payment_id, amount=twd("50"), reason="x")
    )
    assert world.invoices(order_id) == ()  # nothing shipped yet: nothing invoiced
    (kept,) = world.uncredited(order_id)
    assert kept.amount == twd("50")
    assert "has no invoice yet" in kept.reason


def test_per_shipment_a_split_order_gets_two_invoices_summing_to_the_order() -> None:
    # the T-shirts are in Taipei, the mug in Taichung: two shipments
    world = World(timing=InvoiceTiming.PER_SHIPMENT, stock={("TEE-M", "tpe"): 5, ("MUG", "txg"): 5})
    order_id, _ = world.place(ship_to=TAIPEI, service="home")
    assert world.invoices(order_id) == ()  # paid, but nothing has shipped
    first, second = world.shop.shipments_of(order_id)
    world.ship(first.id)
    (tees,) = world.invoices(order_id)
    order = world.shop.order(order_id)
    assert order.shipping is not None
    # the first invoice: the two T-shirts and the shipping fee
    assert tees.shipment_id == first.id
    assert tees.number == "AB12345000"
    assert tees.gross == order.lines[0].gross + order.shipping.gross
    world.ship(second.id)
    invoices = world.invoices(order_id)
    assert [i.number for i in invoices] == ["AB12345000", "AB12345001"]
    assert invoices[1].shipment_id == second.id
    assert [line.sku for line in invoices[1].lines] == ["MUG"]
    # together exactly the order: total and tax, nothing taxed twice
    assert sum_money(i.gross for i in invoices) == order.totals.total
    assert sum_money(i.tax for i in invoices) == order.totals.tax
    for event in list(world.events.events):
        world.redeliver(event)
    assert len(world.invoices(order_id)) == 2  # each shipment is invoiced once


def test_cash_on_delivery_is_invoiced_once_the_cash_is_collected() -> None:
    world = World(stock={("TEE-M", "tpe"): 5, ("MUG", "tpe"): 5})
    order_id, _ = world.place(
        payment_method="cash_on_delivery",
        ship_to=TAIPEI,
        service="cvs",
        pickup_point="FamilyMart Da'an",
    )
    (shipment,) = world.shop.shipments_of(order_id)
    world.ship(shipment.id)
    assert world.invoices(order_id) == ()  # shipped, not yet paid
    world.clock.advance(timedelta(hours=51))  # picked up and paid at 50 hours
    world.shop.track_shipment(TrackShipment(shipment_id=shipment.id))
    (invoice,) = world.invoices(order_id)
    assert invoice.gross == world.shop.order(order_id).totals.total


def test_an_uncollected_cod_parcel_is_never_invoiced() -> None:
    world = World(stock={("TEE-M", "tpe"): 5, ("MUG", "tpe"): 5})
    order_id, _ = world.place(
        payment_method="cash_on_delivery",
        ship_to=TAIPEI,
        service="cvs",
        pickup_point="FamilyMart Da'an",
    )
    (shipment,) = world.shop.shipments_of(order_id)
    world.carrier.set_timeline(shipment.id, Timeline.PICKUP_EXPIRED)
    world.ship(shipment.id)
    world.clock.advance(timedelta(hours=250))
    world.shop.track_shipment(TrackShipment(shipment_id=shipment.id))
    assert world.shop.order(order_id).state == "canceled"
    assert world.invoices(order_id) == ()


def test_per_shipment_an_uncollected_cod_parcel_has_its_invoice_voided() -> None:
    world = World(timing=InvoiceTiming.PER_SHIPMENT, stock={("TEE-M", "tpe"): 5, ("MUG", "tpe"): 5})
    order_id, _ = world.place(
        payment_method="cash_on_delivery",
        ship_to=TAIPEI,
        service="cvs",
        pickup_point="FamilyMart Da'an",
    )
    (shipment,) = world.shop.shipments_of(order_id)
    world.carrier.set_timeline(shipment.id, Timeline.PICKUP_EXPIRED)
    world.ship(shipment.id)
    (issued,) = world.invoices(order_id)
    assert not issued.is_void  # the invoice went with the parcel
    world.clock.advance(timedelta(hours=250))
    world.shop.track_shipment(TrackShipment(shipment_id=shipment.id))
    (voided,) = world.invoices(order_id)
    assert voided.number == issued.number
    assert voided.is_void


def test_invoicing_refuses_bad_wiring() -> None:
    numbers = TaiwanInvoiceNumbering([])
    with pytest.raises(InvalidInput, match="numbering"):
        Invoicing(object(), SELLER)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="seller"):
        Invoicing(numbers, "Four Flows")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="timing"):
        Invoicing(numbers, SELLER, timing="per_order")  # type: ignore[arg-type]


@settings(max_examples=30)  # each example builds a shop: fewer than the profile's
@given(
    refunds=st.lists(st.integers(min_value=1, max_value=800), min_size=1, max_size=4),
    late=st.integers(min_value=1, max_value=2000),
)
def test_credit_notes_never_exceed_the_invoice_and_account_for_every_refund(
    refunds: list[int], late: int
) -> None:
    world = World()
    order_id, payment_id = world.place(channel="store")
    world.shop.capture_payment(
        CapturePayment(idempotency_key="cap", payment_id=payment_id, amount=twd("1530"))
    )
    refunded = 0
    for number, amount in enumerate(refunds):
        if refunded + amount > 1530:
            break
        world.shop.refund_payment(
            RefundPayment(
                idempotency_key=f"r{number}",
                payment_id=payment_id,
                amount=twd(str(amount)),
                reason="partial",
            )
        )
        refunded += amount
    # a refund reported late, for any amount: at most what is left is credited
    (first, *_) = world.recorded(PaymentRefunded)
    assert isinstance(first, PaymentRefunded)
    world.redeliver(attrs.evolve(first, refund_id="late", amount=twd(str(late)), sequence=999))
    (invoice,) = world.invoices(order_id)
    notes = world.credit_notes(order_id)
    credited = sum_money((n.gross for n in notes), currency="TWD")
    assert credited <= invoice.gross
    for note in notes:  # each note's tax stays within its gross, per line
        assert all(line.tax <= line.gross for line in note.lines)
    assert invoice.left(notes) == invoice.gross - credited
    uncredited = sum_money((u.amount for u in world.uncredited(order_id)), currency="TWD")
    # every dollar given back is either on a credit note or noted as uncredited
    assert credited + uncredited == twd(str(refunded + late))
    assert uncredited == twd(str(max(refunded + late - 1530, 0)))
