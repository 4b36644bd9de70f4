"""Guards get the time of the move and may say why they refuse; the fast paths stay exact."""

import contextlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, ClassVar

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from transitions import MachineError

from fourflows.aggregates import Aggregate
from fourflows.cash.payment import Payment, PaymentMethod
from fourflows.commerce.cart import Cart, Channel, Customer, PricingContext
from fourflows.commerce.catalog import Product
from fourflows.commerce.order import LineCounts, Order, PaymentFigures, _moved, _recounted
from fourflows.commerce.pricing import price_cart
from fourflows.errors import GuardRejected, InvalidInput
from fourflows.events import DomainEvent, Flow, domain_event
from fourflows.geo import Address
from fourflows.logistics.shipping import ShippingTable
from fourflows.machines import Guard, MachineSpec, StateMachine, Transition
from fourflows.money import Money
from fourflows.tax import TaxTable

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
DEADLINE = AT + timedelta(days=1)


def twd(amount: str) -> Money:
    return Money(amount, "TWD")


# --- a small machine whose guards read the time and explain themselves -------------------------


@domain_event(Flow.SERVICE)
@attrs.frozen(kw_only=True)
class TicketOpened(DomainEvent):
    """A ticket was opened (test event)."""


@domain_event(Flow.SERVICE)
@attrs.frozen(kw_only=True)
class TicketAnswered(DomainEvent):
    """A ticket was answered (test event)."""

    words: int


SEEN: list[tuple[Mapping[str, Any], datetime]] = []


def _in_time(ticket: "Ticket", data: Mapping[str, Any], at: datetime) -> bool | str:
    SEEN.append((dict(data), at))
    if at < ticket.answer_by:
        return True
    return f"answered at {at.isoformat()}, the deadline was {ticket.answer_by.isoformat()}"


def _long_enough(_: "Ticket", data: Mapping[str, Any], __: datetime) -> bool:
    return bool(data["words"] >= 10)


TICKET: StateMachine[Any] = StateMachine(
    MachineSpec(
        name="ticket",
        states=("open", "answered"),
        initial="open",
        final=("answered",),
        created=TicketOpened,
        transitions=(
            Transition(
                "answer",
                "open",
                "answered",
                TicketAnswered,
                (
                    Guard("in_time", _in_time, "answered before the deadline"),
                    Guard("long_enough", _long_enough, "at least 10 words"),
                ),
            ),
        ),
    )
)


@attrs.define(kw_only=True, eq=False)
class Ticket(Aggregate):
    """A support ticket with an answer deadline (test aggregate)."""

    machine: ClassVar[StateMachine[Any]] = TICKET

    answer_by: datetime


def ticket() -> Ticket:
    made = Ticket(id="t-1", answer_by=DEADLINE)
    made._start(at=AT)
    return made


class TestTheKernelGivesGuardsTheTime:
    def test_the_guard_sees_at_and_the_data_not_at_inside_the_data(self) -> None:
        SEEN.clear()
        made = ticket()
        made._fire("answer", at=AT + timedelta(hours=2), words=12)
        assert [({"words": 12}, AT + timedelta(hours=2))] == SEEN
        assert made.state == "answered"

    def test_a_late_move_is_refused_with_the_guards_own_words(self) -> None:
        made = ticket()
        late = DEADLINE + timedelta(minutes=5)
        with pytest.raises(GuardRejected) as caught:
            made._fire("answer", at=late, words=12)
        message = str(caught.value)
        assert "guard 'in_time' refused it (answered before the deadline): " in message
        assert f"answered at {late.isoformat()}, the deadline was {DEADLINE.isoformat()}" in message
        assert (made.state, made.version, len(made.pending_events)) == ("open", 1, 1)

    def test_a_guard_refusing_with_false_gives_its_rule_alone(self) -> None:
        made = ticket()
        with pytest.raises(GuardRejected, match=r"\(at least 10 words\); allowed") as caught:
            made._fire("answer", at=AT, words=3)
        assert "at least 10 words):" not in str(caught.value)

    def test_can_judges_by_the_time_given(self) -> None:
        made = ticket()
        assert made.can("answer", at=AT, words=12)
        assert not made.can("answer", at=DEADLINE, words=12)  # at the deadline is too late

    def test_the_transitions_engine_gets_at_the_same_way(self) -> None:
        for when, expected in ((AT, "answered"), (DEADLINE, "open")):
            theirs = SimpleNamespace(state="open", answer_by=DEADLINE)
            with contextlib.suppress(MachineError):  # not raised: a failed condition just stays
                TICKET.engine.events["answer"].trigger(theirs, at=when, words=12)
            assert theirs.state == expected


# --- payments and disputes judge time by `at` and name the values -------------------------------


class TestPaymentGuards:
    def test_capture_above_the_capturable_names_both_amounts(self) -> None:
        made = Payment.create(
            id="p-1", order_id="o-1", method=PaymentMethod.CARD, amount=twd("900"), at=AT
        )
        made.authorize(amount=twd("500"), at=AT, provider_ref="auth-1")
        # 500 authorised − 0 captured = 500 capturable; asking 900 is refused by the guard.
        with pytest.raises(
            GuardRejected, match=r"capture_fits.*: 900 TWD asked, 500 TWD capturable"
        ):
            made.request_capture(capture_id="c-1", amount=twd("900"), at=AT)
        assert (made.state, made.version, made.captures) == ("authorized", 2, {})

    def test_capture_is_judged_by_its_own_time(self) -> None:
        made = Payment.create(
            id="p-1", order_id="o-1", method=PaymentMethod.CARD, amount=twd("500"), at=AT
        )
        made.authorize(amount=twd("500"), at=AT, provider_ref="auth-1")
        expires = AT + made.authorization_window  # 7 days after the authorisation
        with pytest.raises(GuardRejected, match="the authorisation expired at"):
            made.request_capture(capture_id="c-1", amount=twd("500"), at=expires)
        event = made.request_capture(
            capture_id="c-1", amount=twd("500"), at=expires - timedelta(seconds=1)
        )
        assert event is not None
        assert event.occurred_at == expires - timedelta(seconds=1)
        assert not hasattr(event, "as_of")  # the time is the event's own occurred_at

    def test_expiry_before_the_window_ends_is_refused_with_both_times(self) -> None:
        made = Payment.create(
            id="p-1", order_id="o-1", method=PaymentMethod.CARD, amount=twd("500"), at=AT
        )
        made.authorize(amount=twd("500"), at=AT, provider_ref="auth-1")
        early = AT + timedelta(days=3)
        with pytest.raises(
            GuardRejected, match=rf"runs until .*; it is {re.escape(early.isoformat())}"
        ):
            made.expire(at=early)
        assert made.state == "authorized"


# --- the order: the covering guard's detail, and totals kept by identity ------------------------


def placed_order() -> Order:
    products = (
        Product(sku="TEE", name="T-shirt", price=twd("590"), weight_g=200, size_cm=(30, 20, 3)),
        Product(sku="MUG", name="Mug", price=twd("350"), weight_g=400, size_cm=(12, 12, 10)),
    )
    cart = Cart("TWD").add(products[0], 2).add(products[1], 1)
    quote = price_cart(
        cart,
        context=PricingContext(at=AT, customer=Customer(id="c-1"), channel=Channel.WEB),
        tax=TaxTable.preset("TW"),
        shipping=ShippingTable.example_taiwan(),
        ship_to=Address(country="TW", city="Taipei", postal_code="106"),
        service="home",
    )
    return Order.place(id="o-1", quote=quote, at=AT)


class TestOrder:
    def test_too_little_secured_names_the_amounts(self) -> None:
        order = placed_order()
        total = order.totals.total
        short = total - twd("1")
        figures = PaymentFigures(
            authorized=short, captured=twd("0"), refunded=twd("0"), credit_issued=twd("0")
        )
        with pytest.raises(GuardRejected, match=rf"{short.amount} TWD secured, the total is"):
            order.mark_paid(figures, at=AT)
        assert order.state == "pending_payment"

    def test_totals_follow_an_assignment_of_the_lines(self) -> None:
        order = placed_order()
        before = order.totals
        # 2 × 590 + 350 = 1530 of goods, tax included (TW prices include 5% tax)
        assert before.goods == twd("1530")
        order.lines = order.lines[:1]  # what a loader or a change could do: no stale totals
        assert order.totals.goods == twd("1180")  # 2 × 590
        assert order.totals is not before

    def test_moving_counts_keeps_the_same_totals_object(self) -> None:
        order = placed_order()
        order.mark_paid(
            PaymentFigures(
                authorized=twd("0"),
                captured=order.totals.total,
                refunded=twd("0"),
                credit_issued=twd("0"),
            ),
            at=AT,
        )
        before = order.totals
        order.allocate(0, 2, allocation_id="a-1", at=AT)
        assert order.totals is before  # allocation opens or cancels no unit
        assert order.lines[0].counts.allocated == 2

    def test_a_recounted_line_is_the_line_with_new_counts(self) -> None:
        line = placed_order().lines[0]
        counts = _moved(line.counts, allocated=1)
        assert _recounted(line, counts) == attrs.evolve(line, counts=counts)  # every field copied

    def test_a_bool_quantity_is_still_refused(self) -> None:
        order = placed_order()
        with pytest.raises(InvalidInput, match="the quantity to allocate"):
            order.allocate(0, True, allocation_id="a-1", at=AT)


counts_fields = [field.name for field in attrs.fields(LineCounts)]


@given(st.lists(st.integers(min_value=0, max_value=50), min_size=8, max_size=8))
def test_moved_counts_copy_every_field(values: list[int]) -> None:
    source = object.__new__(LineCounts)
    for name, value in zip(counts_fields, values, strict=True):
        object.__setattr__(source, name, value)
    assert attrs.astuple(_moved(source)) == tuple(values)
    moved = _moved(source, shipped=99)
    expected = [
        99 if name == "shipped" else value
        for name, value in zip(counts_fields, values, strict=True)
    ]
    assert attrs.astuple(moved) == tuple(expected)
