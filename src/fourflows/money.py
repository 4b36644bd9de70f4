"""Exact money: amounts, rounding, allocation, sums, parsing and formatting.

`Money` is py-moneyed's `Money` made strict: it takes `str`, `int` or
`Decimal` (never a float), cannot be changed after creation, refuses to mix
currencies with `CurrencyMismatch`, and rounds half-up to the currency's minor
unit unless told otherwise.

Three precisions are kept apart, because shops meet all three:

* the **minor unit** from ISO 4217 (`Precision.minor_unit`): TWD and USD have
  2 decimals, JPY 0, KWD 3. Documents and ledgers are kept at this precision.
* the **cash precision** from CLDR (`Precision.cash`): TWD and HUF coins have
  no decimals, Swiss cash rounds to 0.05 CHF.
* a **provider precision** that a payment gateway or carrier asks for
  (`Precision.of(0)` for a gateway that wants whole TWD).

Rounding never depends on the global `decimal` context: every function here
works in a private context and takes its rounding mode as an argument.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Mapping, Sequence
from decimal import (
    ROUND_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)
from typing import Annotated, Any, Self

import attrs
import moneyed
from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.numbers import NumberFormatError, parse_decimal, parse_pattern
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from fourflows.errors import CurrencyMismatch, FloatNotAllowed, InvalidInput

__all__ = [
    "Money",
    "MoneyField",
    "Precision",
    "Rounding",
    "allocate",
    "allocate_units",
    "currency_code",
    "format_money",
    "parse_money",
    "round_money",
    "split_evenly",
    "sum_money",
]

# A private context: wide enough for any shop amount, and immune to whatever a
# user sets in `decimal.getcontext()`.
_CTX = Context(prec=60, traps=[InvalidOperation, DivisionByZero, Overflow])

Number = int | Decimal


class Rounding(enum.Enum):
    """How an amount that falls between two steps is rounded.

    ``HALF_UP`` rounds a half away from zero (``0.125 → 0.13``,
    ``-0.125 → -0.13``) and is the default, as shoppers and tax offices expect.
    ``HALF_EVEN`` (banker's rounding) is there for ledgers that want it.
    ``UP`` and ``DOWN`` round away from and towards zero.
    """

    HALF_UP = ROUND_HALF_UP
    HALF_EVEN = ROUND_HALF_EVEN
    UP = ROUND_UP
    DOWN = ROUND_DOWN


def currency_code(value: object) -> str:
    """``value`` as an upper-case ISO 4217 code; `InvalidInput` if it is not one."""
    return str(_currency(value).code)


# Currencies found by the text they were asked for ('TWD', ' twd'), so that building
# Money from a code skips the strip, upper and registry lookup after the first time.
# Only known codes are kept, and at most _KNOWN_LIMIT spellings of them.
_KNOWN_CURRENCIES: dict[str, moneyed.Currency] = {}
_KNOWN_LIMIT = 1024


def _currency(code: object) -> moneyed.Currency:
    if type(code) is str:
        known = _KNOWN_CURRENCIES.get(code)
        if known is not None:
            return known
    if isinstance(code, moneyed.Currency):
        return code
    if not isinstance(code, str):
        raise InvalidInput(f"currency must be an ISO 4217 code such as 'TWD', not {code!r}")
    try:
        found = moneyed.get_currency(code.strip().upper())
    except moneyed.CurrencyDoesNotExist:
        raise InvalidInput(
            f"unknown currency {code!r}; use an ISO 4217 code such as 'TWD', 'USD' or 'JPY'"
        ) from None
    if type(code) is str and len(_KNOWN_CURRENCIES) < _KNOWN_LIMIT:
        _KNOWN_CURRENCIES[code] = found
    return found


def _decimal(value: object, where: str) -> Decimal:
    """Turn an exact number into a finite Decimal, refusing floats and bools."""
    kind = type(value)
    if kind is Decimal:
        if value.is_finite():  # type: ignore[attr-defined]
            return value  # type: ignore[return-value]
    elif kind is int:
        return Decimal(value)  # type: ignore[arg-type]
    if isinstance(value, float):
        raise FloatNotAllowed(value, where)
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise InvalidInput(f"{where} must be str, int or Decimal, not {value!r}")
    try:
        number = value if isinstance(value, Decimal) else Decimal(value)
    except InvalidOperation:
        raise InvalidInput(
            f"{where} {value!r} is not a number; write it like '1234.50' "
            "(use parse_money for text with grouping separators)"
        ) from None
    if not number.is_finite():
        raise InvalidInput(f"{where} must be a finite number, not {value!r}")
    return number


@attrs.frozen
class Precision:
    """A rounding step: ``increment`` units of ``10 ** -exponent``.

    ``Precision.of(2)`` is a step of 0.01, ``Precision.of(0)`` a step of 1 and
    ``Precision.of(2, increment=5)`` a step of 0.05.
    """

    exponent: int = attrs.field()
    increment: int = attrs.field(default=1)

    @exponent.validator
    def _check_exponent(self, _: object, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 8:
            raise InvalidInput(f"precision exponent must be an int from 0 to 8, not {value!r}")

    @increment.validator
    def _check_increment(self, _: object, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInput(f"precision increment must be an int of at least 1, not {value!r}")

    @classmethod
    def of(cls, digits: int, *, increment: int = 1) -> Precision:
        """A precision of ``digits`` decimals, in steps of ``increment``."""
        return cls(digits, increment)

    @classmethod
    def minor_unit(cls, currency: str | moneyed.Currency) -> Precision:
        """The ISO 4217 minor unit of ``currency`` (TWD 2, JPY 0, KWD 3)."""
        if isinstance(currency, moneyed.Currency):
            found = _sub_unit_precision(currency.sub_unit)
        elif isinstance(currency, str):
            found = _code_precision(currency)
        else:
            found = _sub_unit_precision(_currency(currency).sub_unit)
        return found if cls is Precision else cls(found.exponent)

    @classmethod
    def cash(cls, currency: str | moneyed.Currency) -> Precision:
        """The precision of cash payments in ``currency``, from CLDR (TWD 0, CHF 0.05)."""
        code = _currency(currency).code
        fractions: Mapping[str, tuple[int, int, int, int]] = get_global("currency_fractions")
        if code not in fractions:
            return cls.minor_unit(code)
        _, _, cash_digits, cash_rounding = fractions[code]
        return cls(cash_digits, max(cash_rounding, 1))

    @property
    def quantum(self) -> Decimal:
        """The step as a Decimal, e.g. ``Decimal('0.05')``."""
        return _quantum(self.increment, self.exponent)

    def __str__(self) -> str:
        return str(self.quantum)


@functools.lru_cache(maxsize=256)
def _quantum(increment: int, exponent: int) -> Decimal:
    """A precision's step, made once per (increment, exponent): checks ask for it often."""
    return Decimal(increment).scaleb(-exponent)


# Precision values are immutable, so the minor unit of a currency is looked up
# once: pricing asks for it for every amount it converts to and from minor units.
@functools.lru_cache(maxsize=64)
def _sub_unit_precision(sub_unit: int) -> Precision:
    return Precision(len(str(sub_unit)) - 1)


@functools.lru_cache(maxsize=256)
def _code_precision(code: str) -> Precision:
    return _sub_unit_precision(_currency(code).sub_unit)


_MINOR_DIGITS: dict[moneyed.Currency, int] = {}
"""The decimals of the minor unit of each currency met so far (a currency never changes)."""


class Money(moneyed.Money):
    """An exact amount in one currency.

    >>> Money("590", "TWD") * 2
    Money('1180', 'TWD')

    Built from `str`, `int` or `Decimal`; a float raises `FloatNotAllowed`.
    Immutable and hashable. Arithmetic is exact: multiplying or dividing keeps
    every digit, and nothing is rounded until you call `round` (or
    `round_money`), which rounds half-up to the minor unit by default.
    """

    def __init__(self, amount: object, currency: str | moneyed.Currency) -> None:
        number = _decimal(amount, "a money amount")
        found = _currency(currency)
        if self.__dict__:
            raise AttributeError("Money is immutable; cannot set 'amount'")
        # What moneyed.Money.__init__ sets, with the checks above already done.
        self.__dict__.update(amount=number, currency=found)

    def __setattr__(self, name: str, value: object) -> None:
        if name in self.__dict__ or name not in ("amount", "currency"):
            raise AttributeError(f"Money is immutable; cannot set {name!r}")
        super().__setattr__(name, value)

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: object) -> Self:
        return self

    def __reduce__(self) -> tuple[type[Money], tuple[str, str]]:
        return (type(self), (str(self.amount), self.currency.code))

    def __str__(self) -> str:
        return f"{self.amount} {self.currency.code}"

    @classmethod
    def zero(cls, currency: str | moneyed.Currency) -> Self:
        """Nothing, in ``currency``."""
        return cls(0, currency)

    @classmethod
    def from_minor_units(cls, units: int, currency: str | moneyed.Currency) -> Self:
        """The amount of ``units`` minor units, e.g. 1234 cents → 12.34 USD."""
        if isinstance(units, bool) or not isinstance(units, int):
            raise InvalidInput(f"minor units must be an int, not {units!r}")
        found = _currency(currency)
        amount = Decimal(units).scaleb(-Precision.minor_unit(found).exponent)
        if cls is Money:
            return _exact(amount, found)  # type: ignore[return-value]
        return cls(amount, found)

    @property
    def code(self) -> str:
        """The ISO 4217 code of the currency, e.g. ``'TWD'``."""
        return str(self.currency.code)

    def _check_same(self, other: moneyed.Money, operation: str) -> None:
        if other.currency is not self.currency and other.currency != self.currency:
            raise CurrencyMismatch(self.currency.code, other.currency.code, operation)

    def _made(self, amount: Decimal) -> Self:
        """The result of arithmetic on this money: ``amount`` in its currency.

        A finite result of exact Decimal arithmetic on checked amounts needs no
        checking again, so a plain `Money` takes the fast path of `_exact`.
        """
        if type(self) is Money and amount.is_finite():
            return _exact(amount, self.currency)  # type: ignore[return-value]
        return type(self)(amount, self.currency)

    def __add__(self, other: object) -> Self:
        if isinstance(other, moneyed.Money):
            self._check_same(other, "add")
            return self._made(_CTX.add(self.amount, other.amount))
        if isinstance(other, int | Decimal) and not isinstance(other, bool) and other == 0:
            return self  # so that the builtin sum() works
        return NotImplemented

    __radd__ = __add__

    def __neg__(self) -> Self:
        return self._made(_CTX.minus(self.amount))

    def __pos__(self) -> Self:
        return self

    def __abs__(self) -> Self:
        return type(self)(_CTX.abs(self.amount), self.currency)

    def __sub__(self, other: object) -> Self:
        if isinstance(other, moneyed.Money):
            self._check_same(other, "subtract")
            return self._made(_CTX.subtract(self.amount, other.amount))
        return NotImplemented

    def __rsub__(self, other: object) -> Self:
        return NotImplemented

    def __mul__(self, other: object) -> Self:
        if isinstance(other, moneyed.Money):
            raise InvalidInput("cannot multiply money by money")
        return self._made(_CTX.multiply(self.amount, _decimal(other, "a multiplier")))

    __rmul__ = __mul__

    def __truediv__(self, other: object) -> Any:
        if isinstance(other, moneyed.Money):
            self._check_same(other, "divide")
            return _CTX.divide(self.amount, other.amount)
        return type(self)(_CTX.divide(self.amount, _decimal(other, "a divisor")), self.currency)

    def __rmod__(self, other: object) -> Self:
        """``5 % price`` is five per cent of the price (exact, not rounded)."""
        percent = _decimal(other, "a percentage")
        return type(self)(_CTX.divide(_CTX.multiply(self.amount, percent), 100), self.currency)

    def _compare(self, other: object) -> Decimal:
        if not isinstance(other, moneyed.Money):
            raise InvalidInput(f"cannot compare money with {other!r}")
        self._check_same(other, "compare")
        return other.amount

    def __lt__(self, other: object) -> bool:
        return self.amount < self._compare(other)

    def __le__(self, other: object) -> bool:
        return self.amount <= self._compare(other)

    def __gt__(self, other: object) -> bool:
        return self.amount > self._compare(other)

    def __ge__(self, other: object) -> bool:
        return self.amount >= self._compare(other)

    def __hash__(self) -> int:
        return hash((self.amount, self.currency.code))

    def round(self, ndigits: int | None = None) -> Self:
        """Round half-up to ``ndigits`` decimals, or to the minor unit when omitted.

        Unlike py-moneyed's own ``round``, this ignores the global decimal
        context and defaults to the currency's minor unit, not to 0 decimals.
        """
        precision = None if ndigits is None else Precision.of(ndigits)
        return type(self)(round_money(self, precision).amount, self.currency)

    def get_amount_in_sub_unit(self) -> int:
        """The amount in minor units; raises `InvalidInput` unless it is a whole number of them."""
        currency = self.currency
        digits = _MINOR_DIGITS.get(currency)
        if digits is None:
            precision = Precision.minor_unit(currency)
            if len(_MINOR_DIGITS) < _KNOWN_LIMIT:
                _MINOR_DIGITS[currency] = precision.exponent
            return _whole_steps(self, precision)
        # A minor unit is a step of 1 at 10 ** -digits: shifting the point is exact.
        steps = self.amount.scaleb(digits, _CTX)
        if steps != steps.to_integral_value():
            return _whole_steps(self, Precision.minor_unit(currency))  # raises, worded
        return int(steps)

    def to_json(self) -> dict[str, str]:
        """The JSON form: ``{"amount": "12.34", "currency": "TWD"}``."""
        return {"amount": str(self.amount), "currency": self.code}

    @classmethod
    def from_json(cls, data: object) -> Self:
        """Read the JSON form; the amount must be a string or an int, never a float."""
        if isinstance(data, cls):
            return data
        if isinstance(data, moneyed.Money):
            return cls(data.amount, data.currency)
        if not isinstance(data, Mapping) or set(data) != {"amount", "currency"}:
            raise InvalidInput(
                f'money must look like {{"amount": "12.34", "currency": "TWD"}}, not {data!r}'
            )
        return cls(data["amount"], data["currency"])


_ZERO = Decimal(0)


def _exact(amount: Decimal, currency: moneyed.Currency) -> Money:
    """A `Money` from a finite Decimal and a currency already checked (taken from a Money).

    The checks of `Money.__init__` (no float, a known currency) cannot fail on
    them, so they are skipped: pricing builds a Money for every unit it prices,
    and the order and payment sum checked amounts into their totals. Only for
    fourflows' own modules, with a Decimal from exact arithmetic on amounts.
    """
    value = object.__new__(Money)
    fields = value.__dict__  # what moneyed.Money.__init__ sets, stored directly
    fields["amount"] = amount
    fields["currency"] = currency
    return value


def _whole_steps(value: Money, precision: Precision) -> int:
    steps = _CTX.divide(value.amount, precision.quantum)
    if steps != steps.to_integral_value():
        raise InvalidInput(
            f"{value} is not a whole number of steps of {precision} {value.code}; round it first"
        )
    return int(steps)


def round_money(
    value: Money, precision: Precision | None = None, rounding: Rounding = Rounding.HALF_UP
) -> Money:
    """Round ``value`` to ``precision`` (default: the currency's minor unit).

    >>> round_money(Money("0.125", "USD"))
    Money('0.13', 'USD')
    >>> round_money(Money("1234.5", "TWD"), Precision.cash("TWD"))
    Money('1235', 'TWD')
    >>> round_money(Money("1.03", "CHF"), Precision.cash("CHF"))
    Money('1.05', 'CHF')
    """
    step = precision or Precision.minor_unit(value.currency)
    exponent = Decimal(1).scaleb(-step.exponent)
    if step.increment == 1:
        amount = value.amount.quantize(exponent, rounding=rounding.value, context=_CTX)
    else:
        steps = _CTX.divide(value.amount, step.quantum)
        whole = steps.quantize(Decimal(1), rounding=rounding.value, context=_CTX)
        amount = _CTX.multiply(whole, step.quantum).quantize(exponent, context=_CTX)
    if isinstance(value, Money):
        return _exact(amount, value.currency)
    return Money(amount, value.currency)


def _weight(value: object, currency: moneyed.Currency) -> Decimal:
    if isinstance(value, moneyed.Money):
        if value.currency != currency:
            raise CurrencyMismatch(currency.code, value.currency.code, "weigh")
        value = value.amount
    weight = _decimal(value, "an allocation weight")
    if weight < 0:
        raise InvalidInput(f"allocation weights must be zero or more, not {value!r}")
    return weight


def _check_units(total: object, weights: object) -> list[int]:
    if isinstance(total, bool) or not isinstance(total, int):
        raise InvalidInput(f"allocate_units splits a whole number of units, not {total!r}")
    if isinstance(weights, str) or not isinstance(weights, Sequence):
        raise InvalidInput(f"weights must be a sequence of whole numbers, not {weights!r}")
    checked = list(weights)
    if not checked:
        raise InvalidInput("allocate_units needs at least one weight")
    if set(map(type, checked)) == {int} and min(checked) >= 0:
        return checked  # the usual case, checked without a Python loop
    for weight in checked:
        if isinstance(weight, float):
            raise FloatNotAllowed(weight, "an allocation weight")
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
            raise InvalidInput(
                f"allocation weights must be whole numbers, zero or more, not {weight!r}"
            )
    return checked


def _largest_remainder(total: int, weights: list[int], whole: int) -> list[int]:
    """The parts of ``total`` by ``weights`` (which sum to ``whole`` > 0); see `allocate_units`."""
    sign, count = (-1, -total) if total < 0 else (1, total)
    shares = [count * weight for weight in weights]
    parts = [share // whole for share in shares]
    left = count - sum(parts)
    if left:
        remainders = [share % whole for share in shares]
        # A stable sort, largest remainder first: equal remainders keep their order.
        order = sorted(range(len(parts)), key=remainders.__getitem__, reverse=True)
        for i in order[:left]:
            parts[i] += 1
    return parts if sign == 1 else [-part for part in parts]


def allocate_units(total: int, weights: Sequence[int]) -> list[int]:
    """Split the whole number ``total`` in proportion to ``weights``; the parts sum to ``total``.

    The integer core of `allocate`, for amounts already counted in minor units
    (or in any step): each part gets its proportional share rounded down, then
    the units left over go one each to the parts with the largest remainders,
    the earlier part first on a tie. A zero weight gets zero; a negative total
    gives the mirror image of the positive one. Weights are whole numbers,
    zero or more (scale fractions up first); `InvalidInput` for no weights, a
    negative or non-integer one, or weights that are all zero with a total
    other than zero.

    >>> allocate_units(10000, [1, 1, 1])
    [3334, 3333, 3333]
    >>> allocate_units(-5, [2, 1, 0])
    [-3, -2, 0]
    """
    checked = _check_units(total, weights)
    whole = sum(checked)
    if whole == 0:
        if total:
            raise InvalidInput(f"cannot allocate {total} units over weights that are all zero")
        return [0] * len(checked)
    return _largest_remainder(total, checked, whole)


def allocate(
    total: Money, weights: Sequence[Number | Money], *, precision: Precision | None = None
) -> list[Money]:
    """Split ``total`` in proportion to ``weights``; the parts always sum to ``total``.

    Uses the largest-remainder method: each part gets its proportional share
    rounded down to ``precision`` (default: the minor unit), then the steps left
    over go one each to the parts with the largest remainders, the earlier part
    first on a tie. A zero weight gets zero; a negative total gives the mirror
    image of the positive one. The split itself is `allocate_units` over the
    number of steps in ``total``, with the weights scaled to whole numbers.

    >>> allocate(Money("100", "TWD"), [1, 1, 1])
    [Money('33.34', 'TWD'), Money('33.33', 'TWD'), Money('33.33', 'TWD')]
    """
    if not weights:
        raise InvalidInput("allocate needs at least one weight")
    step = precision or Precision.minor_unit(total.currency)
    steps = _whole_steps(total, step)
    ints = [w for w in weights if isinstance(w, int) and not isinstance(w, bool) and w >= 0]
    if len(ints) != len(weights):
        exact = [_weight(w, total.currency) for w in weights]
        # Scale the weights to integers so every share and remainder is exact.
        scale = max(0, *(-int(w.as_tuple().exponent) for w in exact))
        ints = [int(w.scaleb(scale, context=_CTX)) for w in exact]
    whole = sum(ints)
    if whole == 0:
        if steps:
            raise InvalidInput(f"cannot allocate {total} over weights that are all zero")
        return [round_money(Money(0, total.currency), step) for _ in weights]
    quantum = step.quantum
    exponent = Decimal(1).scaleb(-step.exponent)
    return [
        _exact(
            _CTX.multiply(Decimal(part), quantum).quantize(exponent, context=_CTX), total.currency
        )
        for part in _largest_remainder(steps, ints, whole)
    ]


def split_evenly(total: Money, parts: int, *, precision: Precision | None = None) -> list[Money]:
    """Split ``total`` into ``parts`` near-equal amounts that sum to it, larger ones first."""
    if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
        raise InvalidInput(f"parts must be an int of at least 1, not {parts!r}")
    return allocate(total, [1] * parts, precision=precision)


def sum_money(values: Iterable[Money], *, currency: str | None = None) -> Money:
    """Add up ``values``, which must all be in one currency.

    An empty sum is zero in ``currency``, which is required when ``values``
    may be empty; when given, every value must be in it.
    """
    expected = _currency(currency) if currency is not None else None
    total: Decimal | None = None
    for value in values:
        if not isinstance(value, moneyed.Money):
            raise InvalidInput(f"sum_money adds Money only, not {value!r}")
        found = value.currency
        if expected is None:
            expected = found
        elif found is not expected and found != expected:
            raise CurrencyMismatch(expected.code, found.code, "add")
        total = value.amount if total is None else _CTX.add(total, value.amount)
    if expected is None:
        raise InvalidInput("sum_money of nothing needs a currency, e.g. currency='TWD'")
    if total is None:
        total = _ZERO
    if total.is_finite():
        return _exact(total, expected)
    return Money(total, expected)


def _locale(name: str) -> Locale:
    try:
        return Locale.parse(name)
    except (UnknownLocaleError, ValueError, TypeError):
        raise InvalidInput(f"unknown locale {name!r}; use a name such as 'en', 'zh_TW'") from None


def parse_money(text: str, currency: str, *, locale: str = "en") -> Money:
    """Read an amount typed the way ``locale`` writes numbers.

    >>> parse_money("1,234.50", "TWD")
    Money('1234.50', 'TWD')
    >>> parse_money("1.234,50", "EUR", locale="de")
    Money('1234.50', 'EUR')
    """
    if not isinstance(text, str):
        raise InvalidInput(f"parse_money reads text, not {text!r}")
    try:
        amount = parse_decimal(text.strip(), _locale(locale), strict=True)
    except NumberFormatError:
        raise InvalidInput(f"{text!r} is not an amount written in locale {locale!r}") from None
    return Money(amount, currency)


def format_money(
    value: Money,
    locale: str = "en",
    *,
    precision: Precision | None = None,
    cash: bool = False,
) -> str:
    """Show ``value`` the way ``locale`` writes prices.

    Rounds half-up first: to ``precision`` when given, to the cash precision
    when ``cash`` is true (so TWD shows whole dollars), else to the minor unit.

    >>> format_money(Money("1234.5", "TWD"), "zh_TW", cash=True)
    '$1,235'
    >>> format_money(Money("1234.5", "TWD"), "en")
    'NT$1,234.50'
    """
    if precision is None:
        precision = Precision.cash(value.currency) if cash else Precision.minor_unit(value.currency)
    rounded = round_money(value, precision)
    where = _locale(locale)
    pattern = parse_pattern(where.currency_formats["standard"])
    pattern.frac_prec = (precision.exponent, precision.exponent)
    return str(pattern.apply(rounded.amount, where, currency=value.code, currency_digits=False))


class _MoneyPydantic:
    """Pydantic hooks: validate from `Money` or its JSON form, dump to the JSON form."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            Money.from_json,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda value: value.to_json(), when_used="json"
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "type": "object",
            "title": "Money",
            "properties": {
                "amount": {"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "examples": ["12.34"]},
                "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "examples": ["TWD"]},
            },
            "required": ["amount", "currency"],
            "additionalProperties": False,
        }


MoneyField = Annotated[Money, _MoneyPydantic]
"""`Money` as a pydantic field: reads and writes ``{"amount": "12.34", "currency": "TWD"}``."""
