"""Random sequences of order commands, with the order's promises checked after every step.

Commands are drawn with good and bad data alike (unknown lines, too many units, covering
and short payments, stale changes). After each one: the line counters keep their
invariants, the fulfilment status agrees with the counters and with the state, every
move is a declared transition recording exactly one event, a refused command changes
nothing, and repeating the last command changes nothing.
"""

from __future__ import annotations

import contextlib
import functools
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from fourflows import FourFlowsError, Money
from fourflows.commerce.cart import Cart, Customer, PricingContext
from fourflows.commerce.catalog import Product
from fourflows.commerce.order import (
    ORDER_MACHINE,
    FulfilmentStatus,
    Order,
    OrderChange,
    PaymentFigures,
    PaymentPlan,
)
from fourflows.commerce.pricing import Quote, price_cart
from fourflows.commerce.promotions import SpendThreshold
from fourflows.events import DomainEvent
from fourflows.geo import Address
from fourflows.logistics.shipping import ShippingTable
from fourflows.tax import TaxTable

TEE = Product(
    sku="TEE-M", name="T-shirt", price=Money("590", "TWD"), weight_g=200, size_cm=(30, 20, 3)
)
SOCKS = Product(
    sku="SOCK", name="Socks", price=Money("350", "TWD"), weight_g=80, size_cm=(20, 10, 2)
)
START = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
CONTEXT = PricingContext(at=START, customer=Customer(id="c-1"))
TW = TaxTable.preset("TW")
TABLE = ShippingTable.example_taiwan()
SPEND_1000 = SpendThreshold(id="spend-1000", tiers=[(Money("1000", "TWD"), Money("100", "TWD"))])
TAIPEI = Address(country="TW", city="Taipei", postal_code="106")
PENGHU = Address(country="TW", city="Magong", postal_code="880")


@functools.cache
def quote(tee: int, socks: int, service: str, ship_to: Address, cod: bool) -> Quote | None:
    """The cart priced as the application would; None when it cannot be priced."""
    cart = Cart("TWD")
    if tee:
        cart = cart.add(TEE, tee)
    if socks:
        cart = cart.add(SOCKS, socks)
    try:
        return price_cart(
            cart,
            context=CONTEXT,
            tax=TW,
            promotions=[SPEND_1000],
            shipping=TABLE,
            ship_to=ship_to,
            service=service,
            cod=cod,
        )
    except FourFlowsError:
        return None


# The states a fulfilment status may show in, and the state a hold remembers.
ALLOWED_FULFILMENT = {
    "pending_payment": {FulfilmentStatus.UNFULFILLED},
    "awaiting_fulfilment": {
        FulfilmentStatus.UNFULFILLED,
        FulfilmentStatus.PARTIALLY_ALLOCATED,
        FulfilmentStatus.ALLOCATED,
    },
    "partially_shipped": {FulfilmentStatus.PARTIALLY_SHIPPED},
    "shipped": {FulfilmentStatus.SHIPPED, FulfilmentStatus.PARTIALLY_DELIVERED},
    "delivered": {FulfilmentStatus.DELIVERED},
    "completed": {FulfilmentStatus.DELIVERED},
    "canceled": {FulfilmentStatus.CANCELED},
}

line_keys = st.sampled_from([0, 1, 2, "TEE-M", "SOCK", "HAT"])
quantities = st.integers(-1, 3)
reasons = st.sampled_from(["fraud review", "address check", " "])
money_kinds = st.sampled_from(["nothing", "authorize", "capture", "split", "short", "refunded"])


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


def expected_fulfilment(order: Order) -> FulfilmentStatus:
    """The status worked out again here, line by line, from the counters."""
    open_units = [line.counts.ordered - line.counts.canceled for line in order.lines]
    shipped = [line.counts.shipped for line in order.lines]
    arrived = [line.counts.delivered + line.counts.written_off for line in order.lines]
    allocated = [line.counts.allocated for line in order.lines]
    if not any(open_units):
        return FulfilmentStatus.CANCELED
    if arrived == open_units:
        return FulfilmentStatus.DELIVERED
    if shipped == open_units:
        return FulfilmentStatus.PARTIALLY_DELIVERED if any(arrived) else FulfilmentStatus.SHIPPED
    if any(shipped):
        return FulfilmentStatus.PARTIALLY_SHIPPED
    if allocated == open_units:
        return FulfilmentStatus.ALLOCATED
    if any(allocated):
        return FulfilmentStatus.PARTIALLY_ALLOCATED
    return FulfilmentStatus.UNFULFILLED


class OrderLifecycle(RuleBasedStateMachine):
    """Drives one order with random commands."""

    order: Order

    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.events: list[DomainEvent] = []
        self.last: Callable[[], object] | None = None

    @initialize(cod=st.booleans(), head_start=st.integers(0, 4))
    def place(self, cod: bool, head_start: int) -> None:
        placed = quote(2, 1, "home", TAIPEI, cod)
        assert placed is not None
        plan = PaymentPlan.CASH_ON_DELIVERY if cod else PaymentPlan.PREPAID
        self.order = Order.place(id="o-1", quote=placed, payment_plan=plan, at=self.now)
        self.events = self.order.collect_events()
        # Walk part of the happy path first (checked like any other command), so that
        # random walks often start deep in the lifecycle.
        order = self.order
        steps: list[Callable[[], object]] = [
            (lambda: order.approve(at=self.now))
            if cod
            else (lambda: order.mark_paid(self.figures("authorize"), at=self.now)),
            lambda: order.allocate("TEE-M", 2, allocation_id="a-0", at=self.now),
            lambda: order.record_shipment("s-0", {"TEE-M": 1}, at=self.now),
            lambda: order.record_delivery("s-0", at=self.now),
        ]
        for step in steps[:head_start]:
            version = order.version
            self.run(step)
            assert order.version == version + 1

    # --- the harness ---------------------------------------------------------------------------

    def run(self, command: Callable[[], object]) -> None:
        """Run ``command`` and check what it did; remember it so it can be repeated."""
        order = self.order
        self.now += timedelta(minutes=7)
        before = snapshot(order)
        state, version = order.state, order.version
        try:
            command()
        except FourFlowsError:
            assert snapshot(order) == before, "a refused command changed the order"
            return
        recorded = order.collect_events()
        if order.version == version:
            assert recorded == []
            assert snapshot(order) == before, "a command recording nothing changed the order"
        else:
            assert len(recorded) == 1, "one transition records exactly one event"
            (event,) = recorded
            assert event.sequence == version + 1 == order.version
            declared = [
                candidate
                for (source, _), candidates in ORDER_MACHINE.table.items()
                if source == state
                for candidate in candidates
                if candidate.dest == order.state and candidate.records is type(event)
            ]
            assert declared, f"{state} → {order.state} by {type(event).__name__} is not declared"
            self.events.append(event)
        self.last = command

    def figures(self, kind: str) -> PaymentFigures:
        total = self.order.totals.total.amount
        return {
            "nothing": PaymentFigures.of("TWD"),
            "authorize": PaymentFigures.of("TWD", authorized=total),
            "capture": PaymentFigures.of("TWD", captured=total),
            "split": PaymentFigures.of("TWD", captured=total / 2, authorized=total - total / 2),
            "short": PaymentFigures.of("TWD", authorized=max(total - 1, Decimal(0))),
            "refunded": PaymentFigures.of("TWD", captured=total, refunded=total),
        }[kind]

    # --- rules ---------------------------------------------------------------------------------

    @rule(kind=money_kinds)
    def pay(self, kind: str) -> None:
        figures = self.figures(kind)
        self.run(lambda: self.order.mark_paid(figures, at=self.now))

    @rule()
    def approve(self) -> None:
        self.run(lambda: self.order.approve(at=self.now))

    @rule(reason=reasons)
    def hold(self, reason: str) -> None:
        self.run(lambda: self.order.hold(reason=reason, at=self.now))

    @rule()
    def release(self) -> None:
        self.run(lambda: self.order.release(at=self.now))

    @rule(line=line_keys, quantity=quantities, data=st.data())
    def allocate(self, line: int | str, quantity: int, data: st.DataObject) -> None:
        allocation_id = data.draw(st.sampled_from(["x-1", *self.order.allocations]))
        self.run(
            lambda: self.order.allocate(line, quantity, allocation_id=allocation_id, at=self.now)
        )

    @rule(items=st.dictionaries(line_keys, quantities, min_size=0, max_size=2), data=st.data())
    def ship(self, items: dict[int | str, int], data: st.DataObject) -> None:
        shipment_id = data.draw(st.sampled_from(["x-1", *self.order.shipments]))
        self.run(lambda: self.order.record_shipment(shipment_id, items, at=self.now))

    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        shipment_id = data.draw(st.sampled_from(["x-1", *self.order.shipments]))
        self.run(lambda: self.order.record_delivery(shipment_id, at=self.now))

    @rule(data=st.data(), reason=reasons)
    def return_undelivered(self, data: st.DataObject, reason: str) -> None:
        shipment_id = data.draw(st.sampled_from(["x-1", *self.order.shipments]))
        self.run(lambda: self.order.record_return(shipment_id, reason=reason, at=self.now))

    # Rules that draw valid data from the order as it stands, so that walks get deep.

    @precondition(lambda self: self.order.awaiting_payment)
    @rule(kind=st.sampled_from(["authorize", "capture", "split"]), attempt=st.integers(0, 1))
    def pay_in_full(self, kind: str, attempt: int) -> None:
        if attempt:  # leave time for changes before payment
            return
        figures = self.figures(kind)
        self.run(lambda: self.order.mark_paid(figures, at=self.now))

    @precondition(lambda self: any(line.counts.to_allocate for line in self.order.lines))
    @rule(data=st.data())
    def allocate_open_units(self, data: st.DataObject) -> None:
        lines = [line for line in self.order.lines if line.counts.to_allocate]
        line = data.draw(st.sampled_from(lines))
        quantity = data.draw(st.integers(1, line.counts.to_allocate))
        allocation_id = f"a-{len(self.order.allocations) + 1}"
        self.run(
            lambda: self.order.allocate(
                line.index, quantity, allocation_id=allocation_id, at=self.now
            )
        )

    @precondition(
        lambda self: any(line.counts.allocated > line.counts.shipped for line in self.order.lines)
    )
    @rule(data=st.data())
    def ship_allocated_units(self, data: st.DataObject) -> None:
        ready = {
            line.sku: line.counts.allocated - line.counts.shipped
            for line in self.order.lines
            if line.counts.allocated > line.counts.shipped
        }
        skus = data.draw(st.lists(st.sampled_from(sorted(ready)), min_size=1, unique=True))
        items = {sku: data.draw(st.integers(1, ready[sku])) for sku in skus}
        shipment_id = f"s-{len(self.order.shipments) + 1}"
        self.run(lambda: self.order.record_shipment(shipment_id, items, at=self.now))

    @precondition(lambda self: set(self.order.shipments) - self.order.delivered_shipments)
    @rule(data=st.data())
    def deliver_a_shipment(self, data: st.DataObject) -> None:
        waiting = sorted(set(self.order.shipments) - self.order.delivered_shipments)
        shipment_id = data.draw(st.sampled_from(waiting))
        self.run(lambda: self.order.record_delivery(shipment_id, at=self.now))

    @precondition(lambda self: any(line.counts.to_ship for line in self.order.lines))
    @rule(attempt=st.integers(0, 2))
    def fulfil_everything_open(self, attempt: int) -> None:
        if attempt:  # a shortcut to the end of the walk: one time in three
            return
        order = self.order
        for line in order.lines:
            if line.counts.to_allocate:
                allocation_id = f"a-{len(order.allocations) + 1}"
                self.run(
                    functools.partial(
                        order.allocate,
                        line.index,
                        line.counts.to_allocate,
                        allocation_id=allocation_id,
                        at=self.now,
                    )
                )
        items = {
            line.index: line.counts.allocated - line.counts.shipped
            for line in order.lines
            if line.counts.allocated > line.counts.shipped
        }
        shipment_id = f"s-{len(order.shipments) + 1}"
        self.run(lambda: order.record_shipment(shipment_id, items, at=self.now))

    @precondition(lambda self: set(self.order.shipments) - self.order.delivered_shipments)
    @rule(attempt=st.integers(0, 2))
    def deliver_every_shipment(self, attempt: int) -> None:
        if attempt:
            return
        for shipment_id in sorted(set(self.order.shipments) - self.order.delivered_shipments):
            self.run(functools.partial(self.order.record_delivery, shipment_id, at=self.now))

    @precondition(
        lambda self: (
            self.order.state in ("pending_payment", "awaiting_fulfilment", "partially_shipped")
            and self.order.pending_change is None
        )
    )
    @rule(data=st.data())
    def propose_a_valid_change(self, data: st.DataObject) -> None:
        order = self.order
        assert order.shipping is not None
        assert order.shipping_address is not None
        open_units = {line.sku: line.counts.open for line in order.lines}
        least = {line.sku: line.counts.shipped for line in order.lines}
        most = {sku: 3 if order.awaiting_payment else open_units[sku] for sku in open_units}
        wanted = {sku: data.draw(st.integers(least[sku], most[sku])) for sku in open_units}
        nothing_shipped = not any(least.values())
        service = data.draw(st.sampled_from(["home", "cvs"])) if nothing_shipped else None
        address = data.draw(st.sampled_from([TAIPEI, PENGHU]))
        new_quote = quote(
            wanted.get("TEE-M", 0),  # a line taken off before payment is gone
            wanted.get("SOCK", 0),
            service or order.shipping.service_id,
            address,
            order.payment_plan is PaymentPlan.CASH_ON_DELIVERY,
        )
        change = OrderChange(
            id=f"ch-{order.version}",
            quantities=wanted,
            shipping_service=service,
            shipping_address=address,
        )
        self.run(lambda: order.propose_change(change, new_quote, at=self.now))

    @precondition(lambda self: self.order.pending_change is not None)
    @rule(reason=reasons)
    def decline_the_pending_change(self, reason: str) -> None:
        pending = self.order.pending_change
        assert pending is not None
        self.run(lambda: self.order.decline_change(pending.change.id, reason=reason, at=self.now))

    @precondition(lambda self: self.order.pending_change is not None)
    @rule()
    def confirm_the_pending_change(self) -> None:
        pending = self.order.pending_change
        assert pending is not None
        self.run(lambda: self.order.confirm_change(pending.change.id, at=self.now))

    @rule()
    def complete(self) -> None:
        self.run(lambda: self.order.complete(at=self.now))

    @rule(reason=reasons, kind=money_kinds, attempt=st.integers(0, 3))
    def cancel(self, reason: str, kind: str, attempt: int) -> None:
        if attempt:  # a cancel ends the walk: try it one time in four
            return
        figures = self.figures(kind)
        self.run(lambda: self.order.cancel(reason=reason, figures=figures, at=self.now))

    @rule(
        change_id=st.sampled_from(["ch-1", "ch-2", "new"]),
        tee=st.none() | st.integers(0, 3),
        socks=st.none() | st.integers(0, 2),
        service=st.none() | st.sampled_from(["home", "cvs", "post"]),
        address=st.none() | st.sampled_from([TAIPEI, PENGHU]),
        priced=st.booleans(),
        kind=money_kinds,
    )
    def propose_change(
        self,
        change_id: str,
        tee: int | None,
        socks: int | None,
        service: str | None,
        address: Address | None,
        priced: bool,
        kind: str,
    ) -> None:
        if change_id == "new":
            change_id = f"ch-{self.order.version}"
        wanted = {key: qty for key, qty in (("TEE-M", tee), ("SOCK", socks)) if qty is not None}
        try:
            change = OrderChange(
                id=change_id,
                quantities=wanted,
                shipping_service=service,
                shipping_address=address,
            )
        except FourFlowsError:
            return
        order = self.order
        new_quote = None
        if priced and order.shipping is not None and order.shipping_address is not None:
            # what the application does: price the order as changed (open units per sku)
            open_units: Counter[str] = Counter()
            for line in order.lines:
                open_units[line.sku] += line.counts.ordered - line.counts.canceled
            new_quote = quote(
                wanted.get("TEE-M", open_units["TEE-M"]),
                wanted.get("SOCK", open_units["SOCK"]),
                service or order.shipping.service_id,
                address or order.shipping_address,
                order.payment_plan is PaymentPlan.CASH_ON_DELIVERY,
            )
        figures = self.figures(kind)
        self.run(lambda: self.order.propose_change(change, new_quote, figures=figures, at=self.now))

    @rule(change_id=st.sampled_from(["ch-1", "ch-2"]))
    def confirm_change(self, change_id: str) -> None:
        self.run(lambda: self.order.confirm_change(change_id, at=self.now))

    @rule(reason=reasons, data=st.data())
    def decline_change(self, reason: str, data: st.DataObject) -> None:
        pending = self.order.pending_change
        known = [] if pending is None else [pending.change.id]
        change_id = data.draw(st.sampled_from(["ch-1", *known]))
        self.run(lambda: self.order.decline_change(change_id, reason=reason, at=self.now))

    @rule()
    def repeat_the_last_command(self) -> None:
        if self.last is None:
            return
        before = snapshot(self.order)
        with contextlib.suppress(FourFlowsError):
            self.last()
        assert snapshot(self.order) == before, "repeating a command changed the order"

    # --- invariants ----------------------------------------------------------------------------

    @invariant()
    def counters_keep_their_invariants(self) -> None:
        for line in self.order.lines:
            c = line.counts
            assert 0 <= c.canceled <= c.ordered
            assert 0 <= c.shipped <= c.allocated <= c.ordered - c.canceled
            assert 0 <= c.delivered + c.written_off <= c.shipped
            assert 0 <= c.returned <= c.return_requested <= c.delivered

    @invariant()
    def shipments_explain_the_counters(self) -> None:
        order = self.order
        if order.awaiting_payment:
            assert all(line.counts.allocated == 0 for line in order.lines)
        shipped: Counter[int] = Counter()
        delivered: Counter[int] = Counter()
        for shipment_id, items in order.shipments.items():
            if shipment_id in order.returned_shipments:
                continue  # came back undelivered: its units are off the order
            for item in items:
                shipped[item.line] += item.quantity
                if shipment_id in order.delivered_shipments:
                    delivered[item.line] += item.quantity
        for line in order.lines:
            assert line.counts.shipped == shipped[line.index]
            assert line.counts.delivered == delivered[line.index]

    @invariant()
    def fulfilment_status_agrees_with_counters_and_state(self) -> None:
        order = self.order
        status = order.fulfilment_status
        assert status is expected_fulfilment(order)
        state = order.held_from if order.state == "on_hold" else order.state
        assert state is not None
        assert status in ALLOWED_FULFILMENT[state], (order.state, order.held_from, status)

    @invariant()
    def totals_add_up(self) -> None:
        totals = self.order.totals
        # The order keeps its totals; a copy loaded from its fields works them out afresh.
        assert totals == attrs.evolve(self.order).totals, "kept totals went stale"
        assert totals.subtotal - totals.discount == totals.goods
        assert totals.goods + totals.shipping == totals.total  # prices include tax (TW)

    @invariant()
    def one_event_per_version(self) -> None:
        assert [e.sequence for e in self.events] == list(range(1, self.order.version + 1))

    @invariant()
    def a_pending_change_only_where_changes_happen(self) -> None:
        order = self.order
        if order.pending_change is not None:
            assert "decline_change" in order.allowed_events, "a pending change must be declinable"
            assert order.pending_change.change.id not in order.decided_changes
        if order.is_final:
            assert order.allowed_events == ()
            assert order.pending_change is None


TestOrderLifecycle = OrderLifecycle.TestCase
