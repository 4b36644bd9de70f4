"""Exact money with fourflows: build, round, split, add, show.

Run it: ``python examples/money_basics.py``.
"""

from __future__ import annotations

from fourflows import (
    FloatNotAllowed,
    Money,
    Precision,
    Rounding,
    allocate,
    format_money,
    round_money,
    split_evenly,
    sum_money,
)


def main() -> None:
    lines = [Money("590", "TWD") * 2, Money("350", "TWD"), Money("1290", "TWD")]
    subtotal = sum_money(lines)
    discount = allocate(Money("100", "TWD"), lines)
    print(f"subtotal {subtotal}; discount per line {[str(d) for d in discount]}")
    assert sum_money(discount) == Money("100", "TWD")

    print(
        "a 1000 TWD gift split three ways:", [str(p) for p in split_evenly(Money("1000", "TWD"), 3)]
    )
    print("half-up", round_money(Money("0.125", "USD")))
    print("half-even", round_money(Money("0.125", "USD"), rounding=Rounding.HALF_EVEN))
    print("TWD in cash", round_money(Money("1234.5", "TWD"), Precision.cash("TWD")))
    print("CHF in cash", round_money(Money("10.03", "CHF"), Precision.cash("CHF")))
    print("a gateway that wants whole TWD", round_money(Money("99.5", "TWD"), Precision.of(0)))
    for locale in ("en", "zh_TW", "zh_CN"):
        print(locale, format_money(Money("1234.5", "TWD"), locale, cash=True))
    try:
        Money(19.99, "USD")
    except FloatNotAllowed as error:
        print("refused:", error)


if __name__ == "__main__":
    main()
