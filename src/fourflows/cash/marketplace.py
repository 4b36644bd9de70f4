"""The marketplace: order lines that belong to sellers, the platform's commission, payouts.

**Sellers and rates.** A `Marketplace` knows its `Seller` s and which seller
sells each sku (``sku_sellers``; `Marketplace.from_catalog` reads it from the
products' ``seller_id``). The commission is a percentage (a `Decimal` from 0
to 100) of what a line brings in, looked up in this order:

1. the seller's own ``commission_rate``, when it has one;
2. the rate of the sku's commission category (``sku_categories`` and ``category_rates``);
3. the marketplace's ``default_rate``.

Each line's commission is rounded half-up with `round_money` (to the
currency's minor unit, or to ``precision``: ``Precision.cash("TWD")`` keeps
it in whole dollars), raised to the ``minimum`` per line when one is set,
and never more than the line brought in. A capture of part of a line pays
the same part of the minimum (the minimum times the part of the line's value
captured, rounded), so several partial captures add up to about one minimum.

**Splitting money.** `Marketplace.split` divides an amount taken on an order
(a capture, or a refund) among the sellers by the value of their lines
(tax included: `OrderLine.gross`), or of the units of one shipment, with
largest-remainder allocation, then each seller's share over its own lines
the same way: the parts always add up to the amount. Shipping charged in the
amount follows the goods: the sellers ship their own lines.

**The ledger.** The posting scheme of `fourflows.cash.ledger` is kept: the
sale credits sales revenue, the capture debits the tender's account and
credits the customer's receivable. The marketplace adds one entry per seller
and capture (`marketplace_capture_entries`) in which the platform, an agent
for its sellers, hands the seller's share on::

    fact                          debit                       credit
    capture split (per seller)    sales revenue (the share)   seller payable (share - commission),
                                                              commission revenue (commission)
    refund split (per seller)     seller payable,             sales revenue (the share refunded)
                                  commission revenue
    fee charged to a seller       seller payable              gateway fees (or another account)
    payout to a seller            seller payable              cash

The share includes the tax (and the shipping) of the seller's goods: the
seller invoices them and owes their tax. Since `sale_entry` booked the whole
order as the platform's revenue and tax, the platform's sales revenue shows
minus its sellers' tax and shipping after the split; a shop that books its
sellers' sales elsewhere names that account with ``from_account``.

**Refunds** (`marketplace_refund_entries`) take the refunded amount back from
the sellers pro rata, split like a capture, and the platform **gives its
commission on the refunded part back to the seller**: the seller loses the
share refunded less that commission. A refund after a payout may leave a
seller's payable negative: the seller owes the platform until the next sales.

**Which seller an entry belongs to.** `JournalEntry` has no seller field, so
the seller is tagged in the entry's ``kind``: ``"<what>:<seller id>"``, for
example ``"marketplace_sale:s-1"`` (`seller_kind`, `seller_of`). The kinds
are ``marketplace_sale``, ``marketplace_refund``, ``seller_fee`` and
``seller_payout``. A reversal (`Ledger.reverse`) keeps the kind and counts
negatively.

**Statements and payouts.** `seller_statement` reads a seller's entries for
a period: sales, refunds, commission (net of commission given back), fees,
the net payable, what was paid out, and the payable before and after the
period. `seller_payout_entry` pays a seller (debit seller payable, credit
cash); an unknown seller raises `UnknownSeller`, an amount above what the
ledger says is payable raises `PayoutExceedsPayable`, and nothing changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

import attrs

from fourflows.cash.ledger import (
    CASH,
    COMMISSION_REVENUE,
    GATEWAY_FEES,
    SALES_REVENUE,
    SELLER_PAYABLE,
    Cause,
    JournalEntry,
    JournalLine,
    Ledger,
    Side,
)
from fourflows.commerce.catalog import Catalog
from fourflows.commerce.order import Order, OrderLine
from fourflows.errors import CurrencyMismatch, FloatNotAllowed, InvalidInput, NotFound
from fourflows.events import require_aware
from fourflows.money import Money, Precision, allocate, currency_code, round_money, sum_money

__all__ = [
    "MARKETPLACE_REFUND",
    "MARKETPLACE_SALE",
    "SELLER_FEE",
    "SELLER_PAYOUT",
    "LineShare",
    "Marketplace",
    "PayoutExceedsPayable",
    "Seller",
    "SellerShare",
    "SellerStatement",
    "Split",
    "UnassignedSku",
    "UnknownSeller",
    "marketplace_capture_entries",
    "marketplace_refund_entries",
    "seller_fee_entry",
    "seller_kind",
    "seller_of",
    "seller_payable",
    "seller_payout_entry",
    "seller_statement",
]

MARKETPLACE_SALE = "marketplace_sale"
"""The kind of an entry handing a seller its share of a capture."""
MARKETPLACE_REFUND = "marketplace_refund"
"""The kind of an entry taking a seller's share of a refund back."""
SELLER_FEE = "seller_fee"
"""The kind of an entry charging a seller a fee."""
SELLER_PAYOUT = "seller_payout"
"""The kind of an entry paying a seller."""
_KINDS = (MARKETPLACE_SALE, MARKETPLACE_REFUND, SELLER_FEE, SELLER_PAYOUT)


# --- errors ------------------------------------------------------------------------------


class UnknownSeller(NotFound):
    """A seller id the marketplace does not know."""

    def __init__(self, seller_id: str, known: Iterable[str]) -> None:
        super().__init__("seller", seller_id, known)


class UnassignedSku(NotFound):
    """An order line whose sku no seller of the marketplace sells."""

    def __init__(self, sku: str) -> None:
        super().__init__("seller for sku", sku)


class PayoutExceedsPayable(InvalidInput):
    """A payout larger than what the ledger says the shop owes the seller."""

    def __init__(self, seller_id: str, amount: Money, payable: Money) -> None:
        super().__init__(
            f"cannot pay seller {seller_id!r} {amount}: only {payable} is payable; "
            "pay at most the payable balance"
        )
        self.seller_id = seller_id
        self.amount = amount
        self.payable = payable


# --- values ------------------------------------------------------------------------------


def _text(what: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must be a non-empty string, not {value!r}")
    return value


def _check_text(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _text(attribute.name.replace("_", " "), value)


def _rate(value: object, what: str = "a commission rate") -> Decimal:
    if isinstance(value, float):
        raise FloatNotAllowed(value, what)
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise InvalidInput(f"{what} must be an int, str or Decimal percentage, not {value!r}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise InvalidInput(f"{what} must be a number, not {value!r}") from None
    if not number.is_finite() or not 0 <= number <= 100:
        raise InvalidInput(f"{what} must be a percentage from 0 to 100, not {value!r}")
    return number


def _optional_rate(value: object) -> Decimal | None:
    return None if value is None else _rate(value)


@attrs.frozen
class Seller:
    """A seller on the marketplace; ``commission_rate`` (percent) overrides every other rate."""

    id: str = attrs.field(validator=_check_text)
    name: str = attrs.field(validator=_check_text)
    commission_rate: Decimal | None = attrs.field(
        default=None, converter=_optional_rate, kw_only=True
    )


def _sellers(value: object) -> Mapping[str, Seller]:
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidInput(f"sellers must be a sequence of Seller, not {value!r}")
    found: dict[str, Seller] = {}
    for seller in value:
        if not isinstance(seller, Seller):
            raise InvalidInput(f"sellers must be Seller values, not {seller!r}")
        if seller.id in found and found[seller.id] != seller:
            raise InvalidInput(f"seller id {seller.id!r} is used by two different sellers")
        found[seller.id] = seller
    if not found:
        raise InvalidInput("a marketplace needs at least one seller")
    return MappingProxyType(found)


def _text_map(value: object, what: str) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{what} must be a mapping, not {value!r}")
    return MappingProxyType(
        {_text(f"a key of {what}", k): _text(what, v) for k, v in value.items()}
    )


def _sku_sellers(value: object) -> Mapping[str, str]:
    return _text_map(value, "sku_sellers")


def _sku_categories(value: object) -> Mapping[str, str]:
    return _text_map(value, "sku_categories")


def _category_rates(value: object) -> Mapping[str, Decimal]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"category_rates must be a mapping, not {value!r}")
    return MappingProxyType(
        {
            _text("a category", k): _rate(v, f"the commission rate of category {k!r}")
            for k, v in value.items()
        }
    )


def _minimum(value: object) -> Money | None:
    if value is None:
        return None
    if not isinstance(value, Money):
        raise InvalidInput(f"the minimum commission must be Money or None, not {value!r}")
    if value.amount < 0:
        raise InvalidInput(f"the minimum commission must be zero or more, not {value}")
    return value


def _precision(value: object) -> Precision | None:
    if value is not None and not isinstance(value, Precision):
        raise InvalidInput(f"precision must be a Precision or None, not {value!r}")
    return value


@attrs.frozen(kw_only=True)
class Marketplace:
    """Who sells each sku and what the platform takes: see the module docstring for the rules.

    ``default_rate`` and ``category_rates`` are percentages; ``minimum`` is
    the least commission on a line (in the orders' currency);
    ``precision`` rounds commissions (default: the currency's minor unit).
    """

    sellers: Mapping[str, Seller] = attrs.field(converter=_sellers)
    sku_sellers: Mapping[str, str] = attrs.field(converter=_sku_sellers)
    default_rate: Decimal = attrs.field(default=Decimal(0), converter=_rate)
    category_rates: Mapping[str, Decimal] = attrs.field(factory=dict, converter=_category_rates)
    sku_categories: Mapping[str, str] = attrs.field(factory=dict, converter=_sku_categories)
    minimum: Money | None = attrs.field(default=None, converter=_minimum)
    precision: Precision | None = attrs.field(default=None, converter=_precision)

    def __attrs_post_init__(self) -> None:
        for sku, seller_id in self.sku_sellers.items():
            if seller_id not in self.sellers:
                raise InvalidInput(
                    f"sku {sku!r} is sold by seller {seller_id!r}, whom the marketplace does not "
                    f"have; its sellers: {', '.join(sorted(self.sellers))}"
                )
        for sku, category in self.sku_categories.items():
            if category not in self.category_rates:
                raise InvalidInput(
                    f"sku {sku!r} is in commission category {category!r}, which has no rate; "
                    f"categories with a rate: {', '.join(sorted(self.category_rates)) or 'none'}"
                )

    @classmethod
    def from_catalog(
        cls,
        catalog: Catalog,
        sellers: Iterable[Seller],
        *,
        default_rate: Decimal | int | str = 0,
        category_rates: Mapping[str, Decimal | int | str] | None = None,
        minimum: Money | None = None,
        precision: Precision | None = None,
    ) -> Marketplace:
        """A marketplace whose skus are sold by their products' ``seller_id``.

        A product's commission category is the one of its ``categories`` that
        has a rate; a product in two rated categories raises `InvalidInput`
        (give it one). Products without a seller are left out.
        """
        if not isinstance(catalog, Catalog):
            raise InvalidInput(f"catalog must be a Catalog, not {catalog!r}")
        rates = _category_rates(category_rates or {})
        owners: dict[str, str] = {}
        categories: dict[str, str] = {}
        for product in catalog:
            if product.seller_id is not None:
                owners[product.sku] = product.seller_id
            rated = sorted(product.categories & set(rates))
            if len(rated) > 1:
                raise InvalidInput(
                    f"product {product.sku!r} is in {len(rated)} categories with a commission "
                    f"rate ({', '.join(rated)}); keep it in one"
                )
            if rated:
                categories[product.sku] = rated[0]
        return cls(
            sellers=list(sellers),
            sku_sellers=owners,
            default_rate=_rate(default_rate),
            category_rates=rates,
            sku_categories=categories,
            minimum=minimum,
            precision=precision,
        )

    def seller(self, seller_id: str) -> Seller:
        """The seller ``seller_id``; `UnknownSeller` if the marketplace has none."""
        found = self.sellers.get(seller_id) if isinstance(seller_id, str) else None
        if found is None:
            raise UnknownSeller(str(seller_id), self.sellers)
        return found

    def seller_of_sku(self, sku: str) -> Seller:
        """The seller of ``sku``; `UnassignedSku` if nobody sells it."""
        seller_id = self.sku_sellers.get(sku)
        if seller_id is None:
            raise UnassignedSku(sku)
        return self.sellers[seller_id]

    def rate_for(self, sku: str) -> Decimal:
        """The commission percentage on ``sku``: its seller's, else its category's, else default."""
        seller = self.seller_of_sku(sku)
        if seller.commission_rate is not None:
            return seller.commission_rate
        category = self.sku_categories.get(sku)
        if category is not None:
            return self.category_rates[category]
        return self.default_rate

    def commission(self, line: OrderLine, share: Money) -> Money:
        """The commission on ``share``, the part of ``line`` that some money paid for.

        ``round(share * rate / 100)``, raised to the part of the minimum that
        ``share`` is of the line's value, at most ``share``.
        """
        rate = self.rate_for(line.sku)
        zero = Money.zero(share.currency)
        if share.amount <= 0:
            return zero
        taken = round_money(share * (rate / 100), self.precision)
        if self.minimum is not None and self.minimum.amount:
            if self.minimum.currency != share.currency:
                raise CurrencyMismatch(share.code, self.minimum.code, "apply a minimum in")
            value = line.gross.amount
            fraction = min(Decimal(1), share.amount / value) if value else Decimal(1)
            floor = round_money(self.minimum * fraction, self.precision)
            taken = max(taken, floor)
        return min(taken, share)

    def split(
        self, order: Order, amount: Money, *, units: Mapping[int, int] | None = None
    ) -> Split:
        """Divide ``amount`` taken on ``order`` among its sellers, with each one's commission.

        The weights are the lines' values (``gross``), or, with ``units``
        (line index → units, e.g. of one shipment), the value of those units
        (the first ones of each line). Largest-remainder allocation: the
        sellers' shares add up to ``amount``.
        """
        if not isinstance(order, Order):
            raise InvalidInput(f"split an Order, not {order!r}")
        if not isinstance(amount, Money):
            raise InvalidInput(f"the amount to split must be Money, not {amount!r}")
        if amount.code != order.currency:
            raise CurrencyMismatch(order.currency, amount.code, "split")
        if amount.amount <= 0:
            raise InvalidInput(f"the amount to split must be positive, not {amount}")
        weighed = _weights(order, units)
        by_seller: dict[str, list[tuple[OrderLine, Money]]] = {}
        for line, weight in weighed:
            seller = self.seller_of_sku(line.sku)
            by_seller.setdefault(seller.id, []).append((line, weight))
        seller_ids = list(by_seller)
        totals = [
            sum_money((w for _, w in by_seller[s]), currency=order.currency) for s in seller_ids
        ]
        if not any(total.amount for total in totals):
            raise InvalidInput(f"order {order.id!r}: the lines to split over have no value")
        shares = allocate(amount, totals)
        sellers = []
        for seller_id, share in zip(seller_ids, shares, strict=True):
            own = by_seller[seller_id]
            parts = (
                allocate(share, [w for _, w in own])
                if any(w.amount for _, w in own)
                else [Money.zero(share.currency) for _ in own]
            )
            lines = tuple(
                LineShare(
                    line=line.index,
                    sku=line.sku,
                    amount=part,
                    rate=self.rate_for(line.sku),
                    commission=self.commission(line, part),
                )
                for (line, _), part in zip(own, parts, strict=True)
            )
            sellers.append(SellerShare(seller_id=seller_id, amount=share, lines=lines))
        return Split(order_id=order.id, amount=amount, sellers=tuple(sellers))


def _weights(order: Order, units: Mapping[int, int] | None) -> list[tuple[OrderLine, Money]]:
    if units is None:
        return [(line, line.gross) for line in order.lines]
    if not isinstance(units, Mapping) or not units:
        raise InvalidInput(f"units must map line indexes to unit counts, not {units!r}")
    by_index = {line.index: line for line in order.lines}
    weighed = []
    for index, count in units.items():
        line = by_index.get(index)
        if line is None:
            raise InvalidInput(
                f"order {order.id!r} has no line {index!r}; its lines: {sorted(by_index)}"
            )
        if type(count) is not int or not 1 <= count <= line.quantity:
            raise InvalidInput(
                f"{line.label()}: units must be an int from 1 to {line.quantity}, not {count!r}"
            )
        weighed.append((line, sum_money(line.unit_totals[:count], currency=order.currency)))
    return weighed


@attrs.frozen(kw_only=True)
class LineShare:
    """The part of a split that paid for one order line, and the commission on it."""

    line: int
    sku: str
    amount: Money
    rate: Decimal
    commission: Money


@attrs.frozen(kw_only=True)
class SellerShare:
    """One seller's share of a split: its lines' parts, the commission and what it is owed."""

    seller_id: str
    amount: Money
    lines: tuple[LineShare, ...]

    @property
    def commission(self) -> Money:
        """The platform's commission on the share (the sum over the lines)."""
        return sum_money((line.commission for line in self.lines), currency=self.amount.code)

    @property
    def payable(self) -> Money:
        """What the seller is owed of the share: the share less the commission."""
        return self.amount - self.commission


@attrs.frozen(kw_only=True)
class Split:
    """An amount taken on an order (or refunded) divided among the sellers."""

    order_id: str
    amount: Money
    sellers: tuple[SellerShare, ...]

    def share(self, seller_id: str) -> SellerShare:
        """The share of ``seller_id``; `NotFound` if the seller has no line here."""
        for share in self.sellers:
            if share.seller_id == seller_id:
                return share
        raise NotFound("seller share", seller_id, [s.seller_id for s in self.sellers])

    @property
    def commission(self) -> Money:
        """The platform's commission, all sellers together."""
        return sum_money((s.commission for s in self.sellers), currency=self.amount.code)

    @property
    def payable(self) -> Money:
        """What the sellers are owed, all together: the amount less the commission."""
        return self.amount - self.commission


# --- entries -----------------------------------------------------------------------------


def seller_kind(what: str, seller_id: str) -> str:
    """The ``kind`` of an entry of ``seller_id``: ``"marketplace_sale:s-1"``, say."""
    if what not in _KINDS:
        raise InvalidInput(f"a seller entry's kind is one of {', '.join(_KINDS)}, not {what!r}")
    return f"{what}:{_text('seller id', seller_id)}"


def seller_of(entry: JournalEntry) -> tuple[str, str] | None:
    """The (kind, seller id) a marketplace entry is tagged with, or ``None`` for other entries."""
    what, colon, seller_id = entry.kind.partition(":")
    if colon and what in _KINDS and seller_id:
        return what, seller_id
    return None


def _check_split(split: object) -> Split:
    if not isinstance(split, Split):
        raise InvalidInput(f"expected a Split from Marketplace.split, not {split!r}")
    return split


def marketplace_capture_entries(
    split: Split,
    *,
    id: str,
    at: datetime,
    payment_id: str | None = None,
    cause: Cause | None = None,
    from_account: str = SALES_REVENUE,
) -> tuple[JournalEntry, ...]:
    """One entry per seller with a share: debit ``from_account``, credit payable and commission.

    Entry ids are ``"<id>/<seller id>"``; kinds ``"marketplace_sale:<seller id>"``.
    Post them with `Ledger.post_all` beside the capture's own entry.
    """
    split = _check_split(split)
    _text("id", id)
    entries = []
    for share in split.sellers:
        if not share.amount.amount:
            continue
        lines = [JournalLine.debit(_text("from account", from_account), share.amount)]
        if share.payable.amount:
            lines.append(JournalLine.credit(SELLER_PAYABLE, share.payable))
        if share.commission.amount:
            lines.append(JournalLine.credit(COMMISSION_REVENUE, share.commission))
        entries.append(
            JournalEntry(
                id=f"{id}/{share.seller_id}",
                at=at,
                description=f"seller {share.seller_id} share of order {split.order_id}",
                lines=lines,
                kind=seller_kind(MARKETPLACE_SALE, share.seller_id),
                order_id=split.order_id,
                payment_id=payment_id,
                cause=cause,
            )
        )
    return tuple(entries)


def marketplace_refund_entries(
    split: Split,
    *,
    id: str,
    at: datetime,
    payment_id: str | None = None,
    cause: Cause | None = None,
    from_account: str = SALES_REVENUE,
) -> tuple[JournalEntry, ...]:
    """One entry per seller taking its share of a refund back: the capture's lines mirrored.

    ``split`` is `Marketplace.split` of the refunded amount. The commission
    on it goes back to the seller: debit seller payable (share less
    commission) and commission revenue, credit ``from_account`` (the share).
    Kinds ``"marketplace_refund:<seller id>"``.
    """
    split = _check_split(split)
    _text("id", id)
    entries = []
    for share in split.sellers:
        if not share.amount.amount:
            continue
        lines = []
        if share.payable.amount:
            lines.append(JournalLine.debit(SELLER_PAYABLE, share.payable))
        if share.commission.amount:
            lines.append(JournalLine.debit(COMMISSION_REVENUE, share.commission))
        lines.append(JournalLine.credit(_text("from account", from_account), share.amount))
        entries.append(
            JournalEntry(
                id=f"{id}/{share.seller_id}",
                at=at,
                description=f"seller {share.seller_id} share of a refund on order {split.order_id}",
                lines=lines,
                kind=seller_kind(MARKETPLACE_REFUND, share.seller_id),
                order_id=split.order_id,
                payment_id=payment_id,
                cause=cause,
            )
        )
    return tuple(entries)


def seller_fee_entry(
    marketplace: Marketplace,
    seller_id: str,
    amount: Money,
    *,
    id: str,
    at: datetime,
    order_id: str | None = None,
    account: str = GATEWAY_FEES,
    description: str | None = None,
) -> JournalEntry:
    """A fee charged to a seller: debit seller payable, credit ``account``.

    The default ``account`` passes a gateway's fee on to the seller (the
    fee's expense is recovered); a listing fee would credit a revenue
    account of the shop's chart. `UnknownSeller` for a seller the marketplace lacks.
    """
    seller = marketplace.seller(seller_id)
    return JournalEntry(
        id=id,
        at=at,
        description=description or f"fee charged to seller {seller.id}",
        lines=[JournalLine.debit(SELLER_PAYABLE, amount), JournalLine.credit(account, amount)],
        kind=seller_kind(SELLER_FEE, seller.id),
        order_id=order_id,
    )


def _payable_lines(
    ledger: Ledger, seller_id: str, code: str, *, end: datetime | None = None
) -> Decimal:
    total = Decimal(0)
    for entry in ledger.entries:
        tag = seller_of(entry)
        if tag is None or tag[1] != seller_id or (end is not None and entry.at >= end):
            continue
        for line in entry.lines:
            if line.account == SELLER_PAYABLE and line.amount.code == code:
                total += line.amount.amount if line.side is Side.CREDIT else -line.amount.amount
    return total


def seller_payable(ledger: Ledger, seller_id: str, currency: str) -> Money:
    """What the ledger says the shop owes ``seller_id`` in ``currency`` (negative: it owes us)."""
    code = currency_code(currency)
    return Money(_payable_lines(ledger, _text("seller id", seller_id), code), code)


def seller_payout_entry(
    ledger: Ledger,
    marketplace: Marketplace,
    seller_id: str,
    amount: Money,
    *,
    id: str,
    at: datetime,
    description: str | None = None,
) -> JournalEntry:
    """The entry paying ``seller_id`` ``amount``: debit seller payable, credit cash.

    Raises `UnknownSeller` for a seller the marketplace lacks and
    `PayoutExceedsPayable` when ``amount`` is above `seller_payable`. The
    payout already posted under ``id`` is returned as it is (posting it
    again changes nothing).
    """
    seller = marketplace.seller(seller_id)
    if not isinstance(amount, Money):
        raise InvalidInput(f"a payout must be Money, not {amount!r}")
    entry = JournalEntry(
        id=id,
        at=at,
        description=description or f"payout to seller {seller.id}",
        lines=[JournalLine.debit(SELLER_PAYABLE, amount), JournalLine.credit(CASH, amount)],
        kind=seller_kind(SELLER_PAYOUT, seller.id),
    )
    try:
        if ledger.entry(id) == entry:
            return entry
    except NotFound:
        pass
    payable = seller_payable(ledger, seller.id, amount.code)
    if amount > payable:
        raise PayoutExceedsPayable(seller.id, amount, payable)
    return entry


# --- statements --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SellerStatement:
    """A seller's account for a period (``start <= at < end``), read from the ledger.

    ``net_payable = sales - refunds - commission - fees``;
    ``closing = opening + net_payable - paid_out``, the payable at ``end``.
    ``commission`` is net of the commission given back on refunds.
    """

    seller_id: str
    currency: str
    start: datetime | None
    end: datetime | None
    sales: Money
    refunds: Money
    commission: Money
    fees: Money
    paid_out: Money
    opening: Money

    @property
    def net_payable(self) -> Money:
        """What the period's sales earned the seller: sales less refunds, commission and fees."""
        return self.sales - self.refunds - self.commission - self.fees

    @property
    def closing(self) -> Money:
        """The payable at the end of the period: opening plus net payable less payouts."""
        return self.opening + self.net_payable - self.paid_out

    def format(self) -> str:
        """The statement as a short text table."""
        rows = [
            ("opening payable", self.opening),
            ("sales", self.sales),
            ("refunds", -self.refunds),
            ("commission", -self.commission),
            ("fees", -self.fees),
            ("net payable", self.net_payable),
            ("paid out", -self.paid_out),
            ("closing payable", self.closing),
        ]
        head = f"seller {self.seller_id} ({self.currency})"
        shown = [f"{name:<18}{round_money(value).amount:>12}" for name, value in rows]
        return "\n".join([head, *shown])


def seller_statement(
    ledger: Ledger,
    seller_id: str,
    currency: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> SellerStatement:
    """The statement of ``seller_id`` in ``currency`` for ``start <= at < end`` (open ends: all).

    Read from the entries tagged with the seller (see `seller_of`); a
    reversal counts against the entry it reverses.
    """
    _text("seller id", seller_id)
    code = currency_code(currency)
    if start is not None:
        require_aware(start, "start")
    if end is not None:
        require_aware(end, "end")
    if start is not None and end is not None and end < start:
        raise InvalidInput(f"a period's end {end.isoformat()} is before its start")
    sums = dict.fromkeys(("sales", "refunds", "commission", "fees", "paid_out"), Decimal(0))
    for entry in ledger.entries:
        tag = seller_of(entry)
        if tag is None or tag[1] != seller_id or code not in entry.currencies:
            continue
        if (start is not None and entry.at < start) or (end is not None and entry.at >= end):
            continue
        what = tag[0]
        sign = -1 if entry.reverses is not None else 1
        total = sign * entry.total(code).amount
        commission = sum(
            (
                line.amount.amount if line.side is Side.CREDIT else -line.amount.amount
                for line in entry.lines
                if line.account == COMMISSION_REVENUE and line.amount.code == code
            ),
            Decimal(0),
        )
        sums["commission"] += commission
        if what == MARKETPLACE_SALE:
            sums["sales"] += total
        elif what == MARKETPLACE_REFUND:
            sums["refunds"] += total
        elif what == SELLER_FEE:
            sums["fees"] += total
        else:
            sums["paid_out"] += total
    opening = _payable_lines(ledger, seller_id, code, end=start) if start is not None else 0
    return SellerStatement(
        seller_id=seller_id,
        currency=code,
        start=start,
        end=end,
        opening=Money(opening, code),
        **{name: Money(value, code) for name, value in sums.items()},
    )
