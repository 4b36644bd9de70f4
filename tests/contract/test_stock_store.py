"""The in-memory stock store runs the same contract an integrator's store would."""

from collections.abc import Sequence

from fourflows.adapters.stock import MemoryStockStore
from fourflows.logistics.inventory import StockLocation, StockPolicy
from fourflows.testing.stock_contract import StockStoreContract


class TestMemoryStockStore(StockStoreContract):
    def make_store(
        self, locations: Sequence[StockLocation], policies: Sequence[StockPolicy]
    ) -> MemoryStockStore:
        return MemoryStockStore(locations, policies)
