"""Products and the catalog that finds them by sku.

A `Product` is what a shop sells: a sku with its unit price (in the shop's
price mode, see `fourflows.tax`), its tax category, what it weighs and
measures for shipping, how it must be handled, the categories promotions
target, and, on a marketplace, the seller. A variant is a product whose
``variant_of`` names its parent sku and whose ``options`` say what differs.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

import attrs

from fourflows._sets import enum_set, name_set
from fourflows.errors import InvalidInput
from fourflows.money import Money

__all__ = ["Catalog", "Handling", "Product", "handling_flags"]


class Handling(enum.Enum):
    """How a product must be handled; carriers may refuse some of these."""

    FRAGILE = "fragile"
    BATTERY = "battery"
    LIQUID = "liquid"
    OVERSIZE = "oversize"
    PERISHABLE = "perishable"
    HAZARDOUS = "hazardous"


def _sku(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise InvalidInput(
            f"a sku must be a non-empty string of at most 64 characters, not {value!r}"
        )
    return value.strip()


def _price(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Money):
        raise InvalidInput(f"{attribute.name} must be Money, not {value!r}")
    if value.amount < 0:
        raise InvalidInput(f"{attribute.name} cannot be negative: {value}")


def _grams(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(
            f"{attribute.name} must be a whole number of grams, 0 or more, not {value!r}"
        )


def _size(value: object) -> tuple[Decimal, Decimal, Decimal] | None:
    if value is None:
        return None
    if not isinstance(value, tuple | list) or len(value) != 3:
        raise InvalidInput(f"size_cm must be (length, width, height) in cm, not {value!r}")
    sides = []
    for side in value:
        if isinstance(side, bool) or not isinstance(side, int | Decimal | str):
            raise InvalidInput(f"a side in size_cm must be an int, Decimal or str, not {side!r}")
        number = Decimal(side)
        if not number.is_finite() or number <= 0:
            raise InvalidInput(f"a side in size_cm must be positive, not {side!r}")
        sides.append(number)
    return (sides[0], sides[1], sides[2])


def handling_flags(value: Iterable[Handling | str] | Handling | str) -> frozenset[Handling]:
    """``value`` (one flag or several, as `Handling` or its text) as a set of `Handling`."""
    return enum_set(Handling, value, "handling flag")


def _categories(value: Iterable[str] | str) -> frozenset[str]:
    return name_set(value, "a category tag")


def _options(value: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(dict(value).items()))


@attrs.frozen(kw_only=True)
class Product:
    """Something a shop sells, identified by its sku.

    ``weight_g`` is in grams and ``size_cm`` is (length, width, height) in
    centimetres; shipping needs both (a product without a size ships by
    weight only). ``tax_category`` is looked up in the tax table when priced.
    """

    sku: str = attrs.field(converter=_sku)
    name: str
    price: Money = attrs.field(validator=_price)
    tax_category: str = "standard"
    weight_g: int = attrs.field(default=0, validator=_grams)
    size_cm: tuple[Decimal, Decimal, Decimal] | None = attrs.field(default=None, converter=_size)
    handling: frozenset[Handling] = attrs.field(default=frozenset(), converter=handling_flags)
    categories: frozenset[str] = attrs.field(default=frozenset(), converter=_categories)
    seller_id: str | None = None
    backorderable: bool = False
    variant_of: str | None = None
    options: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_options)

    @property
    def currency(self) -> str:
        """The currency of the unit price."""
        return self.price.code


def _index(products: Iterable[Product]) -> dict[str, Product]:
    index: dict[str, Product] = {}
    for product in products:
        if not isinstance(product, Product):
            raise InvalidInput(f"a catalog holds Product values, not {product!r}")
        if product.sku in index:
            raise InvalidInput(f"sku {product.sku!r} appears twice in the catalog")
        index[product.sku] = product
    return index


@attrs.frozen
class Catalog:
    """Products by sku. Skus are unique; looking up an unknown one raises `InvalidInput`."""

    _products: Mapping[str, Product] = attrs.field(alias="products", converter=_index)

    def __getitem__(self, sku: str) -> Product:
        try:
            return self._products[sku]
        except KeyError:
            known = ", ".join(sorted(self._products)[:10]) or "none"
            raise InvalidInput(f"unknown sku {sku!r}; the catalog has: {known}") from None

    def __contains__(self, sku: object) -> bool:
        return sku in self._products

    def __iter__(self) -> Iterator[Product]:
        return iter(self._products.values())

    def __len__(self) -> int:
        return len(self._products)

    def variants(self, sku: str) -> tuple[Product, ...]:
        """The variants whose parent is ``sku``, in catalog order."""
        return tuple(p for p in self._products.values() if p.variant_of == sku)
