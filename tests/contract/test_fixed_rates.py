"""The fixed-table adapter keeps the FxRates contract, both ways round."""

from datetime import UTC, datetime
from typing import ClassVar

from fourflows.cash.fx import FixedRates, FxRates
from fourflows.testing.fx_contract import FxRatesContract

TABLE = {"USD/TWD": "32", "JPY/TWD": "0.2125"}
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


class TestFixedRates(FxRatesContract):
    def make_rates(self) -> FxRates:
        return FixedRates(TABLE, as_of=AS_OF)


class TestFixedRatesDerivedInverse(FxRatesContract):
    """TWD/USD is not listed: it is derived from USD/TWD (1/32 = 0.03125)."""

    known_pair: ClassVar[tuple[str, str]] = ("TWD", "USD")
    unknown_pair: ClassVar[tuple[str, str] | None] = ("EUR", "TWD")

    def make_rates(self) -> FxRates:
        return FixedRates(TABLE, as_of=AS_OF)
