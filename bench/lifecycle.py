"""Benchmark of the order-and-payment lifecycle in memory: orders per second, and ratios.

Two levels, each raced side by side with a plain-Python contender in one run,
as in `bench.kernel`: each round times one batch of every contender, in an
order that rotates from round to round, with the garbage collector paused and
the inputs (the quote, the ids, the commands, the shop) built before the clock
starts.

1. The domain: place an order from a pre-built quote, create a card payment,
   authorise it, capture it in full, mark the order paid, allocate every line,
   ship everything, deliver it and complete the order, through the aggregates
   directly. The plain contender does the same steps with plain classes: state
   strings moved through a dict table, Decimal amounts, a list of event tuples,
   and the same checks (amount guards, one event per step).
2. The `Shop` facade over `Shop.in_memory` and a `FakeGateway`: ``place_order``
   (card) then ``capture_payment``. Its ratio to level 1 shows what the
   application layer adds; a third contender runs the domain steps the shop
   runs (pricing the cart included) so the application layer's own share can
   be read like for like.

A cProfile run of the domain lifecycle, untimed by the race, splits out the
kernel's dispatch (`StateMachine._move`, which `fire` and every aggregate's `_fire` run, less
the event construction inside it).

The structural facts: every timed lifecycle ends completed and captured with
the expected number of events, and no state machine is built while timing.
"""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bench.kernel import (
    Batch,
    Figure,
    Prepare,
    Race,
    Section,
    Settings,
    _at_most,
    _count_machine_builds,
    _exactly,
    _race,
    _reference,
)
from fourflows.adapters.fake_gateway import FakeGateway
from fourflows.adapters.fakes import FixedClock, SequentialIds
from fourflows.app.checkout import CapturePayment, PlaceOrder, ShopResult
from fourflows.app.shop import Shop
from fourflows.cash.payment import Payment, PaymentMethod
from fourflows.commerce.cart import Cart, Channel, Customer, PricingContext
from fourflows.commerce.catalog import Catalog, Product
from fourflows.commerce.order import ORDER_MACHINE, Order, PaymentFigures
from fourflows.commerce.pricing import Quote, price_cart
from fourflows.geo import Address
from fourflows.logistics.shipping import ShippingTable
from fourflows.machines import StateMachine
from fourflows.money import Money
from fourflows.tax import TaxTable

__all__ = [
    "FULL_PLAN",
    "QUICK_PLAN",
    "LifecyclePlan",
    "PlainOrder",
    "PlainPayment",
    "Rate",
    "Share",
    "domain_lifecycle",
    "plain_lifecycle",
    "run_lifecycle",
]

# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class LifecyclePlan:
    """How many orders each batch takes through, and how many rounds."""

    batch: int  # orders per timed batch, every contender
    rounds: int
    profiled: int  # domain lifecycles run under cProfile for the split


FULL_PLAN = LifecyclePlan(batch=100, rounds=11, profiled=500)
QUICK_PLAN = LifecyclePlan(batch=20, rounds=3, profiled=100)

DOMAIN_AIM = 10.0  # kernel-domain lifecycle / plain lifecycle; the prototype ran at ~19x
PROTOTYPE = "a prototype of the shared-machine pattern ran about 19x, transitions taking 79%"


def plan_for(settings: Settings) -> LifecyclePlan:
    """The lifecycle plan of a kernel run's settings: quick for the quick run, else full."""
    return QUICK_PLAN if settings.name == "quick" else FULL_PLAN


# --------------------------------------------------------------------------- fixtures

AT = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # noon in Taipei
TAX = TaxTable.preset("TW")
TABLE = ShippingTable.example_taiwan()
TAIPEI = {"country": "TW", "city": "Taipei", "postal_code": "106"}
SHIP_TO = Address(country="TW", city="Taipei", postal_code="106")
PRODUCTS = (
    Product(
        sku="TEE-M", name="T-shirt", price=Money("590", "TWD"), weight_g=200, size_cm=(30, 20, 3)
    ),
    Product(sku="MUG", name="Mug", price=Money("350", "TWD"), weight_g=400, size_cm=(12, 12, 10)),
)
ITEMS = {"TEE-M": 2, "MUG": 1}
SERVICE = "home"
CONTEXT = PricingContext(at=AT, customer=Customer(id="cust-0001"), channel=Channel.WEB)
ORDER_EVENTS = 5 + len(ITEMS)  # placed, paid, one allocation per line, shipped, delivered, done
PAYMENT_EVENTS = 3  # created, authorised, captured
LIFECYCLE_EVENTS = (ORDER_EVENTS, PAYMENT_EVENTS)
SHOP_EVENTS = (2, 3)  # order: placed, paid; payment: created, authorised, captured


def cart() -> Cart:
    made = Cart("TWD")
    for product in PRODUCTS:
        made = made.add(product, ITEMS[product.sku])
    return made


def quote() -> Quote:
    """The quote every domain lifecycle places its order from (built untimed)."""
    return price_cart(
        cart(), context=CONTEXT, tax=TAX, shipping=TABLE, ship_to=SHIP_TO, service=SERVICE
    )


# --------------------------------------------------------------------------- level 1: domain


def domain_lifecycle(quote: Quote, n: str) -> tuple[Order, Payment]:
    """One order through the aggregates, from placement to completion, paid by card."""
    order = Order.place(id=f"order-{n}", quote=quote, at=AT)
    total = order.totals.total
    payment = Payment.create(
        id=f"pay-{n}", order_id=order.id, method=PaymentMethod.CARD, amount=total, at=AT
    )
    payment.authorize(amount=total, at=AT, provider_ref=f"auth-{n}")
    payment.capture_succeeded(capture_id=f"cap-{n}", amount=total, at=AT, provider_ref=f"ch-{n}")
    sums = payment.totals
    figures = PaymentFigures(
        authorized=sums.held,
        captured=sums.captured,
        refunded=sums.refunded,
        credit_issued=Money(0, order.currency),
    )
    order.mark_paid(figures, at=AT)
    for line in order.lines:
        order.allocate(line.index, line.quantity, allocation_id=f"al-{n}-{line.index}", at=AT)
    order.record_shipment(f"sh-{n}", {line.index: line.quantity for line in order.lines}, at=AT)
    order.record_delivery(f"sh-{n}", at=AT)
    order.complete(at=AT)
    return order, payment


def shop_steps(priced: Callable[[], Quote], n: str) -> tuple[Order, Payment]:
    """The domain steps the shop runs for place_order + capture_payment, pricing included."""
    order = Order.place(id=f"order-{n}", quote=priced(), at=AT)
    total = order.totals.total
    payment = Payment.create(
        id=f"pay-{n}", order_id=order.id, method=PaymentMethod.CARD, amount=total, at=AT
    )
    payment.authorize(amount=total, at=AT, provider_ref=f"auth-{n}")
    sums = payment.totals
    zero = Money(0, order.currency)
    order.mark_paid(
        PaymentFigures(
            authorized=sums.held, captured=sums.captured, refunded=zero, credit_issued=zero
        ),
        at=AT,
    )
    payment.capture_succeeded(capture_id=f"cap-{n}", amount=total, at=AT, provider_ref=f"ch-{n}")
    return order, payment


# --------------------------------------------------------------------------- the plain contender


class Refused(Exception):
    """A plain move or guard refused."""


PLAIN_ORDER_MOVES = {
    ("pending_payment", "pay"): "awaiting_fulfilment",
    ("awaiting_fulfilment", "allocate"): "awaiting_fulfilment",
    ("partially_shipped", "allocate"): "partially_shipped",
    ("awaiting_fulfilment", "ship_part"): "partially_shipped",
    ("partially_shipped", "ship_part"): "partially_shipped",
    ("awaiting_fulfilment", "ship_all"): "shipped",
    ("partially_shipped", "ship_all"): "shipped",
    ("shipped", "deliver_part"): "shipped",
    ("shipped", "deliver_all"): "delivered",
    ("delivered", "complete"): "completed",
}
PLAIN_PAYMENT_MOVES = {
    ("pending", "authorize"): "authorized",
    ("authorized", "capture_part"): "partially_captured",
    ("partially_captured", "capture_part"): "partially_captured",
    ("authorized", "capture_all"): "captured",
    ("partially_captured", "capture_all"): "captured",
}

# What the plain order is placed from: (sku, quantity, line total) per line, shipping, total.
PlainQuote = tuple[tuple[tuple[str, int, Decimal], ...], Decimal, Decimal]


class PlainOrder:
    """An order as plain Python: a state string, Decimal amounts, counters in lists."""

    __slots__ = (
        "allocated",
        "events",
        "id",
        "lines",
        "shipments",
        "skus",
        "state",
        "total",
        "version",
    )

    def __init__(self, id: str, quoted: PlainQuote, at: datetime) -> None:
        lines, shipping, total = quoted
        if sum(line[2] for line in lines) + shipping != total:
            raise Refused("the quote does not add up")
        self.id = id
        self.state = "pending_payment"
        self.version = 1
        self.skus = [sku for sku, _, _ in lines]
        self.lines = [
            [qty, 0, 0, 0] for _, qty, _ in lines
        ]  # ordered, allocated, shipped, delivered
        self.total = total
        self.allocated: dict[str, tuple[int, int]] = {}
        self.shipments: dict[str, dict[int, int]] = {}
        self.events: list[tuple[Any, ...]] = [("placed", id, 1, at, total, len(lines))]

    def _move(self, event: str, at: datetime, *data: Any) -> None:
        dest = PLAIN_ORDER_MOVES.get((self.state, event))
        if dest is None:
            raise Refused(f"{event} from {self.state}")
        self.version += 1
        self.events.append((event, self.id, self.version, at, *data))
        self.state = dest

    def mark_paid(self, captured: Decimal, authorized: Decimal, at: datetime) -> None:
        if captured + authorized < self.total:
            raise Refused("payment does not cover the total")
        self._move("pay", at, captured, authorized)

    def allocate(self, index: int, qty: int, allocation_id: str, at: datetime) -> None:
        line = self.lines[index]
        if qty < 1 or qty > line[0] - line[1]:
            raise Refused("too many to allocate")
        self._move("allocate", at, allocation_id, index, self.skus[index], qty)
        line[1] += qty
        self.allocated[allocation_id] = (index, qty)

    def ship(self, shipment_id: str, items: dict[int, int], at: datetime) -> None:
        for index, qty in items.items():
            line = self.lines[index]
            if qty < 1 or qty > line[1] - line[2]:
                raise Refused("ships units not allocated")
        every = all(
            line[2] + items.get(index, 0) >= line[0] for index, line in enumerate(self.lines)
        )
        self._move("ship_all" if every else "ship_part", at, shipment_id, items)
        for index, qty in items.items():
            self.lines[index][2] += qty
        self.shipments[shipment_id] = items

    def deliver(self, shipment_id: str, at: datetime) -> None:
        items = self.shipments[shipment_id]
        every = all(
            line[3] + items.get(index, 0) >= line[0] for index, line in enumerate(self.lines)
        )
        self._move("deliver_all" if every else "deliver_part", at, shipment_id, items)
        for index, qty in items.items():
            self.lines[index][3] += qty

    def complete(self, at: datetime) -> None:
        self._move("complete", at)


class PlainPayment:
    """A card payment as plain Python: a state string, Decimal amounts, event tuples."""

    __slots__ = ("amount", "authorized", "captured", "events", "id", "order_id", "state", "version")

    def __init__(self, id: str, order_id: str, amount: Decimal, at: datetime) -> None:
        if amount <= 0:
            raise Refused("a payment is for more than nothing")
        self.id = id
        self.order_id = order_id
        self.state = "pending"
        self.version = 1
        self.amount = amount
        self.authorized = Decimal(0)
        self.captured = Decimal(0)
        self.events: list[tuple[Any, ...]] = [("created", id, 1, at, order_id, amount)]

    def _move(self, event: str, at: datetime, *data: Any) -> None:
        dest = PLAIN_PAYMENT_MOVES.get((self.state, event))
        if dest is None:
            raise Refused(f"{event} from {self.state}")
        self.version += 1
        self.events.append((event, self.id, self.version, at, self.order_id, *data))
        self.state = dest

    def authorize(self, amount: Decimal, provider_ref: str, at: datetime) -> None:
        if amount <= 0 or amount > self.amount:
            raise Refused("authorisation out of range")
        self._move("authorize", at, amount, provider_ref)
        self.authorized = amount

    def capture(self, capture_id: str, amount: Decimal, provider_ref: str, at: datetime) -> None:
        room = self.authorized - self.captured
        if amount <= 0 or amount > room:
            raise Refused("capture above what is authorised")
        self._move("capture_all" if amount == room else "capture_part", at, capture_id, amount)
        self.captured += amount


def plain_quote(priced: Quote) -> PlainQuote:
    """The quote's figures as plain values (built untimed, as the quote itself is)."""
    lines = tuple((line.sku, line.quantity, line.gross.amount) for line in priced.lines)
    return lines, priced.shipping_fee.amount, priced.total.amount


def plain_lifecycle(quoted: PlainQuote, n: str) -> tuple[PlainOrder, PlainPayment]:
    """The same steps as `domain_lifecycle`, on the plain classes."""
    order = PlainOrder(f"order-{n}", quoted, AT)
    payment = PlainPayment(f"pay-{n}", order.id, order.total, AT)
    payment.authorize(order.total, f"auth-{n}", AT)
    payment.capture(f"cap-{n}", order.total, f"ch-{n}", AT)
    order.mark_paid(payment.captured, payment.authorized - payment.captured, AT)
    for index, line in enumerate(order.lines):
        order.allocate(index, line[0], f"al-{n}-{index}", AT)
    order.ship(f"sh-{n}", {index: line[0] for index, line in enumerate(order.lines)}, AT)
    order.deliver(f"sh-{n}", AT)
    order.complete(AT)
    return order, payment


# --------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class Rate(Figure):
    """Orders per second, shown as context: absolute, never a claim."""

    @property
    def shown(self) -> str:
        return f"{self.value:,.0f} /s"


@dataclass(frozen=True)
class Share(Figure):
    """A share of profiled time, in per cent: context, never a claim."""

    @property
    def shown(self) -> str:
        return f"{self.value:.1f} %"


def _rate(key: str, label: str, race: Race, name: str) -> Rate:
    best = race.best(name)
    return Rate(key, label, 1e9 / best, "orders/s", "context", None, f"{best / 1000:,.1f} µs/order")


# --------------------------------------------------------------------------- contenders

PLAIN = "plain Python: dict table, Decimal, event tuples"
DOMAIN = "fourflows aggregates: Order + Payment, full lifecycle"
STEPS = "fourflows aggregates: the shop's steps, cart priced"
SHOP = "Shop facade: place_order (card) + capture_payment"


@dataclass
class Tally:
    """Lifecycles each contender ran, and those that did not end as they must."""

    ran: dict[str, int]
    wrong: list[str]

    def check(self, name: str, ok: bool) -> None:
        self.ran[name] = self.ran.get(name, 0) + 1
        if not ok:
            self.wrong.append(name)


def _ended(order: Order | PlainOrder, payment: Payment | PlainPayment, shop_steps: bool) -> bool:
    """Whether one lifecycle ended where it must, with one event recorded per step."""
    if isinstance(order, PlainOrder) and isinstance(payment, PlainPayment):
        events = (len(order.events), len(payment.events))
    elif isinstance(order, Order) and isinstance(payment, Payment):
        events = (len(order.pending_events), len(payment.pending_events))
    else:
        return False
    if shop_steps:
        return (order.state, payment.state, events) == (
            "awaiting_fulfilment",
            "captured",
            SHOP_EVENTS,
        )
    return (order.state, payment.state, events) == ("completed", "captured", LIFECYCLE_EVENTS)


def _contenders(priced: Quote, tally: Tally) -> list[tuple[str, Prepare]]:
    quoted = plain_quote(priced)
    total = priced.total
    rounds = [0]

    def numbers(count: int) -> list[str]:
        rounds[0] += 1
        return [f"{rounds[0]:04d}-{i:06d}" for i in range(count)]

    def plain(count: int) -> Batch:
        ns = numbers(count)
        done: list[tuple[PlainOrder, PlainPayment]] = []

        def work() -> None:
            for n in ns:
                done.append(plain_lifecycle(quoted, n))

        return Batch(work, lambda: _check(PLAIN, done, shop=False))

    def domain(count: int) -> Batch:
        ns = numbers(count)
        done: list[tuple[Order, Payment]] = []

        def work() -> None:
            for n in ns:
                done.append(domain_lifecycle(priced, n))

        return Batch(work, lambda: _check(DOMAIN, done, shop=False))

    def steps(count: int) -> Batch:
        ns = numbers(count)
        done: list[tuple[Order, Payment]] = []

        def work() -> None:
            for n in ns:
                done.append(shop_steps(quote, n))

        return Batch(work, lambda: _check(STEPS, done, shop=True))

    def shop(count: int) -> Batch:
        clock = FixedClock(AT)
        facade = Shop.in_memory(
            catalog=Catalog(PRODUCTS),
            tax=TAX,
            shipping=TABLE,
            gateway=FakeGateway(clock),
            clock=clock,
            ids=SequentialIds(width=7),
        )
        places = [
            PlaceOrder(
                idempotency_key=f"place-{i}",
                items=ITEMS,
                customer_id="cust-0001",
                ship_to=TAIPEI,
                service=SERVICE,
                payment_token="fake-card-approve",
            )
            for i in range(count)
        ]
        captures = [
            CapturePayment(
                idempotency_key=f"capture-{i}", payment_id=f"payment-{i + 1:07d}", amount=total
            )
            for i in range(count)
        ]
        results: list[tuple[ShopResult, ShopResult]] = []

        def work() -> None:
            for place, capture in zip(places, captures, strict=True):
                results.append((facade.place_order(place), facade.capture_payment(capture)))

        def done() -> bool:
            ended = [
                (facade.order(placed.order_id), facade.payment(captured.payment_id or ""))
                for placed, captured in results
                if placed.outcome == "authorized" and captured.outcome == "captured"
            ]
            for order, payment in ended:
                tally.check(SHOP, _ended_versions(order, payment))
            for _ in range(len(results) - len(ended)):
                tally.check(SHOP, False)
            return len(results) == count

        return Batch(work, done)

    def _check(name: str, done: Sequence[tuple[Any, Any]], *, shop: bool) -> bool:
        for order, payment in done:
            tally.check(name, _ended(order, payment, shop))
        return bool(done)

    return [(PLAIN, plain), (DOMAIN, domain), (STEPS, steps), (SHOP, shop)]


def _ended_versions(order: Order, payment: Payment) -> bool:
    """A shop lifecycle as committed: the order paid, the payment captured, 2 + 3 events."""
    return (order.state, payment.state, (order.version, payment.version)) == (
        "awaiting_fulfilment",
        "captured",
        SHOP_EVENTS,
    )


# --------------------------------------------------------------------------- profile split


@dataclass(frozen=True)
class Split:
    """Where the domain lifecycle's time went, from cProfile (shares of the whole)."""

    fire: float  # StateMachine._move (what fire and Aggregate._fire run), everything under it
    construction: float  # event construction (machines._record) called by _move
    start: float  # StateMachine.start (the creation events)
    choose: float  # StateMachine._choose called by _move: table lookup and guards
    apply: float  # Aggregate._apply called by _move
    covers: float  # the payment_covers_total guard (it reads Order.totals)
    steps: list[tuple[str, float, float]]  # each lifecycle step: (method, own %, cumulative %)
    top: list[tuple[str, float, float]]  # most own time: (function, own %, cumulative %)

    @property
    def dispatch(self) -> float:
        return self.fire - self.construction


STEP_METHODS = (
    ("place", "fourflows/commerce/order.py", "Order.place"),
    ("create", "fourflows/cash/payment.py", "Payment.create"),
    ("authorize", "fourflows/cash/payment.py", "Payment.authorize"),
    ("capture_succeeded", "fourflows/cash/payment.py", "Payment.capture_succeeded"),
    ("mark_paid", "fourflows/commerce/order.py", "Order.mark_paid"),
    ("allocate", "fourflows/commerce/order.py", "Order.allocate (x2)"),
    ("record_shipment", "fourflows/commerce/order.py", "Order.record_shipment"),
    ("record_delivery", "fourflows/commerce/order.py", "Order.record_delivery"),
    ("complete", "fourflows/commerce/order.py", "Order.complete"),
    ("totals", "fourflows/commerce/order.py", "Order.totals (property, read within the steps)"),
)


def _where(func: tuple[str, int, str]) -> str:
    path, line, name = func
    if path == "~":
        return name
    short = path.rsplit("/src/", 1)[-1].rsplit("site-packages/", 1)[-1]
    return f"{name} ({short}:{line})"


def profile_split(priced: Quote, lifecycles: int) -> Split:
    """Run ``lifecycles`` domain lifecycles under cProfile and split the time."""
    ns = [f"prof-{i:06d}" for i in range(lifecycles)]
    profiler = cProfile.Profile()
    profiler.enable()
    for n in ns:
        domain_lifecycle(priced, n)
    profiler.disable()
    stats: Any = pstats.Stats(profiler)
    table: dict[tuple[str, int, str], Any] = stats.stats
    total = float(stats.total_tt)

    def find(name: str, module: str) -> tuple[str, int, str] | None:
        for func in table:
            if func[2] == name and func[0].endswith(module):
                return func
        return None

    fire = find("_move", "fourflows/machines.py")
    start = find("start", "fourflows/machines.py")
    record = find("_record", "fourflows/machines.py")
    choose = find("_choose", "fourflows/machines.py")
    apply = find("_apply", "fourflows/aggregates.py")
    covers = find("_covers_total", "fourflows/commerce/order.py")
    fire_ct = table[fire][3] if fire else 0.0
    start_ct = table[start][3] if start else 0.0

    def under_fire(func: tuple[str, int, str] | None) -> float:
        if func is None or fire is None:
            return 0.0
        return float(table[func][4].get(fire, (0, 0, 0.0, 0.0))[3])

    steps = []
    for name, module, label in STEP_METHODS:
        func = find(name, module)
        if func is not None:
            steps.append((label, 100 * table[func][2] / total, 100 * table[func][3] / total))
    ranked = sorted(table.items(), key=lambda item: item[1][2], reverse=True)[:8]
    top = [(_where(func), 100 * row[2] / total, 100 * row[3] / total) for func, row in ranked]
    return Split(
        fire=100 * fire_ct / total,
        construction=100 * under_fire(record) / total,
        start=100 * start_ct / total,
        choose=100 * under_fire(choose) / total,
        apply=100 * under_fire(apply) / total,
        covers=100 * (table[covers][3] if covers else 0.0) / total,
        steps=steps,
        top=top,
    )


# --------------------------------------------------------------------------- sections


def bench_lifecycle(settings: Settings) -> list[Section]:
    """6. The domain lifecycle against plain Python; 7. where its time goes; 8. the Shop."""
    plan = plan_for(settings)
    priced = quote()
    domain_lifecycle(priced, "warm")  # first-call caches are not per-order costs
    tally = Tally({}, [])
    race_settings = replace(settings, batch=plan.batch, rounds=plan.rounds)
    with _count_machine_builds() as calls:
        race = _race(_contenders(priced, tally), race_settings)
        built = calls[0]
        StateMachine(ORDER_MACHINE.spec)
        self_check = calls[0] - built
    split = profile_split(priced, plan.profiled)

    domain = Section(
        key="lifecycle.domain",
        title="6. Order-and-payment lifecycle in memory",
        method=(
            f"Each contender takes {plan.batch:,} orders per batch through their life, "
            f"{plan.rounds} rounds, contenders rotated each round, gc paused, inputs built "
            "untimed. Domain: Order.place from a pre-built quote (2 lines, home delivery in "
            "Taipei), Payment.create (card), authorize, capture_succeeded in full, mark_paid "
            "(PaymentFigures from the payment's totals), allocate each line, record_shipment of "
            "everything, record_delivery, complete: "
            f"{sum(LIFECYCLE_EVENTS)} events. Plain: the same steps and guards on __slots__ "
            "classes with state strings moved through a dict table, Decimal amounts and event "
            "tuples, placed from the quote's figures as plain values. Shop: Shop.in_memory "
            "(MemoryStore, FakeGateway approving, fixed clock) built untimed per batch; "
            "place_order (prices the cart, places, creates and authorises the payment, marks "
            "the order paid by policy) then capture_payment, commands built untimed. 'Shop's "
            "steps' runs the domain calls those two commands make, pricing included, with no "
            "unit of work, idempotency record, outbox or bus. Every lifecycle is checked "
            "after its batch; transitions.Machine.__init__ is counted across the whole race."
        ),
        header=("contender", "best µs/order", "median µs/order"),
    )
    domain.rows.extend(race.rows())
    domain.figures += [
        _at_most(
            "lifecycle.domain_vs_plain",
            "domain lifecycle / plain Python",
            race.ratio(DOMAIN, PLAIN),
            DOMAIN_AIM,
            f"{race.detail(DOMAIN, PLAIN)}; {PROTOTYPE}",
        ),
        _rate("lifecycle.domain_rate", "domain lifecycles per second", race, DOMAIN),
        _rate("lifecycle.plain_rate", "plain lifecycles per second", race, PLAIN),
        _rate("lifecycle.shop_rate", "Shop orders per second (place + capture)", race, SHOP),
        _reference(
            "lifecycle.shop_vs_domain",
            "Shop place + capture / domain lifecycle",
            race.ratio(SHOP, DOMAIN),
            race.detail(SHOP, DOMAIN),
        ),
        _reference(
            "lifecycle.shop_vs_steps",
            "Shop place + capture / the same domain steps",
            race.ratio(SHOP, STEPS),
            f"{race.detail(SHOP, STEPS)}; the application layer's own cost",
        ),
        _exactly(
            "lifecycle.wrong_end",
            "timed lifecycles not ending as they must (state, event count)",
            len(tally.wrong),
            0,
        ),
        _exactly(
            "lifecycle.unchecked",
            "contenders with no lifecycle checked",
            sum(1 for name in (PLAIN, DOMAIN, STEPS, SHOP) if not tally.ran.get(name)),
            0,
        ),
        _exactly("lifecycle.machines_built", "machines built while timing", built, 0),
        _exactly(
            "lifecycle.probe_self_check",
            "lifecycle probe self-check: building one StateMachine counts",
            self_check,
            1,
        ),
    ]

    where = Section(
        key="lifecycle.profile",
        title="7. Where the domain lifecycle's time goes (cProfile)",
        method=(
            f"{plan.profiled:,} domain lifecycles under cProfile, outside the race (profiling "
            "inflates small calls, so these are shares, not times). Dispatch is "
            "StateMachine._move (what fire and every Aggregate._fire run) less the event "
            "construction (machines._record) it calls: the table lookup, the guards and "
            "Aggregate._apply."
        ),
        header=("lifecycle steps, then most own time", "own %", "cumulative %"),
    )
    where.rows += [
        (name, f"{own:.1f}", f"{cum:.1f}") for name, own, cum in (*split.steps, *split.top)
    ]
    where.figures += [
        Share(
            "lifecycle.dispatch_share",
            "kernel dispatch (fire less event construction)",
            split.dispatch,
            "%",
            "context",
            None,
            f"lookup + guards (_choose) {split.choose:.1f} %, of which the "
            f"payment_covers_total guard (reads Order.totals) {split.covers:.1f} %; "
            f"_apply {split.apply:.1f} %; "
            "the prototype's transitions took 79%",
        ),
        Share(
            "lifecycle.fire_share",
            "StateMachine.fire/_move, everything under it",
            split.fire,
            "%",
            "context",
            None,
            f"of which event construction {split.construction:.1f} %",
        ),
        Share(
            "lifecycle.start_share",
            "StateMachine.start (creation events)",
            split.start,
            "%",
            "context",
            None,
        ),
    ]
    return [domain, where]


def run_lifecycle(settings: Settings) -> list[Section]:
    """The lifecycle sections for ``settings``."""
    return bench_lifecycle(settings)
