"""The shortcuts the kernel and the aggregates take give what the checked paths give.

Events built by the kernel equal the same events built through attrs; a
caller building an event still meets every check; guards shared by several
candidates are asked once; minor-unit counts, a payment's ``held`` and a tax
result's totals equal the Money arithmetic they replace.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fourflows.cash.payment import PaymentTotals
from fourflows.commerce.order import LineAllocated, OrderCompleted, OrderLine
from fourflows.errors import FourFlowsError, InvalidInput
from fourflows.events import DomainEvent
from fourflows.machines import Guard, MachineSpec, StateMachine, Transition, _direct, _record
from fourflows.money import Money, Precision, _whole_steps
from fourflows.tax import LineTax, PriceMode, TaxResult

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
ALLOCATED: dict[str, Any] = {
    "allocation_id": "al-1",
    "line": 0,
    "sku": "TEE",
    "quantity": 2,
    "allocated": 2,
}


def test_a_kernel_built_event_equals_the_attrs_built_one() -> None:
    fast = _record(LineAllocated, "order-1", 3, AT, ALLOCATED)
    checked = LineAllocated(aggregate_id="order-1", sequence=3, occurred_at=AT, **ALLOCATED)
    assert fast == checked
    assert repr(fast) == repr(checked)
    assert hash(fast) == hash(checked)
    assert _record(OrderCompleted, "order-1", 9, AT, {}) == OrderCompleted(
        aggregate_id="order-1", sequence=9, occurred_at=AT
    )


def test_a_kernel_built_event_is_as_frozen_as_any() -> None:
    fast = _record(OrderCompleted, "order-1", 9, AT, {})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        fast.sequence = 10  # type: ignore[misc]


@pytest.mark.parametrize(
    ("aggregate_id", "sequence", "at", "wrong"),
    [
        ("", 1, AT, "aggregate_id"),
        ("order-1", 0, AT, "sequence"),
        ("order-1", True, AT, "sequence"),
        ("order-1", 1, datetime(2026, 11, 22, 9, 0), "occurred_at"),  # naive
    ],
)
def test_bad_common_fields_take_the_checked_path_and_raise(
    aggregate_id: str, sequence: int, at: datetime, wrong: str
) -> None:
    with pytest.raises(InvalidInput, match=wrong):
        _record(OrderCompleted, aggregate_id, sequence, at, {})


def test_an_aware_time_of_another_tzinfo_type_is_taken_as_attrs_takes_it() -> None:
    class Taipei(timezone.__base__):  # type: ignore[misc, name-defined]
        def utcoffset(self, _: datetime | None) -> timedelta:
            return timedelta(hours=8)

        def dst(self, _: datetime | None) -> timedelta:
            return timedelta(0)

        def tzname(self, _: datetime | None) -> str:
            return "Asia/Taipei"

    at = datetime(2026, 11, 22, 17, 0, tzinfo=Taipei())
    assert _record(OrderCompleted, "order-1", 2, at, {}).occurred_at is at


@pytest.mark.parametrize(
    "data",
    [
        {k: v for k, v in ALLOCATED.items() if k != "sku"},  # one missing
        {**ALLOCATED, "extra": 1},  # one too many
        {**{k: v for k, v in ALLOCATED.items() if k != "sku"}, "skew": "TEE"},  # one misnamed
    ],
)
def test_data_that_does_not_name_the_fields_raises_invalid_input(data: dict[str, Any]) -> None:
    # LineAllocated takes allocation_id, allocated, line, quantity and sku.
    with pytest.raises(InvalidInput, match="LineAllocated takes the data"):
        _record(LineAllocated, "order-1", 3, AT, data)


def test_a_caller_building_an_event_is_still_checked() -> None:
    with pytest.raises(InvalidInput, match="sequence"):
        LineAllocated(aggregate_id="order-1", sequence=0, occurred_at=AT, **ALLOCATED)
    with pytest.raises(InvalidInput, match="occurred_at"):
        OrderCompleted(aggregate_id="order-1", sequence=1, occurred_at=datetime(2026, 1, 1))


def _not_zero(_: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if value == 0:
        raise InvalidInput(f"{attribute.name} must not be 0")


@attrs.frozen(kw_only=True)
class _CheckedCountRecorded(DomainEvent):
    """A test event (left out of the registry) whose data field has a check of its own."""

    count: int = attrs.field(validator=_not_zero)


def test_an_event_with_checks_of_its_own_is_always_built_by_attrs() -> None:
    assert _direct(_CheckedCountRecorded) is None
    assert _direct(LineAllocated) is not None
    with pytest.raises(InvalidInput, match="count must not be 0"):
        _record(_CheckedCountRecorded, "x-1", 1, AT, {"count": 0})
    built = _record(_CheckedCountRecorded, "x-1", 1, AT, {"count": 2})
    assert built == _CheckedCountRecorded(aggregate_id="x-1", sequence=1, occurred_at=AT, count=2)


# --- guards shared by candidates ----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _ProbeStarted(DomainEvent):
    """The probe machine's creation event."""


@attrs.frozen(kw_only=True)
class _ProbeMoved(DomainEvent):
    """The probe moved."""

    size: int


def test_a_guard_shared_by_two_candidates_is_asked_once_and_the_second_is_taken() -> None:
    from fourflows.aggregates import Aggregate

    asked: list[str] = []

    def known_size(_: Any, data: Any, __: datetime) -> bool:
        asked.append("known")
        return isinstance(data.get("size"), int)

    def small(_: Any, data: Any, __: datetime) -> bool:
        asked.append("small")
        return bool(data["size"] < 10)

    def large(_: Any, data: Any, __: datetime) -> bool:
        asked.append("large")
        return bool(data["size"] >= 10)

    known = Guard("known_size", known_size, "the size is an int")
    machine: StateMachine[Any] = StateMachine(
        MachineSpec(
            name="probe",
            states=("idle", "small", "large"),
            initial="idle",
            final=("small", "large"),
            transitions=(
                Transition("move", "idle", "small", _ProbeMoved, (known, Guard("s", small, "<10"))),
                Transition(
                    "move", "idle", "large", _ProbeMoved, (known, Guard("l", large, ">=10"))
                ),
            ),
            created=_ProbeStarted,
        )
    )

    @attrs.define(kw_only=True, eq=False)
    class Probe(Aggregate):
        pass

    Probe.machine = machine
    probe = Probe(id="p-1")
    machine.fire(probe, "move", at=AT, size=12)
    assert probe.state == "large"
    assert asked == ["known", "small", "large"]  # 'known' passed for the first: not asked again

    refused = Probe(id="p-2")
    asked.clear()
    with pytest.raises(FourFlowsError, match="known_size"):
        machine.fire(refused, "move", at=AT, size="big")
    assert refused.state == "idle"
    assert refused.version == 0


# --- money shortcuts ----------------------------------------------------------------------------


@given(
    units=st.integers(min_value=-(10**12), max_value=10**12),
    currency=st.sampled_from(["TWD", "USD", "JPY", "KWD", "EUR"]),
)
def test_minor_units_equal_the_division_by_the_minor_step(units: int, currency: str) -> None:
    money = Money.from_minor_units(units, currency)
    assert money.get_amount_in_sub_unit() == units
    assert money.get_amount_in_sub_unit() == _whole_steps(money, Precision.minor_unit(currency))


def test_an_amount_between_minor_units_still_raises() -> None:
    # 1.234 USD is 123.4 cents; 1.5 JPY is 1.5 yen (JPY has no minor unit).
    with pytest.raises(InvalidInput, match=r"not a whole number of steps of 0\.01 USD"):
        Money("1.234", "USD").get_amount_in_sub_unit()
    with pytest.raises(InvalidInput, match="not a whole number of steps of 1 JPY"):
        Money("1.5", "JPY").get_amount_in_sub_unit()


@given(
    authorized=st.integers(min_value=0, max_value=10**9),
    captured=st.integers(min_value=0, max_value=10**9),
    released=st.integers(min_value=0, max_value=10**9),
)
def test_held_equals_the_money_arithmetic(authorized: int, captured: int, released: int) -> None:
    def twd(cents: int) -> Money:
        return Money.from_minor_units(cents, "TWD")

    zero = twd(0)
    totals = PaymentTotals(
        amount=twd(authorized),
        authorized=twd(authorized),
        captured=twd(captured),
        capture_pending=zero,
        refunded=zero,
        refund_pending=zero,
        released=twd(released),
        remitted=zero,
    )
    expected = Money(Decimal(authorized - captured - released) / 100, "TWD")
    assert totals.held == expected
    assert totals.held.currency is zero.currency


def test_held_still_refuses_to_mix_currencies() -> None:
    twd, usd = Money("10", "TWD"), Money("1", "USD")
    totals = PaymentTotals(
        amount=twd,
        authorized=twd,
        captured=usd,
        capture_pending=twd,
        refunded=twd,
        refund_pending=twd,
        released=twd,
        remitted=twd,
    )
    with pytest.raises(FourFlowsError):
        _ = totals.held


def test_a_tax_result_keeps_its_totals_from_the_start() -> None:
    def line(key: str, net: str, tax: str, gross: str) -> LineTax:
        return LineTax(
            key=key,
            category="standard",
            rate=Decimal("5"),
            net=Money(net, "TWD"),
            tax=Money(tax, "TWD"),
            gross=Money(gross, "TWD"),
        )

    # Goods 1000 + 50 tax, shipping 100 + 5 tax: net 1100, tax 55, gross 1155.
    result = TaxResult(
        mode=PriceMode.EXCLUSIVE,
        currency="TWD",
        lines=(line("0", "1000", "50", "1050"),),
        shipping=line("shipping", "100", "5", "105"),
    )
    assert (result.net, result.tax, result.gross) == (
        Money("1100", "TWD"),
        Money("55", "TWD"),
        Money("1155", "TWD"),
    )
    again = attrs.evolve(result, shipping=None)
    assert (again.net, again.tax, again.gross) == (
        Money("1000", "TWD"),
        Money("50", "TWD"),
        Money("1050", "TWD"),
    )
    assert result != again


def test_a_line_frozen_from_a_quote_is_checked_like_a_built_one() -> None:
    fields: dict[str, Any] = {
        "index": 0,
        "sku": "TEE",
        "name": "T-shirt",
        "list_price": Money("590", "TWD"),
        "discount": Money("0", "TWD"),
        "unit_amounts": [Money("590", "TWD")],
        "unit_taxes": [Money("28", "TWD")],
        "tax_category": "standard",
        "tax_rate": Decimal("0.05"),
        "net": Money("562", "TWD"),
        "tax": Money("28", "TWD"),
        "gross": Money("590", "TWD"),
    }
    from fourflows.commerce.pricing import QuoteLine

    good = QuoteLine(quantity=1, subtotal=Money("590", "TWD"), amount=Money("590", "TWD"), **fields)
    frozen = OrderLine.from_quote(good, PriceMode.INCLUSIVE)
    assert frozen.unit_amounts == (Money("590", "TWD"),)  # a list becomes a tuple, as attrs does
    assert frozen.open_total == Money("590", "TWD")
    bad = attrs.evolve(good, gross=Money("600", "TWD"))  # the unit totals add up to 590
    with pytest.raises(InvalidInput, match="unit totals add up to 590 TWD, not the line's gross"):
        OrderLine.from_quote(bad, PriceMode.INCLUSIVE)
