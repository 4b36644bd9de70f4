"""Tax: rate tables, the calculator, and the port a tax service plugs into.

A `TaxTable` holds the rates of one seller country by product tax category,
with optional overrides for regions or destination countries. Its
`TaxTable.compute` takes a `TaxRequest` (lines already discounted, shipping
and the ship-to address) and returns a `TaxResult`: per line and in total
the net amount, the tax and the gross amount, a breakdown per category and
rate, and notes such as the reverse-charge wording.

**Price modes.** In `PriceMode.INCLUSIVE` the amounts given are gross, with
the tax inside (Taiwan, Japan, China and EU consumer shops): the tax is
``gross × rate / (100 + rate)`` and ``net = gross − tax``. In
`PriceMode.EXCLUSIVE` the amounts given are net (B2B price lists, the US):
the tax is ``net × rate / 100`` and ``gross = net + tax``.

**Categories.** Every table has ``"standard"`` and the two built-in
categories, ``"zero"`` (zero-rated: taxable at 0%, an export or UK
children's clothes) and ``"exempt"`` (outside the tax, e.g. UK postage
stamps); both carry no tax and both are listed in the breakdown, apart,
because an invoice must show them apart. A table adds what its country
needs: ``"reduced"`` for the EU, UK and Japanese reduced rates, and for
China ``"reduced"`` is the 9% band (books, food staples, transport) and
``"services"`` the 6% band (modern, financial and lifestyle services).

**Rounding.** `TaxRounding.DOCUMENT` is the default, because it is what tax
law usually asks of an invoice: Taiwanese e-invoices, EU VAT invoices and
Japanese qualified invoices state one tax amount per rate, worked out on
the sum of the lines at that rate and rounded once. That tax is then
allocated to the lines with `fourflows.money.allocate` (largest remainder,
lines taken in order of their keys), so line taxes add up to the document's
exactly and do not depend on the order the lines came in.
`TaxRounding.LINE` rounds each line on its own and the document's tax is
their sum; Chinese fapiao are kept that way. Tax is rounded half-up to the
currency's minor unit, or to the table's ``precision`` (the Taiwan preset
rounds business tax to whole dollars).

**Reverse charge.** When the seller's country and the buyer's are two
different EU member states (`EU_MEMBER_STATES`) and the ship-to address
carries a VAT id, no VAT is charged: every line's tax is zero, the buyer
pays the net amount, and the result carries `REVERSE_CHARGE_NOTE`. The
table trusts the VAT id; checking it (in VIES) is the caller's job.

**Presets.** `TaxTable.preset` knows TW, CN, JP, DE and GB; see its
docstring for their rates and modes.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol, TypeVar

import attrs

from fourflows.errors import CurrencyMismatch, FloatNotAllowed, InvalidInput, NotFound
from fourflows.geo import Address, country_code
from fourflows.money import (
    Money,
    Precision,
    Rounding,
    allocate,
    currency_code,
    round_money,
    sum_money,
)

__all__ = [
    "BUILT_IN_CATEGORIES",
    "EU_MEMBER_STATES",
    "EXEMPT",
    "REDUCED",
    "REVERSE_CHARGE_NOTE",
    "STANDARD",
    "ZERO",
    "LineTax",
    "PriceMode",
    "RateTotal",
    "TaxLine",
    "TaxProvider",
    "TaxRequest",
    "TaxResult",
    "TaxRounding",
    "TaxTable",
]

STANDARD = "standard"
"""The category of most goods and services, and the default of a product."""
REDUCED = "reduced"
"""The usual name of a country's (main) reduced rate."""
ZERO = "zero"
"""Zero-rated: taxable, at 0%. Built into every table."""
EXEMPT = "exempt"
"""Outside the tax altogether. Built into every table."""
BUILT_IN_CATEGORIES = frozenset({ZERO, EXEMPT})
"""The categories every table knows, always at 0%."""

EU_MEMBER_STATES = frozenset(
    {
        "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES",
        "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT", "LU",
        "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
    }
)  # fmt: skip
"""The 27 EU member states as ISO 3166-1 codes (Greece is ``GR``; its VAT ids start ``EL``)."""

REVERSE_CHARGE_NOTE = "Reverse charge: VAT to be accounted for by the recipient"
"""The note a reverse-charged result carries; invoices print it."""


class PriceMode(enum.Enum):
    """Whether the amounts given to the calculator include the tax."""

    INCLUSIVE = "inclusive"
    EXCLUSIVE = "exclusive"


class TaxRounding(enum.Enum):
    """Where tax is rounded: once per rate on the whole document, or on every line."""

    DOCUMENT = "document"
    LINE = "line"


E = TypeVar("E", bound=enum.Enum)


def _member(kind: type[E], value: object, what: str) -> E:
    if isinstance(value, kind):
        return value
    try:
        return kind(value)
    except (ValueError, TypeError):
        allowed = ", ".join(repr(member.value) for member in kind)
        raise InvalidInput(f"unknown {what} {value!r}; allowed: {allowed}") from None


def _price_mode(value: object) -> PriceMode:
    return _member(PriceMode, value, "price mode")


def _tax_rounding(value: object) -> TaxRounding:
    return _member(TaxRounding, value, "tax rounding")


def _rounding_mode(value: object) -> Rounding:
    if not isinstance(value, Rounding):
        allowed = ", ".join(f"Rounding.{member.name}" for member in Rounding)
        raise InvalidInput(f"rounding_mode must be one of {allowed}, not {value!r}")
    return value


def _percent(value: object, where: str = "a tax rate") -> Decimal:
    if isinstance(value, float):
        raise FloatNotAllowed(value, where)
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise InvalidInput(f"{where} must be a percentage as str, int or Decimal, not {value!r}")
    try:
        number = value if isinstance(value, Decimal) else Decimal(value)
    except InvalidOperation:
        raise InvalidInput(
            f"{where} {value!r} is not a number; write it like '5' or '7.25'"
        ) from None
    if not number.is_finite() or not 0 <= number <= 100:
        raise InvalidInput(f"{where} must be a percentage from 0 to 100, not {value!r}")
    return number


def _category(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(
            f"a tax category must be a non-empty name such as 'standard', not {value!r}"
        )
    return value.strip().lower()


def _region(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(
            f"a region must be a non-empty code such as 'US-CA' or 'FR', not {value!r}"
        )
    return value.strip().upper()


V = TypeVar("V")


class _FrozenMapping(Mapping[str, V]):
    """A read-only, hashable, picklable mapping, so that tables are values."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, V]) -> None:
        self._data = dict(data)

    def __getitem__(self, key: str) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __repr__(self) -> str:
        return repr(self._data)


def _rates(value: object, where: str) -> Mapping[str, Decimal]:
    if not isinstance(value, Mapping):
        raise InvalidInput(
            f"{where} must map categories to percentages, e.g. {{'standard': '5'}}, not {value!r}"
        )
    table: dict[str, Decimal] = {}
    for name, percent in value.items():
        category = _category(name)
        if category in table:
            raise InvalidInput(f"{where} names the category {category!r} twice")
        rate = _percent(percent, f"the rate of {category!r} in {where}")
        if category in BUILT_IN_CATEGORIES and rate != 0:
            raise InvalidInput(
                f"{category!r} is built in at 0% and cannot be {rate}% in {where}; "
                "name a category of your own for another rate"
            )
        table[category] = rate
    return _FrozenMapping(table)


def _base_rates(value: object) -> Mapping[str, Decimal]:
    table = _rates(value, "the rates")
    if STANDARD not in table:
        raise InvalidInput(f"a tax table needs a {STANDARD!r} rate, e.g. {{'standard': '5'}}")
    return table


def _region_rates(value: object) -> Mapping[str, Mapping[str, Decimal]]:
    if not isinstance(value, Mapping):
        raise InvalidInput(
            f"regions must map region codes to rates, e.g. {{'US-CA': {{'standard': '7.25'}}}}, "
            f"not {value!r}"
        )
    regions: dict[str, Mapping[str, Decimal]] = {}
    for name, rates in value.items():
        code = _region(name)
        if code in regions:
            raise InvalidInput(f"the region {code!r} is given twice")
        regions[code] = _rates(rates, f"the rates of {code!r}")
    return _FrozenMapping(regions)


def _optional_precision(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, Precision):
        raise InvalidInput(
            f"{attribute.name} must be a Precision such as Precision.of(0), or None for the "
            f"currency's minor unit, not {value!r}"
        )


def _flag(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidInput(f"{attribute.name} must be True or False, not {value!r}")


def _key(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"a tax line needs a non-empty key such as a sku, not {value!r}")
    return value


def _money(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Money):
        raise InvalidInput(f"{attribute.name} must be Money, not {value!r}")


def _taxable_amount(value: object, where: str) -> Money:
    if not isinstance(value, Money):
        raise InvalidInput(f"{where} must be Money, not {value!r}")
    if value.amount < 0:
        raise InvalidInput(f"{where} cannot be negative: {value}")
    if round_money(value) != value:
        raise InvalidInput(
            f"{where} {value} is not a whole number of minor units of {value.code}; round it first"
        )
    return value


def _check_sum(net: Money, tax: Money, gross: Money, where: str) -> None:
    for part in (tax, gross):
        if part.currency != net.currency:
            raise CurrencyMismatch(net.code, part.code, f"total {where}")
    if net + tax != gross:
        raise InvalidInput(f"{where}: net {net} plus tax {tax} is not the gross {gross}")


def _percent_text(rate: Decimal) -> str:
    return f"{rate.normalize():f}%"


@attrs.frozen
class TaxLine:
    """One line to tax: its ``key`` (a sku or line id), ``amount`` and tax ``category``.

    ``amount`` is the line's total after discounts, in the provider's price
    mode: gross when prices include tax, net when they do not. It must be a
    whole number of minor units and not negative.
    """

    key: str = attrs.field(converter=_key)
    amount: Money = attrs.field()
    category: str = attrs.field(default=STANDARD, converter=_category)

    @amount.validator
    def _check_amount(self, _: object, value: object) -> None:
        _taxable_amount(value, f"the amount of line {self.key!r}")


def _tax_lines(value: Iterable[TaxLine]) -> tuple[TaxLine, ...]:
    if isinstance(value, TaxLine | str | Money) or not isinstance(value, Iterable):
        raise InvalidInput(f"lines must be a sequence of TaxLine, not {value!r}")
    lines = tuple(value)
    for line in lines:
        if not isinstance(line, TaxLine):
            raise InvalidInput(f"a tax request holds TaxLine values, not {line!r}")
    return lines


def _optional_address(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, Address):
        raise InvalidInput(f"{attribute.name} must be an Address or None, not {value!r}")


def _optional_shipping(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _taxable_amount(value, "shipping")


@attrs.frozen
class TaxRequest:
    """What to tax: the lines, the shipping charge and where the goods go.

    ``shipping`` is taxed as a line of its own (see `TaxTable`); ``ship_to``
    picks the region's rates and, with its ``vat_id``, decides reverse
    charge. All amounts share one currency (`CurrencyMismatch` otherwise);
    ``currency`` is taken from them, and must be given when there are none.
    Line keys are unique.
    """

    lines: tuple[TaxLine, ...] = attrs.field(default=(), converter=_tax_lines)
    shipping: Money | None = attrs.field(default=None, kw_only=True, validator=_optional_shipping)
    ship_to: Address | None = attrs.field(default=None, kw_only=True, validator=_optional_address)
    currency: str = attrs.field(kw_only=True, converter=currency_code)

    @currency.default
    def _currency_of_the_amounts(self) -> str:
        for line in self.lines:
            return line.amount.code
        if self.shipping is not None:
            return self.shipping.code
        raise InvalidInput("a tax request without lines or shipping needs a currency, e.g. 'TWD'")

    def __attrs_post_init__(self) -> None:
        seen: set[str] = set()
        for line in self.lines:
            if line.amount.code != self.currency:
                raise CurrencyMismatch(self.currency, line.amount.code, f"tax line {line.key!r}")
            if line.key in seen:
                raise InvalidInput(f"the line key {line.key!r} appears twice; keys are unique")
            seen.add(line.key)
        if self.shipping is not None and self.shipping.code != self.currency:
            raise CurrencyMismatch(self.currency, self.shipping.code, "tax shipping")


@attrs.frozen(kw_only=True)
class LineTax:
    """The tax of one line: ``net + tax == gross``, at ``rate`` percent of its ``category``."""

    key: str = attrs.field(converter=_key)
    category: str = attrs.field(converter=_category)
    rate: Decimal = attrs.field(converter=_percent)
    net: Money = attrs.field(validator=_money)
    tax: Money = attrs.field(validator=_money)
    gross: Money = attrs.field(validator=_money)

    def __attrs_post_init__(self) -> None:
        _check_sum(self.net, self.tax, self.gross, f"line {self.key!r}")


@attrs.frozen(kw_only=True)
class RateTotal:
    """One row of the breakdown: the lines of ``category`` at ``rate`` percent, added up."""

    category: str = attrs.field(converter=_category)
    rate: Decimal = attrs.field(converter=_percent)
    net: Money = attrs.field(validator=_money)
    tax: Money = attrs.field(validator=_money)
    gross: Money = attrs.field(validator=_money)

    def __attrs_post_init__(self) -> None:
        _check_sum(self.net, self.tax, self.gross, f"the {self.category!r} row")


def _line_taxes(value: Iterable[LineTax]) -> tuple[LineTax, ...]:
    lines = tuple(value)
    for line in lines:
        if not isinstance(line, LineTax):
            raise InvalidInput(f"a tax result holds LineTax values, not {line!r}")
    return lines


def _optional_line_tax(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, LineTax):
        raise InvalidInput(f"{attribute.name} must be a LineTax or None, not {value!r}")


def _notes(value: Iterable[str]) -> tuple[str, ...]:
    notes = (value,) if isinstance(value, str) else tuple(value)
    for note in notes:
        if not isinstance(note, str) or not note:
            raise InvalidInput(f"notes must be non-empty strings, not {note!r}")
    return notes


def _breakdown_order(row: RateTotal) -> tuple[bool, Decimal, str]:
    return (row.category == EXEMPT, -row.rate, row.category)


@attrs.frozen(kw_only=True)
class TaxResult:
    """The tax of a request: per line, for shipping, per category and rate, and in total.

    ``lines`` come back in the order of the request. ``net``, ``tax`` and
    ``gross`` are the sums of the lines and shipping, and ``breakdown`` adds
    them up per category and rate, so all of them agree by construction;
    the three totals are summed once, when the result is made.
    ``reverse_charge`` says the buyer accounts for the VAT; ``notes`` carry
    the wording an invoice must print. ``jurisdiction`` names the table or
    region whose rates applied, when the provider says.
    """

    mode: PriceMode = attrs.field(converter=_price_mode)
    currency: str = attrs.field(converter=currency_code)
    lines: tuple[LineTax, ...] = attrs.field(converter=_line_taxes)
    shipping: LineTax | None = attrs.field(default=None, validator=_optional_line_tax)
    notes: tuple[str, ...] = attrs.field(default=(), converter=_notes)
    reverse_charge: bool = attrs.field(default=False, validator=_flag)
    jurisdiction: str | None = None

    def __attrs_post_init__(self) -> None:
        seen: set[str] = set()
        for line in self.lines:
            if line.net.code != self.currency:
                raise CurrencyMismatch(self.currency, line.net.code, f"tax line {line.key!r}")
            if line.key in seen:
                raise InvalidInput(f"the line key {line.key!r} appears twice; keys are unique")
            seen.add(line.key)
        if self.shipping is not None and self.shipping.net.code != self.currency:
            raise CurrencyMismatch(self.currency, self.shipping.net.code, "tax shipping")
        # Summed once, now: every reader of a quote's tax and total then reads a kept value.
        _ = self.net, self.tax, self.gross

    @property
    def all_lines(self) -> tuple[LineTax, ...]:
        """The lines, then shipping if there is any."""
        return self.lines if self.shipping is None else (*self.lines, self.shipping)

    @functools.cached_property
    def net(self) -> Money:
        """The net total: lines and shipping without tax."""
        return sum_money((line.net for line in self.all_lines), currency=self.currency)

    @functools.cached_property
    def tax(self) -> Money:
        """The total tax."""
        return sum_money((line.tax for line in self.all_lines), currency=self.currency)

    @functools.cached_property
    def gross(self) -> Money:
        """The gross total: what the buyer pays for lines and shipping."""
        return sum_money((line.gross for line in self.all_lines), currency=self.currency)

    @property
    def breakdown(self) -> tuple[RateTotal, ...]:
        """Totals per (category, rate): highest rate first, then by name, exempt last."""
        groups: dict[tuple[str, Decimal], list[LineTax]] = {}
        for line in self.all_lines:
            groups.setdefault((line.category, line.rate), []).append(line)
        rows = [
            RateTotal(
                category=category,
                rate=rate,
                net=sum_money((line.net for line in lines), currency=self.currency),
                tax=sum_money((line.tax for line in lines), currency=self.currency),
                gross=sum_money((line.gross for line in lines), currency=self.currency),
            )
            for (category, rate), lines in groups.items()
        ]
        return tuple(sorted(rows, key=_breakdown_order))

    def line(self, key: str) -> LineTax:
        """The tax of the line with ``key``; `NotFound` if the request had no such line."""
        for line in self.lines:
            if line.key == key:
                return line
        raise NotFound("tax line", key, (line.key for line in self.lines))

    def explain(self) -> str:
        """The breakdown, the totals and the notes as text, one row a line."""
        rows = [
            f"{row.category} {_percent_text(row.rate)}: net {row.net}, tax {row.tax}, "
            f"gross {row.gross}"
            for row in self.breakdown
        ]
        rows.append(
            f"total ({self.mode.value}): net {self.net}, tax {self.tax}, gross {self.gross}"
        )
        rows.extend(self.notes)
        return "\n".join(rows)


class TaxProvider(Protocol):
    """The port for tax: a `TaxTable`, or an adapter over an external tax service.

    ``mode`` says whether the amounts of a request are gross or net; the
    caller prices in that mode. ``compute`` is a pure question: it records
    nothing, so it may be asked again with the same request, and it returns
    a `TaxResult` with every line of the request, in order, plus shipping
    when the request has it.

    Failures:

    * `InvalidInput` (a `ValueError`): the request cannot be taxed as asked,
      e.g. an unknown tax category or a currency the provider does not
      handle. The message names the value and what is allowed. Do not retry.
    * `CurrencyMismatch`: amounts in two currencies. `TaxRequest` raises it
      when built, so a provider never sees such a request.
    * `fourflows.errors.TaxServiceUnavailable`: the provider cannot answer
      now (network error, outage, its own timeout elapsed). An adapter
      translates its driver's errors into it (``raise ... from exc``). Retry
      later or fall back to a `TaxTable`.

    Anything else escaping ``compute`` is a bug in the provider.
    """

    @property
    def mode(self) -> PriceMode:
        """Whether request amounts include the tax (gross) or not (net)."""
        ...

    def compute(self, request: TaxRequest) -> TaxResult:
        """The tax of ``request``; see the class docstring for the failures."""
        ...


def _with_rate(table: Mapping[str, Decimal], category: str, percent: Decimal) -> dict[str, Any]:
    return {**table, category: percent}


@attrs.frozen(kw_only=True)
class TaxTable:
    """Tax rates of one seller ``country`` by category, with regional overrides.

    ``rates`` maps categories to percentages and must have ``"standard"``;
    ``"zero"`` and ``"exempt"`` are built in. ``regions`` maps a region or
    destination code (``"US-CA"``, ``"CA-ON"``, or a country such as
    ``"FR"``) to the rates that differ there: a category it does not list
    keeps the rate of the country override, then of the table. A region
    override may only change categories the table has.

    ``mode`` is the price mode of the amounts it is given. ``rounding`` is
    `TaxRounding.DOCUMENT` unless set (see the module docstring for why),
    ``rounding_mode`` half-up, and ``precision`` the step tax is rounded to
    (``None``: the currency's minor unit). ``shipping_taxed`` and
    ``shipping_category`` say how shipping is taxed; untaxed shipping is
    reported as ``"exempt"``.
    """

    country: str = attrs.field(converter=country_code)
    rates: Mapping[str, Decimal] = attrs.field(converter=_base_rates)
    mode: PriceMode = attrs.field(converter=_price_mode)
    regions: Mapping[str, Mapping[str, Decimal]] = attrs.field(
        factory=dict, converter=_region_rates
    )
    rounding: TaxRounding = attrs.field(default=TaxRounding.DOCUMENT, converter=_tax_rounding)
    rounding_mode: Rounding = attrs.field(default=Rounding.HALF_UP, converter=_rounding_mode)
    precision: Precision | None = attrs.field(default=None, validator=_optional_precision)
    shipping_taxed: bool = attrs.field(default=True, validator=_flag)
    shipping_category: str = attrs.field(default=STANDARD, converter=_category)

    def __attrs_post_init__(self) -> None:
        known = self.categories
        for code, overrides in self.regions.items():
            unknown = sorted(set(overrides) - set(known))
            if unknown:
                raise InvalidInput(
                    f"the region {code!r} sets categories the table does not have: "
                    f"{', '.join(map(repr, unknown))}; the table has: {', '.join(map(repr, known))}"
                )
        if self.shipping_category not in known:
            raise InvalidInput(
                f"unknown shipping category {self.shipping_category!r}; "
                f"the table has: {', '.join(map(repr, known))}"
            )

    @classmethod
    def preset(cls, name: str) -> TaxTable:
        """The table of a country, by ISO code.

        | preset | rates | prices | rounding |
        | --- | --- | --- | --- |
        | TW | standard 5% (business tax) | inclusive | document, whole TWD |
        | CN | standard 13%, reduced 9%, services 6% | inclusive | line |
        | JP | standard 10%, reduced 8% | inclusive | document |
        | DE | standard 19%, reduced 7% | inclusive | document |
        | GB | standard 20%, reduced 5%, zero 0% | inclusive | document |

        Every preset is tax-inclusive because consumer prices there are shown
        with the tax in; a B2B shop calls ``.with_mode(PriceMode.EXCLUSIVE)``.
        An unknown name raises `InvalidInput` listing the presets.
        """
        code = name.strip().upper() if isinstance(name, str) else name
        if not isinstance(code, str) or code not in _PRESETS:
            raise InvalidInput(
                f"unknown tax preset {name!r}; presets: {', '.join(map(repr, cls.presets()))}"
            )
        return cls(**_PRESETS[code])

    @staticmethod
    def presets() -> tuple[str, ...]:
        """The names `preset` knows, sorted."""
        return tuple(sorted(_PRESETS))

    @property
    def categories(self) -> tuple[str, ...]:
        """Every category this table knows, sorted, built-in ones included."""
        return tuple(sorted({*self.rates, *BUILT_IN_CATEGORIES}))

    def with_mode(self, mode: PriceMode | str) -> TaxTable:
        """A copy of this table with prices in ``mode``."""
        return attrs.evolve(self, mode=mode)

    def with_rounding(
        self, rounding: TaxRounding | str, *, rounding_mode: Rounding | None = None
    ) -> TaxTable:
        """A copy rounding per ``rounding`` (and ``rounding_mode``, when given)."""
        if rounding_mode is None:
            return attrs.evolve(self, rounding=rounding)
        return attrs.evolve(self, rounding=rounding, rounding_mode=rounding_mode)

    def with_rate(
        self, category: str, percent: Decimal | int | str, *, region: str | None = None
    ) -> TaxTable:
        """A copy with ``category`` at ``percent``, for the whole table or one ``region``."""
        name = _category(category)
        rate = _percent(percent, f"the rate of {name!r}")
        if region is None:
            return attrs.evolve(self, rates=_with_rate(self.rates, name, rate))
        code = _region(region)
        regions: dict[str, Mapping[str, Any]] = dict(self.regions)
        regions[code] = _with_rate(regions.get(code, {}), name, rate)
        return attrs.evolve(self, regions=regions)

    def with_shipping(self, *, taxed: bool = True, category: str = STANDARD) -> TaxTable:
        """A copy taxing shipping at ``category``, or not at all when ``taxed`` is false."""
        return attrs.evolve(self, shipping_taxed=taxed, shipping_category=category)

    def _rates_at(self, ship_to: Address | None) -> tuple[str, dict[str, Decimal]]:
        rates = {**self.rates, ZERO: Decimal(0), EXEMPT: Decimal(0)}
        where = self.country
        if ship_to is not None:
            for code in (ship_to.country, ship_to.region):
                if code is not None and code in self.regions:
                    rates.update(self.regions[code])
                    where = code
        return where, rates

    def rate(self, category: str, *, ship_to: Address | None = None) -> Decimal:
        """The percentage of ``category`` for goods sent to ``ship_to`` (reverse charge aside)."""
        where, rates = self._rates_at(ship_to)
        return self._look_up(_category(category), where, rates)

    def _look_up(self, category: str, where: str, rates: Mapping[str, Decimal]) -> Decimal:
        if category not in rates:
            raise InvalidInput(
                f"unknown tax category {category!r} in {where}; "
                f"the {self.country} table has: {', '.join(map(repr, self.categories))}"
            )
        return rates[category]

    def reverse_charge_applies(self, ship_to: Address | None) -> bool:
        """Whether a sale to ``ship_to`` is an intra-EU B2B supply the buyer accounts for."""
        return (
            ship_to is not None
            and ship_to.vat_id is not None
            and self.country in EU_MEMBER_STATES
            and ship_to.country in EU_MEMBER_STATES
            and ship_to.country != self.country
        )

    def _step(self, currency: str) -> Precision:
        minor = Precision.minor_unit(currency)
        step = self.precision or minor
        ratio = step.quantum / minor.quantum
        if ratio != ratio.to_integral_value():
            raise InvalidInput(
                f"tax precision {step} is finer than the minor unit {minor} of {currency}; "
                "use the minor unit or a coarser step"
            )
        return step

    def _exact(self, amount: Money, rate: Decimal) -> Money:
        base = 100 + rate if self.mode is PriceMode.INCLUSIVE else Decimal(100)
        share: Money = amount * rate / base
        return share

    def _taxes(self, amounts: list[Money], rates: list[Decimal], step: Precision) -> list[Money]:
        """The tax of each amount, rounded per line or per rate on the document."""
        if self.rounding is TaxRounding.LINE:
            return [
                round_money(self._exact(amount, rate), step, self.rounding_mode)
                for amount, rate in zip(amounts, rates, strict=True)
            ]
        taxes = [amount * 0 for amount in amounts]
        for rate in sorted({rate for rate in rates if rate > 0}):
            members = [index for index, each in enumerate(rates) if each == rate]
            total = sum_money(amounts[index] for index in members)
            document_tax = round_money(self._exact(total, rate), step, self.rounding_mode)
            parts = allocate(document_tax, [amounts[index] for index in members], precision=step)
            for index, part in zip(members, parts, strict=True):
                taxes[index] = part
        return taxes

    def compute(self, request: TaxRequest) -> TaxResult:
        """The tax of ``request`` at this table's rates, mode and rounding.

        >>> table = TaxTable.preset("TW")
        >>> result = table.compute(TaxRequest([TaxLine("tee", Money("1180", "TWD"))]))
        >>> result.tax, result.net
        (Money('56.00', 'TWD'), Money('1124.00', 'TWD'))

        Raises `InvalidInput` for a category the table does not have, naming
        it and the categories it has.
        """
        if not isinstance(request, TaxRequest):
            raise InvalidInput(f"compute takes a TaxRequest, not {request!r}")
        step = self._step(request.currency)
        where, known = self._rates_at(request.ship_to)
        keys = [line.key for line in request.lines]
        categories = [line.category for line in request.lines]
        amounts = [line.amount for line in request.lines]
        if request.shipping is not None:
            keys.append("shipping")
            categories.append(self.shipping_category if self.shipping_taxed else EXEMPT)
            amounts.append(request.shipping)
        rates = [self._look_up(category, where, known) for category in categories]
        # Allocate in the canonical order (lines by key, shipping last) so that
        # the result does not depend on the order the lines were given in.
        order = sorted(range(len(request.lines)), key=lambda index: keys[index])
        order += list(range(len(request.lines), len(keys)))
        canonical = self._taxes(
            [amounts[index] for index in order], [rates[index] for index in order], step
        )
        taxes = [Money(0, request.currency)] * len(keys)
        for position, index in enumerate(order):
            taxes[index] = canonical[position]
        reverse = self.reverse_charge_applies(request.ship_to)
        results = [
            self._line_tax(key, category, rate, amount, tax, reverse=reverse)
            for key, category, rate, amount, tax in zip(
                keys, categories, rates, amounts, taxes, strict=True
            )
        ]
        shipping = results.pop() if request.shipping is not None else None
        return TaxResult(
            mode=self.mode,
            currency=request.currency,
            lines=results,
            shipping=shipping,
            notes=(REVERSE_CHARGE_NOTE,) if reverse else (),
            reverse_charge=reverse,
            jurisdiction=where,
        )

    def _line_tax(
        self, key: str, category: str, rate: Decimal, amount: Money, tax: Money, *, reverse: bool
    ) -> LineTax:
        amount, tax = round_money(amount), round_money(tax)
        if self.mode is PriceMode.INCLUSIVE:
            net, gross = amount - tax, amount
        else:
            net, gross = amount, amount + tax
        if reverse:
            # The buyer accounts for the VAT: they pay the net amount, and a
            # tax-inclusive price loses the seller's VAT it had inside.
            return LineTax(key=key, category=category, rate=0, net=net, tax=net * 0, gross=net)
        return LineTax(key=key, category=category, rate=rate, net=net, tax=tax, gross=gross)


_PRESETS: dict[str, dict[str, Any]] = {
    "TW": {
        "country": "TW",
        "rates": {STANDARD: "5"},
        "mode": PriceMode.INCLUSIVE,
        "precision": Precision.of(0),
    },
    "CN": {
        "country": "CN",
        "rates": {STANDARD: "13", REDUCED: "9", "services": "6"},
        "mode": PriceMode.INCLUSIVE,
        "rounding": TaxRounding.LINE,
    },
    "JP": {
        "country": "JP",
        "rates": {STANDARD: "10", REDUCED: "8"},
        "mode": PriceMode.INCLUSIVE,
    },
    "DE": {
        "country": "DE",
        "rates": {STANDARD: "19", REDUCED: "7"},
        "mode": PriceMode.INCLUSIVE,
    },
    "GB": {
        "country": "GB",
        "rates": {STANDARD: "20", REDUCED: "5"},
        "mode": PriceMode.INCLUSIVE,
    },
}
