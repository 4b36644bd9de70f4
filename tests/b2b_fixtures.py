"""A stationery shop that sells to businesses on account, shared by the B2B tests.

Contract prices for the buyer Acme (groups: offices): toner 2100 on its own
list (list price 2400), paper 10 % off for offices, 150 → 135. A quote of
4 reams of paper and 2 toners shipped home to Taipei:
4 × 135 + 2 × 2100 = 540 + 4200 = 4740 of goods, and 260 of shipping
(4 × 2.5 kg + 2 × 0.8 kg = 11.6 kg: the 20 kg home-delivery tier), 5000 in
all with 238 of tax inside (5 %, prices include tax).
"""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from fourflows import Money
from fourflows.adapters.fake_gateway import FakeGateway
from fourflows.adapters.fakes import FixedClock, SequentialIds
from fourflows.adapters.memory import MemoryStore
from fourflows.adapters.tw_einvoice import InvoicePeriod, NumberRange, TaiwanInvoiceNumbering
from fourflows.app.accounting import Accounting
from fourflows.app.b2b import (
    B2B,
    AcceptSalesQuote,
    DraftSalesQuote,
    PlaceQuotedOrder,
    SendSalesQuote,
)
from fourflows.app.bootstrap import COMMAND_HANDLERS
from fourflows.app.checkout import POLICIES, Checkout, ShopResult, StockHold
from fourflows.app.messagebus import MessageBus
from fourflows.app.notify import merge_policies
from fourflows.app.shop import Shop
from fourflows.cash.invoices import Party
from fourflows.commerce.catalog import Catalog, Product
from fourflows.commerce.quotes import Buyer, PaymentTerms, PriceList, QuotePricing
from fourflows.logistics.shipping import ShippingTable
from fourflows.money import Precision
from fourflows.tax import TaxTable

DRAFTED = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Taipei
TAIPEI: Mapping[str, Any] = {"country": "TW", "city": "Taipei", "postal_code": "106"}
ITEMS = {"PAPER": 4, "TONER": 2}


def twd(amount: str | int) -> Money:
    """An amount in Taiwan dollars."""
    return Money(str(amount), "TWD")


CATALOG = Catalog(
    [
        Product(sku="PAPER", name="A4 paper", price=twd(150), weight_g=2500, size_cm=(30, 21, 5)),
        Product(sku="TONER", name="Toner", price=twd(2400), weight_g=800, size_cm=(35, 12, 12)),
    ]
)
ACME = Buyer(
    id="acme", company="Acme Trading Ltd", country="TW", tax_id="04595257", groups={"offices"}
)
SELLER = Party(name="Paper Street Stationery", country="TW", tax_id="22099131")


def make_b2b_shop(
    *, stock: StockHold | None = None, buyers: Sequence[Buyer] = (ACME,)
) -> tuple[Shop, FixedClock]:
    """A shop over memory whose bus has the checkout, accounting and B2B commands and policies."""
    clock = FixedClock(DRAFTED)
    tax = TaxTable.preset("TW")
    table = ShippingTable.example_taiwan()
    checkout = Checkout(catalog=CATALOG, tax=tax, gateway=FakeGateway(clock), shipping=table)
    accounting = Accounting()
    b2b = B2B(
        pricing=QuotePricing(
            catalog=CATALOG,
            tax=tax,
            shipping=table,
            price_lists=[
                PriceList(id="acme-2026", customer_id="acme", prices={"TONER": twd(2100)}),
                PriceList(
                    id="offices", group="offices", percent_off="10", precision=Precision.of(0)
                ),
            ],
        ),
        buyers=buyers,
        terms={"acme": PaymentTerms.net(30)},
        seller=SELLER,
        numbering=TaiwanInvoiceNumbering(
            [
                NumberRange("AB", "12345000", "12345049", InvoicePeriod(2026, 11)),
                NumberRange("AB", "22345000", "22345049", InvoicePeriod(2027, 1)),
            ]
        ),
        timezone="Asia/Taipei",
        stock=stock,
    )
    store = MemoryStore()
    bus = MessageBus(
        unit_of_work=store.unit_of_work,
        clock=clock,
        ids=SequentialIds(),
        commands={
            **COMMAND_HANDLERS,
            **checkout.handlers(),
            **accounting.handlers(),
            **b2b.handlers(),
        },
        policies=merge_policies(POLICIES, accounting.policies()),
    )
    return Shop(bus=bus, store=store, checkout=checkout, accounting=accounting), clock


def accepted_quote(shop: Shop, clock: FixedClock, quote_id: str = "Q-1") -> None:
    """Draft, send and (three days later) accept ``quote_id`` under purchase order PO-7781."""
    shop.handle(
        DraftSalesQuote(
            idempotency_key=f"{quote_id}:draft",
            quote_id=quote_id,
            buyer_id="acme",
            items=ITEMS,
            expires_at=clock.now() + timedelta(days=14),
            ship_to=TAIPEI,
            service="home",
        )
    )
    shop.handle(SendSalesQuote(idempotency_key=f"{quote_id}:send", quote_id=quote_id))
    clock.advance(timedelta(days=3))
    shop.handle(
        AcceptSalesQuote(
            idempotency_key=f"{quote_id}:accept", quote_id=quote_id, purchase_order="PO-7781"
        )
    )


def order_on_account(shop: Shop, clock: FixedClock, quote_id: str = "Q-1") -> ShopResult:
    """An accepted quote placed as an order on account."""
    accepted_quote(shop, clock, quote_id)
    placed = shop.handle(PlaceQuotedOrder(idempotency_key=f"{quote_id}:place", quote_id=quote_id))
    assert isinstance(placed, ShopResult)
    return placed
