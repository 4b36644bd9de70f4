"""The walkthrough `fourflows demo` prints: what the library can do so far."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fourflows.adapters.fake_carrier import FakeCarrier
from fourflows.adapters.fake_gateway import FakeGateway
from fourflows.adapters.fakes import FixedClock, SequentialIds
from fourflows.adapters.memory import MemoryStore, RecordingPublisher
from fourflows.adapters.stock import MemoryStockStore
from fourflows.app.bootstrap import in_memory_bus
from fourflows.app.checkout import CapturePayment, PlaceOrder
from fourflows.app.commands import CancelRefund, ConfirmRefund, RequestRefund
from fourflows.app.fulfilment import PackShipment, ShipShipment, TrackShipment
from fourflows.app.shop import Shop
from fourflows.cash.refund import Refund
from fourflows.commerce.cart import Cart, PricingContext
from fourflows.commerce.catalog import Catalog, Product
from fourflows.commerce.pricing import price_cart
from fourflows.commerce.promotions import FreeShippingPromotion, SpendThreshold
from fourflows.errors import FourFlowsError
from fourflows.events import Flow
from fourflows.geo import Address
from fourflows.logistics.inventory import StockLocation, StockPolicy
from fourflows.logistics.promise import BusinessCalendar, Origin
from fourflows.logistics.shipping import ShippingTable
from fourflows.machines import registered_machines
from fourflows.money import (
    Money,
    Precision,
    Rounding,
    allocate,
    format_money,
    round_money,
    sum_money,
)
from fourflows.tax import TaxTable

__all__ = ["demo_shop", "run"]

Out = Callable[[str], None]


def _heading(out: Out, title: str) -> None:
    out("")
    out(title)
    out("=" * len(title))


def _flows(out: Out) -> None:
    _heading(out, "The five flows")
    for flow in Flow:
        out(f"  {flow.value:<12} {flow.chinese}")


def _money(out: Out) -> None:
    _heading(out, "Money: exact, rounded on purpose, split without losing a cent")
    lines = {
        "T-shirt x2": Money("1180", "TWD"),
        "Socks x1": Money("350", "TWD"),
        "Jacket x1": Money("1290", "TWD"),
    }
    subtotal = sum_money(lines.values())
    discount = Money("100", "TWD")
    out(f"  cart subtotal {subtotal}; a {discount} discount spread over the lines by value:")
    parts = allocate(discount, list(lines.values()))
    for (label, amount), part in zip(lines.items(), parts, strict=True):
        out(f"    {label:<11} {amount!s:>9}  -{part!s:>9}")
    out(f"    the parts sum to {sum_money(parts)}, exactly the discount")
    three = allocate(Money("100", "TWD"), [1, 1, 1])
    out(f"  100 TWD in three equal parts: {', '.join(str(p) for p in three)}")
    half = Money("2.345", "USD")
    out(
        f"  {half} rounded half-up {round_money(half)}, "
        f"half-even {round_money(half, rounding=Rounding.HALF_EVEN)}"
    )
    price = Money("1234.5", "TWD")
    out(
        f"  {price}: minor unit {Precision.minor_unit('TWD')}, "
        f"cash {Precision.cash('TWD')} -> pay {round_money(price, Precision.cash('TWD'))} in cash"
    )
    chf = Money("9.97", "CHF")
    out(f"  {chf} paid in Swiss cash (steps of 0.05): {round_money(chf, Precision.cash('CHF'))}")
    for locale in ("en", "zh_TW", "zh_CN"):
        out(f"  shown in {locale:<5}: {format_money(price, locale, cash=True)}")
    try:
        Money(0.1, "TWD")
    except FourFlowsError as error:
        out(f"  Money(0.1, 'TWD') -> {type(error).__name__}: {error}")


def _machines(out: Out) -> None:
    _heading(out, "State machines, declared once as data")
    for machine in registered_machines():
        spec = machine.spec
        out(f"  {spec.name}: {spec.description}")
        out(
            f"    {len(spec.states)} states, {len(machine.table)} (state, event) moves; "
            f"final: {', '.join(spec.final)}"
        )
    out("  diagrams: fourflows diagram NAME  (Mermaid, drawn by `transitions` from the spec)")


def _cash_flow(out: Out) -> None:
    _heading(out, "A refund through the message bus (cash flow, 金流)")
    clock = FixedClock(datetime(2026, 11, 22, 10, 0, tzinfo=UTC))
    timeline = RecordingPublisher()
    store = MemoryStore()
    bus = in_memory_bus(
        store=store, clock=clock, ids=SequentialIds(), publishers={"timeline": timeline}
    )
    first = bus.handle(
        RequestRefund(
            payment_id="pay-0001",
            amount=Money("350", "TWD"),
            reason="socks arrived torn",
        )
    )
    clock.advance(timedelta(minutes=5))
    out(f"  {first}: {bus.handle(ConfirmRefund(refund_id=first, provider_ref='gw-8812'))}")
    second = bus.handle(
        RequestRefund(payment_id="pay-0002", amount=Money("1290", "TWD"), reason="changed mind")
    )
    clock.advance(timedelta(minutes=1))
    out(
        f"  {second}: "
        f"{bus.handle(CancelRefund(refund_id=second, reason='customer kept the jacket'))}"
    )
    try:
        bus.handle(CancelRefund(refund_id=first, reason="too late"))
    except FourFlowsError as error:
        out(f"  a wrong move is refused and changes nothing: {error}")
    with store.unit_of_work() as uow:
        kept = uow.repository(Refund).get(first)
        out(f"  {kept.id} is still {kept.state!r} at version {kept.version}")
    out("  timeline (every event committed, in order):")
    for event in timeline.events:
        out(
            f"    {event.occurred_at:%H:%M} {event.flow.chinese:<4} {event.aggregate_id} "
            f"#{event.sequence} {event.name()}"
        )


def _pricing(out: Out) -> None:
    _heading(out, "Pricing a cart (商流 + 物流 + 金流): promotions, shipping, promise, tax")

    def twd(amount: str) -> Money:
        return Money(amount, "TWD")

    cart = (
        Cart("TWD")
        .add(
            Product(
                sku="TEE-M", name="T-shirt", price=twd("590"), weight_g=200, size_cm=(30, 20, 3)
            ),
            2,
        )
        .add(
            Product(sku="SOCK", name="Socks", price=twd("350"), weight_g=80, size_cm=(20, 10, 2)), 1
        )
        .add(
            Product(sku="JKT", name="Jacket", price=twd("1290"), weight_g=900, size_cm=(40, 30, 8)),
            1,
        )
    )
    quote = price_cart(
        cart,
        context=PricingContext(at=datetime(2026, 11, 20, 4, 0, tzinfo=UTC)),
        tax=TaxTable.preset("TW"),
        precision=Precision.of(0),  # Taiwan prices and discounts are whole dollars
        promotions=[
            SpendThreshold(id="spend-1000", tiers=[(twd("1000"), twd("100"))]),
            FreeShippingPromotion(id="free-home", min_spend=twd("2000"), services={"home"}),
        ],
        shipping=ShippingTable.example_taiwan(),
        ship_to=Address(country="TW", city="Magong, Penghu", postal_code="880"),
        origin=Origin(
            id="taipei-dc", timezone="Asia/Taipei", cutoff="14:00", calendar=BusinessCalendar("TW")
        ),
    )
    for line in quote.explain().splitlines():
        out(f"  {line}")
    out("")
    for line in quote.explain("zh_TW").splitlines()[-4:]:
        out(f"  {line}")


def _checkout(out: Out) -> None:
    _heading(out, "Checkout through the Shop: a card order and a cash-on-delivery order")
    clock = FixedClock(datetime(2026, 11, 20, 4, 0, tzinfo=UTC))
    tee = Product(
        sku="TEE-M", name="T-shirt", price=Money("590", "TWD"), weight_g=200, size_cm=(30, 20, 3)
    )
    shop = Shop.in_memory(
        catalog=Catalog([tee]),
        tax=TaxTable.preset("TW"),
        shipping=ShippingTable.example_taiwan(),
        gateway=FakeGateway(clock),
        clock=clock,
        ids=SequentialIds(),
    )
    taipei = {"country": "TW", "city": "Taipei", "postal_code": "106"}
    for key, method in (("web-1", "card"), ("web-2", "cash_on_delivery")):
        placed = shop.place_order(
            PlaceOrder(
                idempotency_key=key,
                items={"TEE-M": 2},
                ship_to=taipei,
                service="home",
                payment_method=method,
                payment_token="fake-card-approve",
            )
        )
        assert placed.payment_id is not None
        total = shop.order(placed.order_id).totals.total
        out(
            f"  {placed.order_id} ({method}, {total}): {placed.outcome}, order "
            f"{placed.order_state}, money {shop.payment_status(placed.order_id).value}"
        )
        shop.capture_payment(
            CapturePayment(
                idempotency_key=f"{key}-ship", payment_id=placed.payment_id, amount=total
            )
        )
        how = "collected by the carrier" if method == "cash_on_delivery" else "captured at shipment"
        out(f"    {how}: money {shop.payment_status(placed.order_id).value}")


def _fulfilment(out: Out) -> Shop:
    _heading(out, "Fulfilment (物流 + 金流): reserve, ship, deliver, collect")
    start = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    clock = FixedClock(start)
    tee = Product(
        sku="TEE-M", name="T-shirt", price=Money("590", "TWD"), weight_g=200, size_cm=(30, 20, 3)
    )
    stock = MemoryStockStore([StockLocation(id="tpe", name="Taipei")], [StockPolicy(sku="TEE-M")])
    stock.receive("TEE-M", "tpe", 10, reference="po-1", at=start)
    shop = Shop.in_memory(
        catalog=Catalog([tee]),
        tax=TaxTable.preset("TW"),
        shipping=ShippingTable.example_taiwan(),
        gateway=FakeGateway(clock),
        clock=clock,
        ids=SequentialIds(),
        stock=stock,
        locations={"tpe": Address(country="TW", city="Taipei", postal_code="114")},
        carriers=[FakeCarrier("tw-post", clock)],
    )

    def on_hand() -> str:
        level = stock.level("TEE-M", "tpe")
        return f"{level.on_hand} on hand, {level.reserved} reserved"

    out(f"  T-shirts in the Taipei warehouse: {on_hand()}")
    taipei = {"country": "TW", "city": "Taipei", "postal_code": "106"}
    for key, method in (("web-11", "card"), ("web-12", "cash_on_delivery")):
        placed = shop.place_order(
            PlaceOrder(
                idempotency_key=key,
                items={"TEE-M": 2},
                ship_to=taipei,
                service="home",
                payment_method=method,
                payment_token="fake-card-approve",
            )
        )
        order_id = placed.order_id
        total = shop.order(order_id).totals.total
        out(f"  {order_id} ({method}, {total}): {placed.outcome}; stock {on_hand()}")
        (shipment,) = shop.shipments_of(order_id)
        shop.pack_shipment(PackShipment(shipment_id=shipment.id))
        shipped = shop.ship_shipment(
            ShipShipment(idempotency_key=f"{key}-ship", shipment_id=shipment.id, carrier="tw-post")
        )
        out(
            f"    shipped as {shipped.tracking_number}: captured "
            f"{shop.figures(order_id).captured}; stock {on_hand()}"
        )
        clock.advance(timedelta(hours=30))  # the fake carrier delivers 28 hours after booking
        tracked = shop.track_shipment(TrackShipment(shipment_id=shipment.id))
        arrived = shop.shipment(shipment.id).arrived_at
        assert arrived is not None
        collected = shop.shipment(shipment.id).cod_collected
        cash = "" if collected is None else f", cash collected {collected}"
        out(
            f"    {tracked.state} {arrived:%m-%d %H:%M} UTC{cash}: order "
            f"{shop.order(order_id).state}, money {shop.payment_status(order_id).value}"
        )
    return shop


def demo_shop() -> Shop:
    """The shop of the demo's fulfilment section, after its card and cash-on-delivery orders."""
    return _fulfilment(lambda _: None)


def _books(out: Out, shop: Shop) -> None:
    _heading(out, "The books (金流): every movement of money, in double entry")
    out("  The trial balance after the two orders above:")
    for line in shop.trial_balance().format().splitlines():
        out(f"    {line}")
    differences = shop.reconcile()
    out(
        f"  balanced: {shop.trial_balance().is_balanced}; ledger agrees with the payments: "
        f"{not differences}"
    )


def run(out: Out = print) -> None:
    """Print the walkthrough through ``out``."""
    out("fourflows: the four flows of e-commerce, and after-sales service")
    _flows(out)
    _money(out)
    _pricing(out)
    _machines(out)
    _cash_flow(out)
    _checkout(out)
    _books(out, _fulfilment(out))
    out("")
