"""Properties of the tax calculator that hold for every table, cart and address."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from fourflows.geo import Address
from fourflows.money import Money, Precision, round_money, sum_money
from fourflows.tax import (
    EU_MEMBER_STATES,
    EXEMPT,
    REVERSE_CHARGE_NOTE,
    ZERO,
    LineTax,
    PriceMode,
    TaxLine,
    TaxRequest,
    TaxResult,
    TaxRounding,
    TaxTable,
)
from fourflows.testing.strategies import money

PRESET_CURRENCIES = {"TW": "TWD", "CN": "CNY", "JP": "JPY", "DE": "EUR", "GB": "GBP"}
EU = sorted(EU_MEMBER_STATES)


@st.composite
def custom_tables(draw: st.DrawFn, country: str | None = None) -> TaxTable:
    """A table of one to three drawn rates, in any mode, rounding and precision."""
    names = draw(
        st.lists(st.sampled_from(["reduced", "services", "luxury"]), max_size=2, unique=True)
    )
    percent = st.decimals(min_value=0, max_value=30, places=2, allow_nan=False)
    return TaxTable(
        country=country if country is not None else draw(st.sampled_from(["TW", "US", *EU])),
        rates={"standard": draw(percent), **{name: draw(percent) for name in names}},
        mode=draw(st.sampled_from(PriceMode)),
        rounding=draw(st.sampled_from(TaxRounding)),
        precision=draw(st.sampled_from([None, Precision.of(0)])),
    )


@st.composite
def tables(draw: st.DrawFn) -> tuple[TaxTable, str]:
    """A preset or a custom table, in any mode and rounding, and a currency to price in."""
    if draw(st.booleans()):
        name = draw(st.sampled_from(sorted(PRESET_CURRENCIES)))
        table = (
            TaxTable.preset(name)
            .with_mode(draw(st.sampled_from(PriceMode)))
            .with_rounding(draw(st.sampled_from(TaxRounding)))
        )
        return table, PRESET_CURRENCIES[name]
    return draw(custom_tables()), draw(st.sampled_from(["TWD", "EUR", "JPY", "KWD", "USD"]))


@st.composite
def requests(
    draw: st.DrawFn, table: TaxTable, currency: str, ship_to: Address | None = None
) -> TaxRequest:
    """Lines with unique keys in the table's categories, maybe shipping.

    Amounts often repeat, because equal lines are where an allocation that
    depends on the order of the lines would show.
    """
    keys = draw(st.lists(st.text("abcdefgh", min_size=1, max_size=3), max_size=8, unique=True))
    fresh = money(currency=currency, min_units=0, max_units=10**8)
    repeated = draw(st.lists(fresh, min_size=1, max_size=2))
    lines = [
        TaxLine(
            key,
            draw(fresh | st.sampled_from(repeated)),
            draw(st.sampled_from(table.categories)),
        )
        for key in keys
    ]
    shipping = draw(st.none() | money(currency=currency, min_units=0, max_units=10**6))
    return TaxRequest(lines, shipping=shipping, ship_to=ship_to, currency=currency)


@st.composite
def cases(draw: st.DrawFn) -> tuple[TaxTable, TaxRequest]:
    table, currency = draw(tables())
    return table, draw(requests(table, currency))


@st.composite
def tied_cases(draw: st.DrawFn) -> tuple[TaxTable, TaxRequest]:
    """Standard-rated lines of one or two small amounts: shares of the tax tie."""
    table, currency = draw(tables())
    pool = draw(
        st.lists(money(currency=currency, min_units=1, max_units=5000), min_size=1, max_size=2)
    )
    keys = draw(
        st.lists(st.text("abcdefgh", min_size=1, max_size=3), min_size=2, max_size=8, unique=True)
    )
    lines = [TaxLine(key, draw(st.sampled_from(pool))) for key in keys]
    return table, TaxRequest(lines, currency=currency)


def step_of(table: TaxTable, currency: str) -> Decimal:
    return (table.precision or Precision.minor_unit(currency)).quantum


def exact_tax(amount: Money, rate: Decimal, mode: PriceMode) -> Money:
    share: Money = amount * rate / (100 + rate if mode is PriceMode.INCLUSIVE else 100)
    return share


def amounts_of(request: TaxRequest) -> list[Money]:
    shipping = [] if request.shipping is None else [request.shipping]
    return [line.amount for line in request.lines] + shipping


def taxes_by_rate(result: TaxResult) -> dict[Decimal, Money]:
    rates: dict[Decimal, list[LineTax]] = {}
    for line in result.all_lines:
        rates.setdefault(line.rate, []).append(line)
    return {
        rate: sum_money((line.tax for line in lines), currency=result.currency)
        for rate, lines in rates.items()
    }


@given(cases())
def test_every_line_keeps_its_amount_and_everything_adds_up(
    case: tuple[TaxTable, TaxRequest],
) -> None:
    table, request = case
    result = table.compute(request)
    for given_amount, line in zip(amounts_of(request), result.all_lines, strict=True):
        assert line.net + line.tax == line.gross
        kept = line.gross if table.mode is PriceMode.INCLUSIVE else line.net
        assert kept == given_amount
        assert Money(0, request.currency) <= line.tax <= line.gross
    code = request.currency
    assert result.net + result.tax == result.gross
    assert result.net == sum_money((line.net for line in result.all_lines), currency=code)
    assert result.tax == sum_money((line.tax for line in result.all_lines), currency=code)
    given_total = sum_money(amounts_of(request), currency=code)
    assert (result.gross if table.mode is PriceMode.INCLUSIVE else result.net) == given_total
    assert sum_money((row.tax for row in result.breakdown), currency=code) == result.tax
    assert sum_money((row.net for row in result.breakdown), currency=code) == result.net
    assert (request.shipping is None) == (result.shipping is None)


@given(cases() | tied_cases(), st.data())
def test_the_order_of_the_lines_changes_nothing(
    case: tuple[TaxTable, TaxRequest], data: st.DataObject
) -> None:
    table, request = case
    shuffled = data.draw(st.permutations(request.lines))
    other = TaxRequest(
        shuffled, shipping=request.shipping, ship_to=request.ship_to, currency=request.currency
    )
    first, second = table.compute(request), table.compute(other)
    assert {line.key: line for line in first.lines} == {line.key: line for line in second.lines}
    assert first.shipping == second.shipping
    assert first.breakdown == second.breakdown
    assert [line.key for line in second.lines] == [line.key for line in shuffled]


@given(cases())
def test_document_rounding_rounds_each_rate_once_on_the_sum(
    case: tuple[TaxTable, TaxRequest],
) -> None:
    table, request = case
    table = table.with_rounding(TaxRounding.DOCUMENT)
    result = table.compute(request)
    step = table.precision or Precision.minor_unit(request.currency)
    for rate, tax in taxes_by_rate(result).items():
        amounts = [
            amount
            for amount, line in zip(amounts_of(request), result.all_lines, strict=True)
            if line.rate == rate
        ]
        total = sum_money(amounts, currency=request.currency)
        assert tax == round_money(exact_tax(total, rate, table.mode), step)


@given(cases())
def test_line_rounding_rounds_every_line_on_its_own(case: tuple[TaxTable, TaxRequest]) -> None:
    table, request = case
    table = table.with_rounding(TaxRounding.LINE)
    result = table.compute(request)
    step = table.precision or Precision.minor_unit(request.currency)
    for amount, line in zip(amounts_of(request), result.all_lines, strict=True):
        assert line.tax == round_money(exact_tax(amount, line.rate, table.mode), step)


@given(cases())
def test_an_allocated_line_tax_is_within_a_step_and_a_half_of_its_exact_tax(
    case: tuple[TaxTable, TaxRequest],
) -> None:
    table, request = case
    result = table.compute(request)
    step = step_of(table, request.currency)
    for amount, line in zip(amounts_of(request), result.all_lines, strict=True):
        exact = exact_tax(amount, line.rate, table.mode)
        assert abs(line.tax.amount - exact.amount) < step * Decimal("1.5")


@given(cases())
def test_zero_rated_and_exempt_lines_carry_no_tax(case: tuple[TaxTable, TaxRequest]) -> None:
    table, request = case
    result = table.compute(request)
    for line in result.all_lines:
        if line.category in (ZERO, EXEMPT):
            assert line.tax.amount == 0
            assert line.net == line.gross
    listed = {row.category for row in result.breakdown}
    assert {line.category for line in result.all_lines} == listed


@given(cases())
def test_a_round_trip_between_modes_moves_the_tax_by_at_most_one_step(
    case: tuple[TaxTable, TaxRequest],
) -> None:
    table, request = case
    first = table.compute(request)
    # Price the same goods in the other mode: the nets of a tax-inclusive
    # result as net prices, or the grosses of a tax-exclusive one as gross.
    inclusive = table.mode is PriceMode.INCLUSIVE
    other = table.with_mode(PriceMode.EXCLUSIVE if inclusive else PriceMode.INCLUSIVE)
    again = [line.net if inclusive else line.gross for line in first.all_lines]
    lines = [
        TaxLine(line.key, amount, line.category)
        for line, amount in zip(first.lines, again[: len(first.lines)], strict=True)
    ]
    shipping = again[-1] if request.shipping is not None else None
    second = other.compute(
        TaxRequest(lines, shipping=shipping, ship_to=request.ship_to, currency=request.currency)
    )
    step = step_of(table, request.currency)
    if table.rounding is TaxRounding.LINE:
        for before, after in zip(first.all_lines, second.all_lines, strict=True):
            assert abs(before.tax.amount - after.tax.amount) <= step
    else:
        before_by_rate, after_by_rate = taxes_by_rate(first), taxes_by_rate(second)
        assert before_by_rate.keys() == after_by_rate.keys()
        for rate, tax in before_by_rate.items():
            assert abs(tax.amount - after_by_rate[rate].amount) <= step


@st.composite
def intra_eu_sales(draw: st.DrawFn) -> tuple[TaxTable, TaxRequest, Address]:
    seller, buyer = draw(st.lists(st.sampled_from(EU), min_size=2, max_size=2, unique=True))
    if seller == "DE" and draw(st.booleans()):
        table = TaxTable.preset("DE").with_mode(draw(st.sampled_from(PriceMode)))
    else:
        table = draw(custom_tables(country=seller))
    request = draw(requests(table, "EUR"))
    address = Address(country=buyer, vat_id=draw(st.from_regex(r"[A-Z0-9]{8,12}", fullmatch=True)))
    return table, request, address


def ship(request: TaxRequest, to: Address) -> TaxRequest:
    return TaxRequest(
        request.lines, shipping=request.shipping, ship_to=to, currency=request.currency
    )


@given(intra_eu_sales())
def test_an_eu_business_buyer_abroad_is_reverse_charged(
    sale: tuple[TaxTable, TaxRequest, Address],
) -> None:
    table, request, buyer = sale
    domestic = table.compute(request)
    result = table.compute(ship(request, buyer))
    assert result.reverse_charge
    assert REVERSE_CHARGE_NOTE in result.notes
    assert result.tax.amount == 0
    for home, line in zip(domestic.all_lines, result.all_lines, strict=True):
        # the buyer pays the net a domestic customer would have paid before tax
        assert line.net == line.gross == home.net
        assert line.rate == 0


@given(intra_eu_sales(), st.sampled_from(["same country", "no VAT id", "outside the EU"]))
def test_otherwise_the_sale_is_taxed_as_at_home(
    sale: tuple[TaxTable, TaxRequest, Address], why: str
) -> None:
    table, request, buyer = sale
    if why == "same country":
        buyer = Address(country=table.country, vat_id=buyer.vat_id)
    elif why == "no VAT id":
        buyer = Address(country=buyer.country)
    else:
        buyer = Address(country="CH", vat_id=buyer.vat_id)
    result = table.compute(ship(request, buyer))
    assert not result.reverse_charge
    assert result.notes == ()
    assert result.all_lines == table.compute(request).all_lines
