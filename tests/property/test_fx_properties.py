"""Properties of exchange rates and of the settlement postings."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import assume, given
from hypothesis import strategies as st

from fourflows.app.settlement import (
    CURRENCY_EXCHANGE,
    FX_GAIN_LOSS,
    SETTLEMENT_CLEARING,
    Settlement,
    conversion_entry,
    cumulative_value,
    settlement_entry,
)
from fourflows.cash.fx import FixedRates, FxRate
from fourflows.cash.ledger import GATEWAY_CLEARING, JournalEntry, Ledger
from fourflows.money import Money, Precision, sum_money

DAY = datetime(2026, 11, 20, tzinfo=UTC)
PAIRS = [("USD", "TWD"), ("USD", "JPY"), ("EUR", "USD"), ("USD", "KWD"), ("JPY", "TWD")]


@st.composite
def exact_rates(draw: st.DrawFn) -> FxRate:
    """A rate whose inverse is an exact decimal (2^i x 5^j / 10^k), between two currencies."""
    base, quote = draw(st.sampled_from(PAIRS))
    i, j, k = draw(st.integers(0, 12)), draw(st.integers(0, 8)), draw(st.integers(0, 8))
    return FxRate(base, quote, Decimal(2**i * 5**j).scaleb(-k), as_of=DAY)


def minor(code: str) -> Decimal:
    return Precision.minor_unit(code).quantum


@given(rate=exact_rates(), units=st.integers(-(10**9), 10**9))
def test_there_and_back_is_within_one_minor_unit(rate: FxRate, units: int) -> None:
    # When one minor unit of the base is worth at least one of the quote, rounding
    # half-up twice loses at most half a quote unit (worth at most half a base unit)
    # plus half a base unit: within one minor unit of where it started.
    assume(rate.rate * minor(rate.base) >= minor(rate.quote))
    start = Money.from_minor_units(units, rate.base)
    back = rate.inverse().convert(rate.convert(start))
    assert back.code == rate.base
    assert abs(back.amount - start.amount) <= minor(rate.base)


@given(rate=exact_rates())
def test_a_fixed_table_quotes_the_exact_inverse_of_each_pair(rate: FxRate) -> None:
    table = FixedRates({rate.pair: rate.rate}, as_of=DAY)
    back = table.rate(rate.quote, rate.base, DAY)
    assert back.rate * rate.rate == 1


@st.composite
def payments(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    """Capture amounts in cents, and refunds of part or all of what was captured."""
    captures = draw(st.lists(st.integers(1, 10**6), min_size=1, max_size=4))
    refunded = draw(st.integers(0, sum(captures)))
    cuts = sorted(draw(st.lists(st.integers(0, refunded), max_size=3)))
    edges = [0, *cuts, refunded]
    refunds = [b - a for a, b in itertools.pairwise(edges) if b > a]
    return captures, refunds


def usd(cents: int) -> Money:
    return Money.from_minor_units(cents, "USD")


@given(
    rate=st.integers(100, 10**6).map(lambda n: Decimal(n).scaleb(-4)),
    flows=payments(),
    gaps=st.lists(st.integers(-5000, 5000), min_size=4, max_size=4),
    fees=st.lists(st.integers(0, 3000), min_size=4, max_size=4),
)
def test_settlement_postings_always_balance_and_add_up(
    rate: Decimal, flows: tuple[list[int], list[int]], gaps: list[int], fees: list[int]
) -> None:
    usd_twd = FxRate("USD", "TWD", rate, as_of=DAY)
    captures, refunds = flows
    entries: list[JournalEntry] = []
    expected_gain = Money.zero("TWD")
    at = DAY
    for kind, amounts in (("capture", captures), ("refund", refunds)):
        so_far = Money.zero("USD")
        for n, cents in enumerate(amounts):
            at += timedelta(minutes=1)
            value = cumulative_value(usd_twd, before=so_far, amount=usd(cents))
            so_far += usd(cents)
            entries.append(
                conversion_entry(
                    id=f"{kind}-{n}",
                    at=at,
                    presentment=usd(cents),
                    settled=value,
                    account=GATEWAY_CLEARING,
                    refund=kind == "refund",
                )
            )
            if kind == "capture" and value.amount > 0:
                fee = Money.from_minor_units(fees[n], "TWD")
                paid = value + Money.from_minor_units(gaps[n], "TWD") - fee
                if paid.amount > 0:
                    entries.append(
                        settlement_entry(
                            id=f"settled-{n}", at=at, expected=value, settled=paid, fee=fee
                        )
                    )
                    expected_gain += paid + fee - value
    ledger = Ledger.open(Settlement(FixedRates({}, as_of=DAY), "TWD").chart).post_all(entries)

    # Every entry was built (an unbalanced one raises UnbalancedEntry) and posted:
    # the ledger's debits equal its credits in USD and in TWD.
    trial = ledger.trial_balance()
    assert trial.is_balanced
    captured = sum_money(map(usd, captures), currency="USD")
    refunded = sum_money(map(usd, refunds), currency="USD")
    # The parts of a payment add up to its whole, converted once.
    converted = {
        kind: sum_money(
            (e.total("TWD") for e in entries if e.id.startswith(kind) and "TWD" in e.currencies),
            currency="TWD",
        )
        for kind in ("capture", "refund")
    }
    assert converted["capture"] == usd_twd.convert(captured)
    assert converted["refund"] == usd_twd.convert(refunded)
    assert ledger.balance(FX_GAIN_LOSS, "TWD") == expected_gain
    # The exchange position is what is still held, at the frozen rate.
    assert ledger.balance(CURRENCY_EXCHANGE, "USD") == -(captured - refunded)
    assert ledger.balance(CURRENCY_EXCHANGE, "TWD") == usd_twd.convert(captured) - usd_twd.convert(
        refunded
    )
    unsettled = sum_money(
        (
            e.total("TWD")
            for e in entries
            if e.id.startswith("capture")
            and "TWD" in e.currencies
            and f"settled-{e.id.split('-')[1]}" not in {x.id for x in entries}
        ),
        currency="TWD",
    )
    assert ledger.balance(SETTLEMENT_CLEARING, "TWD") == unsettled - converted["refund"]
