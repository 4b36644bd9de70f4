"""A small Taiwanese shop over the fake gateway, shared by the Shop's tests."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fourflows import Money
from fourflows.adapters.fake_gateway import FakeGateway
from fourflows.adapters.fakes import FixedClock, SequentialIds
from fourflows.app.checkout import IssueStoreCredit, LoadGiftCard
from fourflows.app.shop import Shop
from fourflows.commerce.catalog import Catalog, Product
from fourflows.commerce.coupons import Coupon
from fourflows.commerce.promotions import PercentageOff
from fourflows.logistics.shipping import ShippingTable
from fourflows.tax import TaxTable

AT = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
TEE = Product(
    sku="TEE-M", name="T-shirt", price=Money("590", "TWD"), weight_g=200, size_cm=(30, 20, 3)
)
SPRING = PercentageOff(id="spring", percent=10, requires_coupon=True)
ONCE = Coupon(code="SPRING10", promotion_id="spring", usage_limit=1)
TAIPEI = {"country": "TW", "city": "Taipei", "postal_code": "106"}


def twd(amount: str | int) -> Money:
    return Money(str(amount), "TWD")


def make_shop(
    gateway_for: Callable[[FixedClock], FakeGateway] = FakeGateway, **kwargs: Any
) -> tuple[Shop, FakeGateway, FixedClock]:
    """The shop (one T-shirt, a one-use coupon), its gateway made by ``gateway_for``, a clock."""
    clock = FixedClock(AT)
    gateway = gateway_for(clock)
    shop = Shop.in_memory(
        catalog=Catalog([TEE]),
        tax=TaxTable.preset("TW"),
        shipping=ShippingTable.example_taiwan(),
        promotions=[SPRING],
        coupons=[ONCE],
        gateway=gateway,
        clock=clock,
        ids=SequentialIds(),
        **kwargs,
    )
    return shop, gateway, clock


def fund(shop: Shop, *, credit: str | int = 0, gift: str | int = 0) -> None:
    """Issue ``credit`` of store credit to ``c-1``; load gift card ``GC-1`` with ``gift``."""
    if int(credit):
        shop.issue_store_credit(
            IssueStoreCredit(
                idempotency_key="fund-credit", customer_id="c-1", amount=twd(credit), reason="r"
            )
        )
    if int(gift):
        shop.load_gift_card(
            LoadGiftCard(idempotency_key="fund-gift", code="GC-1", amount=twd(gift))
        )
