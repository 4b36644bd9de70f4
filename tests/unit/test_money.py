import copy
import pickle
from decimal import Decimal, localcontext

import moneyed
import pytest
from pydantic import BaseModel

from fourflows import (
    CurrencyMismatch,
    FloatNotAllowed,
    InvalidInput,
    Money,
    MoneyField,
    Precision,
    Rounding,
    allocate,
    format_money,
    parse_money,
    round_money,
    split_evenly,
    sum_money,
)
from fourflows.money import allocate_units


class TestBuilding:
    @pytest.mark.parametrize("amount", ["12.34", 12, Decimal("12.34")])
    def test_exact_inputs_are_taken(self, amount: object) -> None:
        assert Money(amount, "TWD").amount == Decimal(str(amount))

    def test_a_float_is_refused_naming_the_value(self) -> None:
        with pytest.raises(FloatNotAllowed, match=r"0\.1") as caught:
            Money(0.1, "TWD")
        assert isinstance(caught.value, TypeError)
        assert isinstance(caught.value, ValueError)

    @pytest.mark.parametrize("amount", [True, None, [1], "1,234.50", "abc", "NaN", "Infinity"])
    def test_other_bad_amounts_are_refused(self, amount: object) -> None:
        with pytest.raises(InvalidInput):
            Money(amount, "TWD")

    def test_an_unknown_currency_is_refused_naming_it(self) -> None:
        with pytest.raises(InvalidInput, match="'XYZ'"):
            Money("1", "XYZ")
        with pytest.raises(InvalidInput, match="ISO 4217"):
            Money("1", 978)  # type: ignore[arg-type]

    def test_currency_codes_are_case_insensitive(self) -> None:
        assert Money("1", "twd") == Money("1", "TWD")

    def test_money_cannot_be_changed(self) -> None:
        price = Money("590", "TWD")
        with pytest.raises(AttributeError, match="immutable"):
            price.amount = Decimal(1)  # type: ignore[misc]
        with pytest.raises(AttributeError):
            price.note = "x"
        assert price == Money("590", "TWD")

    def test_equal_money_hashes_equal(self) -> None:
        assert len({Money("1.0", "TWD"), Money("1.00", "TWD"), Money("1", "USD")}) == 2

    def test_copies_and_pickles_keep_the_value(self) -> None:
        price = Money("12.34", "KWD")
        assert copy.deepcopy(price) is price
        assert copy.copy(price) is price
        assert pickle.loads(pickle.dumps(price)) == price

    def test_minor_units(self) -> None:
        assert Money.from_minor_units(1234, "USD") == Money("12.34", "USD")
        assert Money.from_minor_units(1234, "JPY") == Money("1234", "JPY")
        assert Money("12.345", "KWD").get_amount_in_sub_unit() == 12345
        with pytest.raises(InvalidInput, match="round it first"):
            Money("0.125", "USD").get_amount_in_sub_unit()
        with pytest.raises(InvalidInput):
            Money.from_minor_units(1.5, "USD")  # type: ignore[arg-type]

    def test_str_and_code(self) -> None:
        assert str(Money("12.50", "TWD")) == "12.50 TWD"
        assert Money.zero("JPY").code == "JPY"


class TestArithmetic:
    def test_add_subtract_multiply(self) -> None:
        a, b = Money("590", "TWD"), Money("350", "TWD")
        assert a + b == Money("940", "TWD")
        assert a - b == Money("240", "TWD")
        assert a * 2 == 2 * a == Money("1180", "TWD")
        assert a * Decimal("0.5") == Money("295", "TWD")
        assert sum([a, b]) == Money("940", "TWD")
        assert -a == Money("-590", "TWD")

    def test_mixing_currencies_raises_currency_mismatch(self) -> None:
        twd, usd = Money("1", "TWD"), Money("1", "USD")
        for operation in (
            lambda: twd + usd,
            lambda: twd - usd,
            lambda: twd < usd,
            lambda: twd >= usd,
            lambda: twd / usd,
        ):
            with pytest.raises(CurrencyMismatch, match="USD"):
                operation()

    def test_floats_are_refused_in_arithmetic(self) -> None:
        price = Money("10", "USD")
        with pytest.raises(FloatNotAllowed):
            price * 1.1
        with pytest.raises(FloatNotAllowed):
            price / 3.0
        with pytest.raises(FloatNotAllowed):
            7.5 % price

    def test_money_times_money_is_refused(self) -> None:
        with pytest.raises(InvalidInput):
            Money("1", "USD") * Money("2", "USD")

    def test_non_money_operands(self) -> None:
        price = Money("10", "USD")
        with pytest.raises(TypeError):
            price + 1
        with pytest.raises(TypeError):
            1 - price
        with pytest.raises(TypeError):
            price - 1
        with pytest.raises(InvalidInput, match="compare"):
            assert price < 3

    def test_division_and_percent_are_exact_until_rounded(self) -> None:
        third = Money("10", "USD") / 3
        assert third.amount > Decimal("3.3333333333")
        assert third.round() == Money("3.33", "USD")
        assert Money("10", "USD") / Money("4", "USD") == Decimal("2.5")
        assert 5 % Money("200", "TWD") == Money("10", "TWD")

    def test_comparisons(self) -> None:
        small, big = Money("1", "TWD"), Money("2", "TWD")
        assert small < big <= big
        assert big > small >= small

    def test_results_are_money_like_any_other(self) -> None:
        a = Money("590", "TWD")
        results = [a + a, a - Money("90", "TWD"), a * 3, -a, sum_money([a, a, a])]
        # 590 + 590 = 1180; 590 - 90 = 500; 590 × 3 = 1770; -590; 590 × 3 = 1770.
        expected = ["1180", "500", "1770", "-590", "1770"]
        assert results == [Money(amount, "TWD") for amount in expected]
        for result in results:
            assert type(result) is Money
            assert result.currency is Money("1", "TWD").currency
            assert hash(result) == hash(Money(result.amount, "TWD"))
            with pytest.raises(AttributeError, match="immutable"):
                result.amount = Decimal(1)  # type: ignore[misc]

    def test_a_plain_moneyed_amount_that_is_not_finite_is_refused(self) -> None:
        with pytest.raises(InvalidInput, match="finite"):
            Money("1", "TWD") + moneyed.Money("Infinity", "TWD")
        with pytest.raises(InvalidInput, match="finite"):
            sum_money([moneyed.Money("NaN", "TWD")])  # type: ignore[list-item]

    def test_codes_spelt_any_way_find_one_currency(self) -> None:
        twd = Money("1", "TWD").currency
        for spelling in ("TWD", "twd", " Twd ", "TWD"):  # the second time from the cache
            assert Money("1", spelling).currency is twd
        for _ in range(2):
            with pytest.raises(InvalidInput, match="'twx'"):
                Money("1", "twx")

    def test_money_cannot_be_built_twice(self) -> None:
        price = Money("590", "TWD")
        with pytest.raises(AttributeError, match="immutable"):
            price.__init__("1", "TWD")  # type: ignore[misc]
        assert price == Money("590", "TWD")


class TestRounding:
    @pytest.mark.parametrize(
        ("amount", "currency", "expected"),
        [
            ("0.125", "USD", "0.13"),
            ("-0.125", "USD", "-0.13"),
            ("0.124", "USD", "0.12"),
            ("1234.5", "JPY", "1235"),
            ("1.0005", "KWD", "1.001"),
        ],
    )
    def test_half_up_to_the_minor_unit_by_default(
        self, amount: str, currency: str, expected: str
    ) -> None:
        assert round_money(Money(amount, currency)) == Money(expected, currency)
        assert Money(amount, currency).round() == Money(expected, currency)

    def test_half_even_up_and_down(self) -> None:
        assert round_money(Money("0.125", "USD"), rounding=Rounding.HALF_EVEN).amount == Decimal(
            "0.12"
        )
        assert round_money(Money("0.121", "USD"), rounding=Rounding.UP).amount == Decimal("0.13")
        assert round_money(Money("0.129", "USD"), rounding=Rounding.DOWN).amount == Decimal("0.12")

    def test_the_global_decimal_context_does_not_matter(self) -> None:
        with localcontext() as ctx:
            ctx.prec = 3
            ctx.rounding = "ROUND_FLOOR"
            big = Money("123456.78", "TWD")
            assert big + Money("1", "TWD") == Money("123457.78", "TWD")
            assert big - Money("1", "TWD") == Money("123455.78", "TWD")
            assert -big == Money("-123456.78", "TWD")
            assert abs(-big) == +big == big
            assert big * 3 == Money("370370.34", "TWD")
            assert 10 % big == Money("12345.678", "TWD")
            assert sum_money([big, big]) == Money("246913.56", "TWD")
            assert round_money(Money("12345.675", "USD")) == Money("12345.68", "USD")
            assert Money("2.5", "JPY").round() == Money("3", "JPY")

    def test_round_with_ndigits(self) -> None:
        assert Money("1.2345", "USD").round(3) == Money("1.235", "USD")

    def test_cash_precisions_come_from_cldr(self) -> None:
        assert Precision.cash("TWD") == Precision.of(0)
        assert Precision.cash("HUF") == Precision.of(0)
        assert Precision.cash("CHF") == Precision.of(2, increment=5)
        assert Precision.cash("USD") == Precision.of(2)
        assert Precision.minor_unit("TWD") == Precision.of(2)
        assert Precision.minor_unit("KWD") == Precision.of(3)
        assert Precision.minor_unit("JPY") == Precision.of(0)

    @pytest.mark.parametrize(
        ("amount", "expected"),
        [("1.02", "1.00"), ("1.025", "1.05"), ("1.03", "1.05"), ("1.07", "1.05"), ("1.08", "1.10")],
    )
    def test_swiss_cash_rounds_to_five_centimes(self, amount: str, expected: str) -> None:
        assert round_money(Money(amount, "CHF"), Precision.cash("CHF")) == Money(expected, "CHF")

    def test_a_provider_precision(self) -> None:
        assert round_money(Money("99.50", "TWD"), Precision.of(0)) == Money("100", "TWD")

    @pytest.mark.parametrize(("exponent", "increment"), [(-1, 1), (9, 1), (2, 0), (True, 1)])
    def test_bad_precisions_are_refused(self, exponent: int, increment: int) -> None:
        with pytest.raises(InvalidInput):
            Precision(exponent, increment)

    def test_precision_shows_its_step(self) -> None:
        assert str(Precision.of(2, increment=5)) == "0.05"


class TestAllocate:
    def test_largest_remainder_gives_the_first_of_equal_parts_the_extra_cent(self) -> None:
        assert allocate(Money("100", "TWD"), [1, 1, 1]) == [
            Money("33.34", "TWD"),
            Money("33.33", "TWD"),
            Money("33.33", "TWD"),
        ]

    def test_weights_may_be_money_ints_or_decimals(self) -> None:
        lines = [Money("1180", "TWD"), Money("350", "TWD"), Money("1290", "TWD")]
        parts = allocate(Money("100", "TWD"), lines)
        assert parts == [Money("41.84", "TWD"), Money("12.41", "TWD"), Money("45.75", "TWD")]
        assert allocate(Money("1", "USD"), [Decimal("0.5"), Decimal("0.25"), 0]) == [
            Money("0.67", "USD"),
            Money("0.33", "USD"),
            Money("0.00", "USD"),
        ]

    def test_at_a_coarser_precision(self) -> None:
        parts = allocate(Money("100", "TWD"), [1, 1, 1], precision=Precision.of(0))
        assert parts == [Money("34", "TWD"), Money("33", "TWD"), Money("33", "TWD")]

    def test_zero_total_over_zero_weights(self) -> None:
        assert allocate(Money("0", "TWD"), [0, 0]) == [Money("0", "TWD")] * 2

    @pytest.mark.parametrize(
        "weights", [[], [0, 0], [-1, 2], [1.5], [True], [Money("1", "USD")], ["x"]]
    )
    def test_bad_weights_are_refused(self, weights: list[object]) -> None:
        with pytest.raises(InvalidInput):
            allocate(Money("10", "TWD"), weights)  # type: ignore[arg-type]

    def test_a_total_finer_than_the_precision_is_refused(self) -> None:
        with pytest.raises(InvalidInput, match="round it first"):
            allocate(Money("10.005", "USD"), [1, 1])

    def test_split_evenly(self) -> None:
        assert split_evenly(Money("10", "USD"), 3) == [
            Money("3.34", "USD"),
            Money("3.33", "USD"),
            Money("3.33", "USD"),
        ]
        with pytest.raises(InvalidInput):
            split_evenly(Money("10", "USD"), 0)


class TestAllocateUnits:
    def test_largest_remainder_over_whole_units(self) -> None:
        # 100 by 1180 : 350 : 1290 (sum 2820): 41.84, 12.41, 45.74 → floors 41 + 12 + 45 = 98;
        # the 2 units left go to the largest remainders, .84 and .74.
        assert allocate_units(100, [1180, 350, 1290]) == [42, 12, 46]

    def test_ties_go_to_the_earlier_part_and_zero_weights_get_nothing(self) -> None:
        assert allocate_units(2, [1, 1, 1]) == [1, 1, 0]
        assert allocate_units(7, [0, 1, 1, 0]) == [0, 4, 3, 0]

    def test_a_negative_total_mirrors_the_positive_one(self) -> None:
        # 5 by 2 : 1 : 0 → 3.33 and 1.67 → floors 3 + 1, the unit left to .67 → 3, 2, 0.
        assert allocate_units(-5, [2, 1, 0]) == [-3, -2, 0]

    def test_nothing_over_zero_weights(self) -> None:
        assert allocate_units(0, [0, 0]) == [0, 0]
        with pytest.raises(InvalidInput, match="all zero"):
            allocate_units(3, [0, 0])

    def test_allocate_is_the_same_split_in_money(self) -> None:
        units = allocate_units(10000, [1, 1, 1])
        assert units == [3334, 3333, 3333]
        assert allocate(Money("100", "TWD"), [1, 1, 1]) == [
            Money.from_minor_units(part, "TWD") for part in units
        ]

    @pytest.mark.parametrize(
        ("total", "weights", "error"),
        [
            (10, [], InvalidInput),
            (10, [-1, 2], InvalidInput),
            (10, [1.5], FloatNotAllowed),
            (10, [True], InvalidInput),
            (10, [Decimal(1)], InvalidInput),
            (10, "12", InvalidInput),
            (1.5, [1], InvalidInput),
            (True, [1], InvalidInput),
            ("10", [1], InvalidInput),
        ],
    )
    def test_bad_input_is_refused(self, total: object, weights: object, error: type) -> None:
        with pytest.raises(error):
            allocate_units(total, weights)  # type: ignore[arg-type]


class TestMinorUnit:
    def test_looked_up_by_code_or_currency(self) -> None:
        assert Precision.minor_unit(" twd ") == Precision.of(2)
        assert Precision.minor_unit(moneyed.get_currency("KWD")) == Precision.of(3)
        assert Precision.minor_unit("JPY") is Precision.minor_unit("JPY")  # kept, not rebuilt

    def test_a_currency_of_its_own_keeps_its_own_minor_unit(self) -> None:
        tokens = moneyed.Currency(code="TWD", sub_unit=1000)  # same code, another sub-unit
        assert Precision.minor_unit(tokens) == Precision.of(3)
        assert Precision.minor_unit("TWD") == Precision.of(2)

    def test_money_made_from_minor_units_is_ordinary_money(self) -> None:
        made = Money.from_minor_units(-1234, "twd")
        assert (made, made.code, hash(made)) == (
            Money("-12.34", "TWD"),
            "TWD",
            hash(Money("-12.34", "TWD")),
        )
        assert pickle.loads(pickle.dumps(made)) == made
        with pytest.raises(AttributeError, match="immutable"):
            made.amount = Decimal(1)  # type: ignore[misc]

    @pytest.mark.parametrize("currency", ["XYZ", ["TWD"], None, 901])
    def test_unknown_currencies_are_refused_every_time(self, currency: object) -> None:
        for _ in range(2):
            with pytest.raises(InvalidInput):
                Precision.minor_unit(currency)  # type: ignore[arg-type]


class TestSum:
    def test_sums_in_one_currency(self) -> None:
        assert sum_money([Money("1", "TWD"), Money("2.50", "TWD")]) == Money("3.50", "TWD")

    def test_empty_needs_a_currency(self) -> None:
        assert sum_money([], currency="TWD") == Money("0", "TWD")
        with pytest.raises(InvalidInput, match="currency"):
            sum_money([])

    def test_mixed_currencies_raise(self) -> None:
        with pytest.raises(CurrencyMismatch):
            sum_money([Money("1", "TWD"), Money("1", "USD")])
        with pytest.raises(CurrencyMismatch):
            sum_money([Money("1", "TWD")], currency="USD")

    def test_only_money_is_summed(self) -> None:
        with pytest.raises(InvalidInput):
            sum_money([Money("1", "TWD"), 2])  # type: ignore[list-item]


class TestTextAndJson:
    @pytest.mark.parametrize(
        ("locale", "cash", "expected"),
        [
            ("en", False, "NT$1,234.50"),
            ("en", True, "NT$1,235"),
            ("zh_TW", True, "$1,235"),
            ("zh_CN", False, "NT$1,234.50"),
        ],
    )
    def test_format_twd(self, locale: str, cash: bool, expected: str) -> None:
        assert format_money(Money("1234.5", "TWD"), locale, cash=cash) == expected

    def test_format_other_currencies(self) -> None:
        assert format_money(Money("-1234.5", "CNY"), "zh_CN") == "-¥1,234.50"
        assert format_money(Money("1234", "JPY"), "en") == "¥1,234"
        assert format_money(Money("9.97", "CHF"), "en", cash=True) == "CHF9.95"
        assert format_money(Money("2.5", "USD"), "en", precision=Precision.of(0)) == "$3"

    def test_format_refuses_an_unknown_locale(self) -> None:
        with pytest.raises(InvalidInput, match="xx_YY"):
            format_money(Money("1", "USD"), "xx_YY")

    def test_parse(self) -> None:
        assert parse_money("1,234.50", "TWD") == Money("1234.50", "TWD")
        assert parse_money(" 1.234,50 ", "EUR", locale="de") == Money("1234.50", "EUR")
        with pytest.raises(InvalidInput, match="12,34,5"):
            parse_money("12,34,5", "TWD")
        with pytest.raises(InvalidInput):
            parse_money(12, "TWD")  # type: ignore[arg-type]

    def test_json_round_trip(self) -> None:
        price = Money("12.34", "TWD")
        assert price.to_json() == {"amount": "12.34", "currency": "TWD"}
        assert Money.from_json(price.to_json()) == price
        assert Money.from_json({"amount": 5, "currency": "USD"}) == Money("5", "USD")

    @pytest.mark.parametrize(
        "data",
        [
            {"amount": 12.34, "currency": "TWD"},
            {"amount": "12.34"},
            {"amount": "1", "currency": "TWD", "extra": 1},
            "12.34 TWD",
        ],
    )
    def test_bad_json_is_refused(self, data: object) -> None:
        with pytest.raises(InvalidInput):
            Money.from_json(data)


class Priced(BaseModel):
    price: MoneyField


class TestPydantic:
    def test_round_trips_json(self) -> None:
        model = Priced.model_validate_json('{"price": {"amount": "12.34", "currency": "TWD"}}')
        assert model.price == Money("12.34", "TWD")
        assert model.model_dump_json() == '{"price":{"amount":"12.34","currency":"TWD"}}'
        assert model.model_dump()["price"] == Money("12.34", "TWD")

    def test_accepts_money_objects(self) -> None:
        assert Priced(price=Money("1", "USD")).price == Money("1", "USD")

    def test_refuses_a_float_amount(self) -> None:
        with pytest.raises(ValueError, match="float"):
            Priced.model_validate_json('{"price": {"amount": 12.34, "currency": "TWD"}}')

    def test_json_schema(self) -> None:
        schema = Priced.model_json_schema()["properties"]["price"]
        assert schema["required"] == ["amount", "currency"]
        assert schema["properties"]["amount"]["type"] == "string"
