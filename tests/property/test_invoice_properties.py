"""Properties of invoices and credit notes: parts sum to totals, credits never exceed invoices."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from fourflows import Money
from fourflows.cash.invoices import (
    SHIPPING,
    CreditExceedsInvoice,
    CreditNote,
    Invoice,
    Party,
    invoice_items,
    invoice_order,
)
from fourflows.commerce.cart import Cart, Customer, PricingContext
from fourflows.commerce.catalog import Product
from fourflows.commerce.order import Order, PaymentFigures
from fourflows.commerce.pricing import Quote, price_cart
from fourflows.commerce.promotions import SpendThreshold
from fourflows.geo import Address
from fourflows.logistics.shipping import ShippingTable
from fourflows.money import sum_money
from fourflows.tax import PriceMode, TaxTable


def twd(amount: str) -> Money:
    return Money(amount, "TWD")


PRODUCTS = (
    Product(sku="TEE-M", name="T-shirt", price=twd("590"), weight_g=200, size_cm=(30, 20, 3)),
    Product(sku="SOCK", name="Socks", price=twd("349"), weight_g=80, size_cm=(20, 10, 2)),
    Product(sku="CAP", name="Cap", price=twd("777"), weight_g=90, size_cm=(25, 20, 10)),
)
AT = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
LATER = AT + timedelta(days=2)
TAIPEI = Address(country="TW", city="Taipei", postal_code="106")
SELLER = Party(name="Shop", country="TW", tax_id="53212539")
SPEND_1000 = SpendThreshold(id="spend-1000", tiers=[(twd("1000"), twd("99"))])


@functools.cache
def quote(quantities: tuple[int, ...], mode: PriceMode, promoted: bool) -> Quote:
    cart = Cart("TWD")
    for product, quantity in zip(PRODUCTS, quantities, strict=True):
        if quantity:
            cart = cart.add(product, quantity)
    return price_cart(
        cart,
        context=PricingContext(at=AT, customer=Customer(id="c-1")),
        tax=TaxTable.preset("TW").with_mode(mode),
        promotions=[SPEND_1000] if promoted else [],
        shipping=ShippingTable.example_taiwan(),
        ship_to=TAIPEI,
        service="home",
    )


@st.composite
def orders(draw: st.DrawFn) -> Order:
    quantities = draw(
        st.lists(st.integers(0, 4), min_size=3, max_size=3).filter(lambda qs: sum(qs) > 0)
    )
    mode = draw(st.sampled_from(PriceMode))
    promoted = draw(st.booleans())
    order = Order.place(id="o-1", quote=quote(tuple(quantities), mode, promoted), at=AT)
    order.mark_paid(PaymentFigures.of("TWD", authorized=str(order.totals.total.amount)), at=AT)
    return order


def check_adds_up(invoice: Invoice) -> None:
    for line in invoice.lines:
        assert line.net + line.tax == line.gross
        assert line.tax <= line.gross
    rows = invoice.breakdown
    for total, part in ((invoice.gross, "gross"), (invoice.tax, "tax"), (invoice.net, "net")):
        assert sum_money((getattr(row, part) for row in rows), currency="TWD") == total
    assert invoice.net + invoice.tax == invoice.gross


@given(orders(), st.data())
def test_invoices_of_any_split_add_up_to_the_order(order: Order, data: st.DataObject) -> None:
    invoices: list[Invoice] = []
    left = {line.index: line.counts.open for line in order.lines}
    while any(left.values()):
        items = {
            index: count
            for index, units in left.items()
            if units and (count := data.draw(st.integers(0, units), label=f"line {index}"))
        }
        if not items:  # take one unit, so that every invoice has something on it
            index = next(index for index, units in left.items() if units)
            items = {index: 1}
        made = invoice_items(
            order,
            items,
            number=f"AB{len(invoices):08d}",
            at=AT,
            seller=SELLER,
            invoices=invoices,
        )
        check_adds_up(made)
        invoices.append(made)
        for index, count in items.items():
            left[index] -= count
    assert sum_money(i.gross for i in invoices) == order.totals.total
    assert sum_money(i.tax for i in invoices) == order.totals.tax
    assert sum(1 for i in invoices for line in i.lines if line.sku == SHIPPING) == 1


units_op = st.tuples(st.just("units"), st.integers(0, 3), st.integers(1, 3))
amount_op = st.tuples(
    st.just("amount"), st.integers(1, 300_000), st.lists(st.integers(0, 3), max_size=2, unique=True)
)


@given(orders(), st.lists(st.one_of(units_op, amount_op), max_size=8))
def test_credit_notes_never_exceed_the_invoice(
    order: Order, operations: list[tuple[str, int, object]]
) -> None:
    invoice = invoice_order(order, number="AB12345000", at=AT, seller=SELLER)
    check_adds_up(invoice)
    keys: list[str | int] = [line.sku for line in invoice.lines]
    notes: list[CreditNote] = []
    for step, (kind, first, second) in enumerate(operations):
        before = invoice.left(notes)
        if kind == "units":
            assert isinstance(second, int)
            key = keys[first % len(keys)]
            line = invoice.line(key)
            done = sum(
                c.quantity for n in notes for c in n.lines if c.order_line == line.order_line
            )
            fits = done + second <= line.quantity and sum_money(
                line.unit_totals[done : done + second], currency="TWD"
            ) <= _left_on(invoice, notes, key)
            try:
                note = invoice.credit_units(
                    {key: second}, number=f"CN-{step}", at=LATER, credit_notes=notes
                )
            except CreditExceedsInvoice:
                assert not fits  # refused only when it really asked too much
                continue
            assert fits
        else:
            assert isinstance(second, list)
            chosen = sorted({keys[i % len(keys)] for i in second}, key=str) or None
            asked = Money.from_minor_units(first, "TWD")
            available = sum_money(
                (_left_on(invoice, notes, k) for k in (chosen or keys)), currency="TWD"
            )
            try:
                note = invoice.credit_amount(
                    asked, number=f"CN-{step}", at=LATER, credit_notes=notes, lines=chosen
                )
            except CreditExceedsInvoice:
                assert asked > available  # refused only when it really asked too much
                continue
            assert asked <= available
            assert note.gross == asked
        for credit in note.lines:
            assert credit.net + credit.tax == credit.gross
        notes.append(note)
        assert invoice.left(notes) == before - note.gross
    # per line and in total, what was credited never exceeds what was invoiced
    for line in invoice.lines:
        credited = [c for n in notes for c in n.lines if c.order_line == line.order_line]
        for part in ("gross", "tax", "net"):
            given_back = sum_money((getattr(c, part) for c in credited), currency="TWD")
            assert given_back <= getattr(line, part)
        assert sum(c.quantity for c in credited) <= line.quantity
    assert sum_money((n.gross for n in notes), currency="TWD") <= invoice.gross
    # crediting what is left gives back exactly the invoice's net and tax, to the cent
    rest = invoice.left(notes)
    if rest.amount:
        notes.append(invoice.credit_amount(rest, number="CN-last", at=LATER, credit_notes=notes))
    assert sum_money((n.tax for n in notes), currency="TWD") == invoice.tax
    assert sum_money((n.net for n in notes), currency="TWD") == invoice.net


def _left_on(invoice: Invoice, notes: list[CreditNote], key: str | int) -> Money:
    line = invoice.line(key)
    credited = [c.gross for n in notes for c in n.lines if c.order_line == line.order_line]
    return line.gross - sum_money(credited, currency="TWD")
