"""A B2B sale: a quote at the buyer's contract prices, an order, an invoice on net 30 terms.

A stationery shop quotes an office-supplies buyer at the prices of its price
lists (its own, then its group's), the buyer accepts the quote under its
purchase order, the quote becomes an order on account placed with
`Order.place` (approved for fulfilment before it is paid, and carrying the
purchase order), the order is invoiced with the buyer's business number and
purchase order, and
the invoice is owed on net 30 terms: part is paid by bank transfer on time,
the rest late, so the receivable is overdue for a while and then settled.

The same sale through a shop's commands, with its ledger, is in
``docs/how-to/b2b-quotes-and-terms.md`` (`fourflows.app.b2b`).

Run it: ``python examples/b2b_quote.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fourflows import Money
from fourflows.cash.invoices import Party, invoice_order
from fourflows.commerce.catalog import Catalog, Product
from fourflows.commerce.order import Order, PaymentPlan
from fourflows.commerce.quotes import (
    Buyer,
    PaymentTerms,
    PriceList,
    QuoteExpired,
    QuotePricing,
    Receivable,
    SalesQuote,
    overdue,
)
from fourflows.geo import Address
from fourflows.logistics.shipping import ShippingTable
from fourflows.money import Precision
from fourflows.tax import TaxTable


def twd(amount: str) -> Money:
    """An amount in Taiwan dollars."""
    return Money(amount, "TWD")


def main() -> None:
    """Run the walkthrough."""
    drafted_at = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Taipei
    catalog = Catalog(
        [
            Product(
                sku="PAPER", name="A4 paper", price=twd("150"), weight_g=2500, size_cm=(30, 21, 5)
            ),
            Product(
                sku="TONER", name="Toner", price=twd("2400"), weight_g=800, size_cm=(35, 12, 12)
            ),
        ]
    )
    price_lists = [
        PriceList(id="acme-2026", customer_id="acme", prices={"TONER": twd("2100")}),
        PriceList(id="offices", group="offices", percent_off="10", precision=Precision.of(0)),
    ]
    buyer = Buyer(
        id="acme", company="Acme Trading Ltd", country="TW", tax_id="04595257", groups={"offices"}
    )
    pricing = QuotePricing(
        catalog=catalog,
        tax=TaxTable.preset("TW"),
        price_lists=price_lists,
        shipping=ShippingTable.example_taiwan(),
        ship_to=Address(country="TW", city="Taipei", postal_code="106"),
        service="home",
    )

    quote = SalesQuote.draft(
        id="Q-2026-031",
        buyer=buyer,
        items={"PAPER": 4, "TONER": 2},
        pricing=pricing,
        expires_at=drafted_at + timedelta(days=14),
        terms=PaymentTerms.net(30),
        at=drafted_at,
    )
    print(f"quote {quote.id} for {buyer.company} ({buyer.tax_id}), {quote.terms.label}:")
    for line in quote.priced.lines:
        print(f"  {line.quantity} × {line.sku:<6} at {line.list_price} = {line.amount}")
    print(f"  shipping {quote.priced.shipping_fee}, total {quote.total}")
    quote.send(at=drafted_at + timedelta(hours=1))

    try:
        quote.accept(at=drafted_at + timedelta(days=20))
    except QuoteExpired as refused:
        print(f"accepting after {refused.expires_at:%Y-%m-%d} is refused")
    accepted_at = drafted_at + timedelta(days=3)
    quote.accept(at=accepted_at, purchase_order="PO-7781")
    frozen = quote.convert(order_id="SO-1001", at=accepted_at)
    order = Order.place(
        id="SO-1001",
        quote=frozen,
        at=accepted_at,
        payment_plan=PaymentPlan.ON_ACCOUNT,
        purchase_order=quote.purchase_order,
    )
    order.approve(at=accepted_at, note=f"on account, {quote.terms.label}")
    print(
        f"order {order.id} placed from {quote.id} ({quote.state}) under {order.purchase_order}: "
        f"{order.totals.total}, {order.state} before payment"
    )

    invoice = invoice_order(
        order,
        number="AB12345678",
        at=datetime(2026, 11, 30, 18, 0, tzinfo=UTC),  # 1 December, 02:00 in Taipei
        seller=Party(name="Paper Street Stationery", country="TW", tax_id="22099131"),
        buyer=buyer.party,
        purchase_order=order.purchase_order,
    )
    owed = Receivable.for_invoice(invoice, quote.terms, timezone="Asia/Taipei")
    print(
        f"invoice {invoice.number} (PO {invoice.purchase_order}) of {invoice.gross}, "
        f"issued {owed.issued_on}, due {owed.due_on}"
    )

    owed = owed.pay(
        amount=twd("3000"), at=datetime(2026, 12, 28, 3, 0, tzinfo=UTC), reference="TX-88120"
    )
    january = datetime(2027, 1, 8, 2, 0, tzinfo=UTC)
    late = overdue([owed], january)
    assert late == [owed]
    print(
        f"on {owed.local_date(january)}: {owed.status(january).value}, "
        f"{owed.outstanding(january)} outstanding, {owed.days_overdue(january)} days overdue"
    )
    settled_at = datetime(2027, 1, 12, 3, 0, tzinfo=UTC)
    owed = owed.pay(amount=owed.outstanding(), at=settled_at, reference="TX-90211")
    assert overdue([owed], settled_at) == []
    print(
        f"settled on {owed.settled_on} by bank transfer, "
        f"{'late' if owed.paid_late else 'on time'}: {owed.status(settled_at).value}"
    )


if __name__ == "__main__":
    main()
