"""The cart and the context it is priced in.

A `Cart` is immutable: `Cart.add` returns a new cart. It holds lines in one
currency; adding a product priced in another raises `CurrencyMismatch`. A
line may carry its own unit price (from a customer price list) instead of
the product's.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import attrs

from fourflows._sets import name_set
from fourflows.commerce.catalog import Product
from fourflows.errors import CurrencyMismatch, InvalidInput
from fourflows.events import aware
from fourflows.money import Money, currency_code

__all__ = ["Cart", "CartLine", "Channel", "Customer", "PricingContext"]


def _quantity(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInput(f"a quantity must be a whole number above 0, not {value!r}")


@attrs.frozen(kw_only=True)
class CartLine:
    """``quantity`` units of ``product`` at ``unit_price`` (the product's price unless set)."""

    product: Product
    quantity: int = attrs.field(validator=_quantity)
    unit_price: Money = attrs.field()

    @unit_price.default
    def _catalog_price(self) -> Money:
        return self.product.price

    @unit_price.validator
    def _check_price(self, _: object, value: object) -> None:
        if not isinstance(value, Money) or value.amount < 0:
            raise InvalidInput(f"a unit price must be Money of 0 or more, not {value!r}")
        if value.currency != self.product.price.currency:
            raise CurrencyMismatch(self.product.price.code, value.code, "price a line")

    @property
    def sku(self) -> str:
        """The product's sku."""
        return self.product.sku

    @property
    def subtotal(self) -> Money:
        """Unit price times quantity, before any discount."""
        return self.unit_price * self.quantity


@attrs.frozen
class Cart:
    """Lines in one currency; build it with `Cart.add`."""

    currency: str = attrs.field(converter=currency_code)
    lines: tuple[CartLine, ...] = ()

    def add(self, product: Product, qty: int, *, unit_price: Money | None = None) -> Cart:
        """A new cart with ``qty`` more of ``product``.

        Adding a sku already in the cart at the same unit price adds to that
        line; a different unit price makes a line of its own.
        """
        if not isinstance(product, Product):
            raise InvalidInput(f"a cart holds products, not {product!r}")
        if product.price.code != self.currency:
            raise CurrencyMismatch(self.currency, product.price.code, "add to the cart")
        line = (
            CartLine(product=product, quantity=qty)
            if unit_price is None
            else CartLine(product=product, quantity=qty, unit_price=unit_price)
        )
        lines = list(self.lines)
        for index, existing in enumerate(lines):
            if existing.product == product and existing.unit_price == line.unit_price:
                lines[index] = attrs.evolve(existing, quantity=existing.quantity + qty)
                return attrs.evolve(self, lines=tuple(lines))
        return attrs.evolve(self, lines=(*lines, line))

    def subtotal(self) -> Money:
        """The sum of the lines before discounts."""
        total = Money(0, self.currency)
        for line in self.lines:
            total = total + line.subtotal
        return total

    @property
    def units(self) -> int:
        """How many units the cart holds."""
        return sum(line.quantity for line in self.lines)


class Channel(enum.Enum):
    """Where the sale happens: the same stock and prices serve all three (OMO)."""

    WEB = "web"
    APP = "app"
    STORE = "store"


def _groups(value: Iterable[str]) -> frozenset[str]:
    return name_set(value, "a customer group")


@attrs.frozen(kw_only=True)
class Customer:
    """Who is buying, as far as prices and promotions care."""

    id: str | None = None
    tier: str | None = None
    first_order: bool = False
    groups: frozenset[str] = attrs.field(default=frozenset(), converter=_groups)


def _channel(value: object) -> Channel:
    try:
        return Channel(value)
    except ValueError:
        allowed = ", ".join(c.value for c in Channel)
        raise InvalidInput(f"unknown channel {value!r}; allowed: {allowed}") from None


@attrs.frozen(kw_only=True)
class PricingContext:
    """Who buys, through which channel, and when (timezone-aware)."""

    at: datetime = attrs.field(validator=aware)
    customer: Customer = Customer()
    channel: Channel = attrs.field(default=Channel.WEB, converter=_channel)
