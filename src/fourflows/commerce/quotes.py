"""B2B sales: quotes with their own machine, customer price lists, payment terms, receivables.

A business buyer (`Buyer`: a company with its tax id) asks for a quote; the
shop drafts a `SalesQuote`, priced once by `price_cart` at its contract
prices, and sends it. What was sent is frozen: the buyer accepts it before it
lapses (``expires_at``) or rejects it, or it expires; a revision makes a new
draft that must be sent again. An accepted quote is converted into an order:
`SalesQuote.convert` hands back the frozen `Quote` for
`fourflows.commerce.order.Order.place`.

Price lists (`PriceList`) give a customer or a customer group its own unit
prices, or a percentage off the list price. They feed the pricing engine
through the catalog: `contract_catalog` returns the catalog with each
product's price replaced by the buyer's contract price, and `price_cart`
prices that catalog as usual (promotions and tax then apply to the contract
prices). The buyer's own list comes before its groups' lists, which come
before the list price.

Payment terms (`PaymentTerms`: due on receipt, net 30, net 60, end of month
plus n days, 月結) give a due date from the invoice date in calendar days. A
`Receivable` records what a B2B order owes, the bank transfers that pay it
(partly, or late) and whether it is overdue; `overdue` lists the overdue
ones of a set.
"""

from __future__ import annotations

import calendar
import enum
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from fourflows._sets import name_set
from fourflows.aggregates import Aggregate
from fourflows.cash.invoices import Invoice, Party, check_business_number
from fourflows.commerce.cart import Cart, Channel, Customer, PricingContext
from fourflows.commerce.catalog import Catalog, Product
from fourflows.commerce.pricing import Quote, price_cart
from fourflows.commerce.promotions import Promotion
from fourflows.errors import CurrencyMismatch, GuardRejected, IdempotencyConflict, InvalidInput
from fourflows.events import DomainEvent, Flow, domain_event, require_aware
from fourflows.geo import Address, country_code
from fourflows.logistics.shipping import ShippingTable
from fourflows.machines import Guard, MachineSpec, StateMachine, Transition, register_machine
from fourflows.money import Money, Precision, round_money, sum_money
from fourflows.tax import TaxProvider

__all__ = [
    "SALES_QUOTE_MACHINE",
    "Buyer",
    "ContractPrice",
    "PaymentTerms",
    "PriceList",
    "QuoteExpired",
    "QuotePricing",
    "Receivable",
    "ReceivableStatus",
    "ReceivedPayment",
    "SalesQuote",
    "SalesQuoteAccepted",
    "SalesQuoteConverted",
    "SalesQuoteDrafted",
    "SalesQuoteExpired",
    "SalesQuoteRejected",
    "SalesQuoteRevised",
    "SalesQuoteSent",
    "TermsKind",
    "contract_catalog",
    "contract_price",
    "overdue",
]


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must be non-empty text, not {value!r}")
    return value.strip()


def _optional_text(value: object, what: str) -> str | None:
    return None if value is None else _text(value, what)


def _list_id(value: object) -> str:
    return _text(value, "a price list id")


def _list_customer(value: object) -> str | None:
    return _optional_text(value, "a price list's customer_id")


def _list_group(value: object) -> str | None:
    return _optional_text(value, "a price list's customer group")


def _reference(value: object) -> str:
    return _text(value, "a payment reference")


def _method(value: object) -> str:
    return _text(value, "a payment method")


def _payment_amount(value: object) -> Money:
    return _positive_money(value, "a payment")


def _amount_due(value: object) -> Money:
    return _positive_money(value, "the amount due")


def _received_at(value: object) -> datetime:
    return require_aware(value, "received_at")


def _order_id(value: object) -> str:
    return _text(value, "an order id")


def _invoice_number(value: object) -> str | None:
    return _optional_text(value, "an invoice number")


def _purchase_order(value: object) -> str | None:
    return _optional_text(value, "a purchase-order reference")


# ---------------------------------------------------------------------------
# The buyer


def _company(value: object) -> str:
    return _text(value, "a buyer's company name")


def _buyer_id(value: object) -> str:
    return _text(value, "a buyer's customer id")


def _groups(value: Iterable[str] | str) -> frozenset[str]:
    return name_set(value, "a customer group")


@attrs.frozen(kw_only=True)
class Buyer:
    """A business customer: its customer id, company name, country, tax id and groups.

    In Taiwan (``country="TW"``) the tax id is the 統一編號 and is required:
    it is checked with `fourflows.cash.invoices.check_business_number`
    (a bad one raises `InvalidBusinessNumber`). Elsewhere it is optional and
    kept as given. ``groups`` are the customer groups its price lists use.
    """

    id: str = attrs.field(converter=_buyer_id)
    company: str = attrs.field(converter=_company)
    country: str = attrs.field(converter=country_code)
    tax_id: str | None = attrs.field(default=None)
    groups: frozenset[str] = attrs.field(default=frozenset(), converter=_groups)

    @tax_id.validator
    def _check_tax_id(self, _: object, value: object) -> None:
        if self.country == "TW":
            if value is None:
                raise InvalidInput(
                    f"a Taiwanese business buyer needs its business number (統一編號) as "
                    f"tax_id; {self.company!r} has none"
                )
            check_business_number(value)
        elif value is not None:
            _text(value, "a tax id")

    @property
    def customer(self) -> Customer:
        """The buyer as the pricing engine sees it (its id and groups)."""
        return Customer(id=self.id, groups=self.groups)

    @property
    def party(self) -> Party:
        """The buyer as an invoice names it."""
        return Party(name=self.company, country=self.country, tax_id=self.tax_id)


# ---------------------------------------------------------------------------
# Price lists


def _percent(value: object) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, float):
        raise InvalidInput(f"percent_off must be an int, str or Decimal, not the float {value!r}")
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise InvalidInput(f"percent_off must be an int, str or Decimal, not {value!r}")
    try:
        number = Decimal(value)
    except ArithmeticError:
        raise InvalidInput(f"percent_off must be a number such as '12.5', not {value!r}") from None
    if not number.is_finite() or not 0 < number < 100:
        raise InvalidInput(f"percent_off must be above 0 and below 100, not {value!r}")
    return number


def _prices(value: Mapping[str, Money]) -> tuple[tuple[str, Money], ...]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"prices must map skus to Money, not {value!r}")
    pairs: dict[str, Money] = {}
    currency: str | None = None
    for sku, price in value.items():
        key = _text(sku, "a price list's sku")
        if not isinstance(price, Money) or price.amount < 0:
            raise InvalidInput(f"the price of {key!r} must be Money of 0 or more, not {price!r}")
        if currency is not None and price.code != currency:
            raise CurrencyMismatch(currency, price.code, "list in one price list")
        currency = price.code
        if key in pairs:
            raise InvalidInput(f"sku {key!r} appears twice in the price list")
        pairs[key] = price
    return tuple(sorted(pairs.items()))


def _optional_precision(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, Precision):
        raise InvalidInput(f"{attribute.name} must be a Precision or None, not {value!r}")


@attrs.frozen(kw_only=True)
class PriceList:
    """Contract prices for one customer (``customer_id``) or one customer group (``group``).

    ``prices`` maps skus to unit prices; ``percent_off`` (a Decimal
    percentage, above 0 and below 100) takes that much off the list price
    of every other product, rounded half-up to ``precision`` (default: the
    currency's minor unit; ``Precision.of(0)`` for whole Taiwan dollars).
    A list without ``percent_off`` says nothing about the skus it does not
    name. Exactly one of ``customer_id`` and ``group`` is given.
    """

    id: str = attrs.field(converter=_list_id)
    customer_id: str | None = attrs.field(default=None, converter=_list_customer)
    group: str | None = attrs.field(default=None, converter=_list_group)
    prices: tuple[tuple[str, Money], ...] = attrs.field(factory=dict, converter=_prices)
    percent_off: Decimal | None = attrs.field(default=None, converter=_percent)
    precision: Precision | None = attrs.field(default=None, validator=_optional_precision)

    def __attrs_post_init__(self) -> None:
        if (self.customer_id is None) == (self.group is None):
            raise InvalidInput(
                f"price list {self.id!r} is for one customer_id or one group: give exactly one, "
                f"not customer_id={self.customer_id!r} and group={self.group!r}"
            )
        if not self.prices and self.percent_off is None:
            raise InvalidInput(f"price list {self.id!r} has no prices and no percent_off")

    def applies_to(self, customer: Customer) -> bool:
        """Whether this list is the customer's own or one of its groups'."""
        if self.customer_id is not None:
            return customer.id == self.customer_id
        return self.group in customer.groups

    def price_of(self, product: Product) -> Money | None:
        """The list's unit price for ``product``, or ``None`` when the list says nothing of it."""
        for sku, price in self.prices:
            if sku == product.sku:
                if price.currency != product.price.currency:
                    raise CurrencyMismatch(product.price.code, price.code, "price a product")
                return price
        if self.percent_off is None:
            return None
        off = self.percent_off % product.price
        return round_money(product.price - off, self.precision)


@attrs.frozen(kw_only=True)
class ContractPrice:
    """What a customer pays for one product, and which price list (if any) said so."""

    sku: str
    list_price: Money
    price: Money
    price_list: str | None


def _check_lists(price_lists: Iterable[PriceList]) -> tuple[PriceList, ...]:
    if isinstance(price_lists, PriceList) or not isinstance(price_lists, Iterable):
        raise InvalidInput(f"price_lists must be a sequence of PriceList, not {price_lists!r}")
    lists = tuple(price_lists)
    ids: set[str] = set()
    owners: set[tuple[str, str]] = set()
    for found in lists:
        if not isinstance(found, PriceList):
            raise InvalidInput(f"price_lists holds PriceList values, not {found!r}")
        if found.id in ids:
            raise InvalidInput(f"price list id {found.id!r} appears twice")
        ids.add(found.id)
        owner = (
            ("customer", found.customer_id or "") if found.group is None else ("group", found.group)
        )
        if owner in owners:
            raise InvalidInput(f"two price lists are for {owner[0]} {owner[1]!r}; keep one")
        owners.add(owner)
    return lists


def _resolve(product: Product, customer: Customer, lists: tuple[PriceList, ...]) -> ContractPrice:
    for own in lists:
        if own.customer_id is not None and own.applies_to(customer):
            price = own.price_of(product)
            if price is not None:
                return ContractPrice(
                    sku=product.sku, list_price=product.price, price=price, price_list=own.id
                )
    best: tuple[Money, str] | None = None
    for group_list in sorted(lists, key=lambda found: found.id):
        if group_list.group is not None and group_list.applies_to(customer):
            price = group_list.price_of(product)
            if price is not None and (best is None or price < best[0]):
                best = (price, group_list.id)
    if best is not None:
        return ContractPrice(
            sku=product.sku, list_price=product.price, price=best[0], price_list=best[1]
        )
    return ContractPrice(
        sku=product.sku, list_price=product.price, price=product.price, price_list=None
    )


def contract_price(
    product: Product, customer: Customer, price_lists: Iterable[PriceList]
) -> ContractPrice:
    """The unit price ``customer`` pays for ``product``, and where it comes from.

    The customer's own list comes first; then its groups' lists, the lowest
    price among them (the first list id on a tie); then the list price. A
    list counts for a product when it names the sku or takes a percentage
    off everything.
    """
    if not isinstance(product, Product):
        raise InvalidInput(f"contract_price prices a Product, not {product!r}")
    if not isinstance(customer, Customer):
        raise InvalidInput(f"contract_price needs a Customer, not {customer!r}")
    return _resolve(product, customer, _check_lists(price_lists))


def contract_catalog(
    catalog: Catalog, customer: Customer, price_lists: Iterable[PriceList]
) -> Catalog:
    """``catalog`` with every product's price replaced by ``customer``'s contract price.

    This is how price lists reach the pricing engine: price a cart built
    from this catalog with `price_cart`, and its lines' list prices are the
    contract prices. Skus a price list names that the catalog does not
    sell are ignored.
    """
    if not isinstance(catalog, Catalog):
        raise InvalidInput(f"contract_catalog takes a Catalog, not {catalog!r}")
    if not isinstance(customer, Customer):
        raise InvalidInput(f"contract_catalog needs a Customer, not {customer!r}")
    lists = tuple(found for found in _check_lists(price_lists) if found.applies_to(customer))
    products = []
    for product in catalog:
        price = _resolve(product, customer, lists).price
        products.append(product if price == product.price else attrs.evolve(product, price=price))
    return Catalog(products)


# ---------------------------------------------------------------------------
# Pricing a quote


def _items(value: object) -> tuple[tuple[str, int], ...]:
    if not isinstance(value, Mapping) or not value:
        raise InvalidInput(f"items must map skus to quantities, with at least one, not {value!r}")
    items = []
    for sku, quantity in value.items():
        key = _text(sku, "an item's sku")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise InvalidInput(
                f"the quantity of {key!r} must be an int of at least 1, not {quantity!r}"
            )
        items.append((key, quantity))
    return tuple(items)


def _catalog(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Catalog):
        raise InvalidInput(f"{attribute.name} must be a Catalog, not {value!r}")


def _tax(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not (hasattr(value, "compute") and hasattr(value, "mode")):
        raise InvalidInput(
            f"{attribute.name} must be a tax table or provider such as TaxTable.preset('TW'), "
            f"not {value!r}"
        )


def _instance(kind: type) -> Any:
    def check(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, kind):
            raise InvalidInput(f"{attribute.name} must be {kind.__name__} or None, not {value!r}")

    return check


def _lists(value: Iterable[PriceList]) -> tuple[PriceList, ...]:
    return _check_lists(value)


def _quote_channel(value: object) -> Channel:
    try:
        return Channel(value)
    except ValueError:
        allowed = ", ".join(c.value for c in Channel)
        raise InvalidInput(f"unknown channel {value!r}; allowed: {allowed}") from None


@attrs.frozen(kw_only=True)
class QuotePricing:
    """What a sales quote is priced with: the catalog, price lists, tax and shipping.

    `QuotePricing.price` prices items for a buyer with `price_cart`, on
    `contract_catalog` of the buyer. The options are those of `price_cart`.
    """

    catalog: Catalog = attrs.field(validator=_catalog)
    tax: TaxProvider = attrs.field(validator=_tax)
    price_lists: tuple[PriceList, ...] = attrs.field(default=(), converter=_lists)
    shipping: ShippingTable | None = attrs.field(
        default=None, validator=attrs.validators.optional(_instance(ShippingTable))
    )
    ship_to: Address | None = attrs.field(
        default=None, validator=attrs.validators.optional(_instance(Address))
    )
    service: str | None = None
    channel: Channel = attrs.field(default=Channel.WEB, converter=_quote_channel)
    promotions: tuple[Promotion, ...] = attrs.field(default=(), converter=tuple)
    precision: Precision | None = attrs.field(default=None, validator=_optional_precision)

    def price(self, items: Mapping[str, int], buyer: Buyer, at: datetime) -> Quote:
        """``items`` (sku → quantity) priced for ``buyer`` at ``at``, at its contract prices."""
        if not isinstance(buyer, Buyer):
            raise InvalidInput(f"a sales quote is priced for a Buyer, not {buyer!r}")
        require_aware(at, "at")
        wanted = _items(items)
        customer = buyer.customer
        catalog = contract_catalog(self.catalog, customer, self.price_lists)
        cart = Cart(currency=catalog[wanted[0][0]].price.code)
        for sku, quantity in wanted:
            cart = cart.add(catalog[sku], quantity)
        return price_cart(
            cart,
            context=PricingContext(at=at, customer=customer, channel=self.channel),
            tax=self.tax,
            promotions=self.promotions,
            shipping=self.shipping,
            ship_to=self.ship_to,
            service=self.service,
            precision=self.precision,
        )


# ---------------------------------------------------------------------------
# Payment terms


class TermsKind(enum.Enum):
    """How a due date follows from the invoice date."""

    DUE_ON_RECEIPT = "due_on_receipt"
    NET = "net"
    END_OF_MONTH = "end_of_month"


def _terms_kind(value: object) -> TermsKind:
    try:
        return TermsKind(value)
    except ValueError:
        allowed = ", ".join(kind.value for kind in TermsKind)
        raise InvalidInput(f"unknown payment terms {value!r}; allowed: {allowed}") from None


def _days(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 366:
        raise InvalidInput(f"{attribute.name} must be an int from 0 to 366, not {value!r}")


@attrs.frozen
class PaymentTerms:
    """When an invoice is due, counted in calendar days from the invoice date.

    ``PaymentTerms.net(30)`` is due 30 days after the invoice date;
    ``PaymentTerms.due_on_receipt()`` on the invoice date;
    ``PaymentTerms.end_of_month(30)`` 30 days after the last day of the
    invoice's month (月結30天). Days are calendar days: weekends and holidays
    count, and a due date on one is not moved.
    """

    kind: TermsKind = attrs.field(converter=_terms_kind)
    days: int = attrs.field(default=0, validator=_days)

    def __attrs_post_init__(self) -> None:
        if self.kind is TermsKind.DUE_ON_RECEIPT and self.days:
            raise InvalidInput(f"due-on-receipt terms take no days, not {self.days}")
        if self.kind is TermsKind.NET and not self.days:
            raise InvalidInput("net terms need at least 1 day; use due_on_receipt() for 0")

    @classmethod
    def net(cls, days: int) -> PaymentTerms:
        """Due ``days`` calendar days after the invoice date (net 30, net 60)."""
        return cls(TermsKind.NET, days)

    @classmethod
    def due_on_receipt(cls) -> PaymentTerms:
        """Due on the invoice date."""
        return cls(TermsKind.DUE_ON_RECEIPT)

    @classmethod
    def end_of_month(cls, days: int = 0) -> PaymentTerms:
        """Due ``days`` calendar days after the end of the invoice's month (月結)."""
        return cls(TermsKind.END_OF_MONTH, days)

    @property
    def label(self) -> str:
        """The terms in words: ``'net 30'``, ``'due on receipt'``, ``'end of month + 30'``."""
        if self.kind is TermsKind.NET:
            return f"net {self.days}"
        if self.kind is TermsKind.DUE_ON_RECEIPT:
            return "due on receipt"
        return "end of month" if not self.days else f"end of month + {self.days}"

    def due_date(self, invoiced_on: date) -> date:
        """The due date of an invoice dated ``invoiced_on``."""
        if not isinstance(invoiced_on, date) or isinstance(invoiced_on, datetime):
            raise InvalidInput(f"invoiced_on must be a date, not {invoiced_on!r}")
        if self.kind is TermsKind.END_OF_MONTH:
            last = calendar.monthrange(invoiced_on.year, invoiced_on.month)[1]
            return invoiced_on.replace(day=last) + timedelta(days=self.days)
        return invoiced_on + timedelta(days=self.days)


# ---------------------------------------------------------------------------
# Receivables


def _zone(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"timezone must be an IANA name such as 'Asia/Taipei', not {value!r}")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown timezone {value!r}; use an IANA name such as 'Asia/Taipei'"
        ) from None
    return value


def _positive_money(value: object, what: str) -> Money:
    if not isinstance(value, Money) or value.amount <= 0:
        raise InvalidInput(f"{what} must be positive Money, not {value!r}")
    if round_money(value) != value:
        raise InvalidInput(f"{what} must be in whole minor units, not {value}")
    return value


@attrs.frozen(kw_only=True)
class ReceivedPayment:
    """Money received against a receivable: how much, when, and the bank's reference."""

    reference: str = attrs.field(converter=_reference)
    amount: Money = attrs.field(converter=_payment_amount)
    received_at: datetime = attrs.field(converter=_received_at)
    method: str = attrs.field(default="bank_transfer", converter=_method)


class ReceivableStatus(enum.Enum):
    """Where a receivable stands at a given time."""

    OPEN = "open"
    PARTLY_PAID = "partly_paid"
    OVERDUE = "overdue"
    PAID = "paid"


def _date(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidInput(f"{attribute.name} must be a date, not {value!r}")


def _terms(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, PaymentTerms):
        raise InvalidInput(f"{attribute.name} must be PaymentTerms, not {value!r}")


def _payments(value: Iterable[ReceivedPayment]) -> tuple[ReceivedPayment, ...]:
    found = tuple(value)
    for payment in found:
        if not isinstance(payment, ReceivedPayment):
            raise InvalidInput(f"payments holds ReceivedPayment values, not {payment!r}")
    return found


@attrs.frozen(kw_only=True)
class Receivable:
    """What a B2B order owes on its terms, and the payments received against it.

    ``amount`` is due on ``due_on`` (``terms.due_date(issued_on)``). Dates
    are local to ``timezone`` (an IANA name): a time ``at`` is read as the
    date it is there. A receivable is overdue on the days after its due date
    while anything is outstanding. It is a value: `Receivable.pay` returns
    the receivable with the payment added.
    """

    order_id: str = attrs.field(converter=_order_id)
    amount: Money = attrs.field(converter=_amount_due)
    terms: PaymentTerms = attrs.field(validator=_terms)
    issued_on: date = attrs.field(validator=_date)
    timezone: str = attrs.field(converter=_zone)
    invoice_number: str | None = attrs.field(default=None, converter=_invoice_number)
    purchase_order: str | None = attrs.field(default=None, converter=_purchase_order)
    payments: tuple[ReceivedPayment, ...] = attrs.field(default=(), converter=_payments)

    def __attrs_post_init__(self) -> None:
        paid = sum_money((p.amount for p in self.payments), currency=self.amount.code)
        if paid > self.amount:
            raise InvalidInput(
                f"receivable of order {self.order_id!r}: {paid} paid is more than "
                f"the {self.amount} due"
            )

    @classmethod
    def for_invoice(cls, invoice: Invoice, terms: PaymentTerms, *, timezone: str) -> Receivable:
        """The receivable of ``invoice`` on ``terms``: its gross, from its local issue date."""
        if not isinstance(invoice, Invoice):
            raise InvalidInput(f"for_invoice takes an Invoice, not {invoice!r}")
        zone = _zone(timezone)
        return cls(
            order_id=invoice.order_id,
            amount=invoice.gross,
            terms=terms,
            issued_on=invoice.issued_at.astimezone(ZoneInfo(zone)).date(),
            timezone=zone,
            invoice_number=invoice.number,
            purchase_order=invoice.purchase_order,
        )

    @property
    def due_on(self) -> date:
        """The due date."""
        return self.terms.due_date(self.issued_on)

    def local_date(self, at: datetime) -> date:
        """The date ``at`` falls on in the receivable's timezone."""
        return require_aware(at, "at").astimezone(ZoneInfo(self.timezone)).date()

    def paid(self, at: datetime | None = None) -> Money:
        """What was received (by ``at``, when given)."""
        return sum_money(
            (p.amount for p in self.payments if at is None or p.received_at <= at),
            currency=self.amount.code,
        )

    def outstanding(self, at: datetime | None = None) -> Money:
        """What is still owed (at ``at``, when given)."""
        return self.amount - self.paid(at)

    @property
    def is_settled(self) -> bool:
        """Whether everything due has been received."""
        return self.outstanding().amount == 0

    @property
    def settled_on(self) -> date | None:
        """The local date of the payment that settled it, or ``None`` while anything is owed."""
        if not self.is_settled:
            return None
        return self.local_date(max(p.received_at for p in self.payments))

    @property
    def paid_late(self) -> bool:
        """Whether it was settled after its due date."""
        settled = self.settled_on
        return settled is not None and settled > self.due_on

    def is_overdue(self, at: datetime) -> bool:
        """Whether, at ``at``, something is owed and the due date has passed."""
        return self.outstanding(at).amount > 0 and self.local_date(at) > self.due_on

    def days_overdue(self, at: datetime) -> int:
        """How many days past its due date it is at ``at`` (0 when not overdue)."""
        if not self.is_overdue(at):
            return 0
        return (self.local_date(at) - self.due_on).days

    def status(self, at: datetime) -> ReceivableStatus:
        """Paid, overdue, partly paid or open, at ``at``."""
        if self.outstanding(at).amount == 0:
            return ReceivableStatus.PAID
        if self.is_overdue(at):
            return ReceivableStatus.OVERDUE
        if self.paid(at).amount > 0:
            return ReceivableStatus.PARTLY_PAID
        return ReceivableStatus.OPEN

    def pay(
        self, *, amount: Money, at: datetime, reference: str, method: str = "bank_transfer"
    ) -> Receivable:
        """The receivable with ``amount`` received at ``at`` under the bank's ``reference``.

        The same payment reported again (same reference and amount) changes
        nothing; the same reference with another amount raises
        `IdempotencyConflict`. Paying more than is outstanding, in another
        currency, or before the invoice date raises `InvalidInput`.
        """
        payment = ReceivedPayment(reference=reference, amount=amount, received_at=at, method=method)
        for earlier in self.payments:
            if earlier.reference == payment.reference:
                if (earlier.amount, earlier.received_at) == (payment.amount, payment.received_at):
                    return self
                raise IdempotencyConflict(
                    payment.reference,
                    recorded=f"{earlier.amount} at {earlier.received_at.isoformat()}",
                    given=f"{payment.amount} at {payment.received_at.isoformat()}",
                )
        if payment.amount.currency != self.amount.currency:
            raise CurrencyMismatch(self.amount.code, payment.amount.code, "pay")
        if self.local_date(at) < self.issued_on:
            raise InvalidInput(
                f"a payment on {self.local_date(at)} comes before the invoice date {self.issued_on}"
            )
        left = self.outstanding()
        if payment.amount > left:
            raise InvalidInput(
                f"cannot receive {payment.amount} on order {self.order_id!r}: only {left} is owed"
            )
        return attrs.evolve(self, payments=(*self.payments, payment))


def overdue(receivables: Iterable[Receivable], at: datetime) -> list[Receivable]:
    """The receivables overdue at ``at``, the longest overdue first (then by order id)."""
    require_aware(at, "at")
    found = []
    for receivable in receivables:
        if not isinstance(receivable, Receivable):
            raise InvalidInput(f"overdue looks at Receivable values, not {receivable!r}")
        if receivable.is_overdue(at):
            found.append(receivable)
    return sorted(found, key=lambda r: (r.due_on, r.order_id))


# ---------------------------------------------------------------------------
# The sales quote and its machine


class QuoteExpired(GuardRejected):
    """A sales quote was accepted (or sent) at or after the moment it lapsed.

    ``expires_at`` is when it lapsed; the other attributes are those of
    `GuardRejected`.
    """

    expires_at: datetime


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class SalesQuoteDrafted(DomainEvent):
    """A sales quote was drafted for a business buyer and priced."""

    buyer_id: str
    company: str
    total: Money
    expires_at: datetime
    terms: str


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class SalesQuoteRevised(DomainEvent):
    """The quote was changed and priced again; it is a draft until sent again."""

    revision: int
    total: Money
    expires_at: datetime


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class SalesQuoteSent(DomainEvent):
    """Revision ``revision`` of the quote was sent to the buyer; its prices are frozen."""

    revision: int
    total: Money


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class SalesQuoteAccepted(DomainEvent):
    """The buyer accepted the quote it was sent, under its purchase order if it gave one."""

    revision: int
    total: Money
    purchase_order: str | None


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class SalesQuoteRejected(DomainEvent):
    """The buyer turned the quote down; ``reason`` says why."""

    reason: str


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class SalesQuoteExpired(DomainEvent):
    """The quote lapsed unanswered at ``expires_at``."""

    expires_at: datetime


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class SalesQuoteConverted(DomainEvent):
    """The accepted quote became order ``order_id``."""

    order_id: str
    total: Money
    purchase_order: str | None


def _before_expiry(quote: SalesQuote, _: Mapping[str, Any], at: datetime) -> bool | str:
    if at is not None and at < quote.expires_at:
        return True
    when = "no time given" if at is None else f"it is {at.isoformat()}"
    return f"it lapsed at {quote.expires_at.isoformat()}, {when}"


def _lapsed(quote: SalesQuote, _: Mapping[str, Any], at: datetime) -> bool | str:
    if at is not None and at >= quote.expires_at:
        return True
    when = "no time given" if at is None else f"it is only {at.isoformat()}"
    return f"it is valid until {quote.expires_at.isoformat()}, {when}"


def _has_reason(_: SalesQuote, data: Mapping[str, Any], _at: datetime) -> bool:
    reason = data.get("reason")
    return isinstance(reason, str) and bool(reason.strip())


def _has_order(_: SalesQuote, data: Mapping[str, Any], _at: datetime) -> bool:
    order_id = data.get("order_id")
    return isinstance(order_id, str) and bool(order_id.strip())


_VALID = Guard("not_expired", _before_expiry, "the quote has not lapsed")
_LAPSED = Guard("lapsed", _lapsed, "the quote's validity has ended")
_REASONED = Guard("reason_given", _has_reason, "a reason is given")
_ORDERED = Guard("order_given", _has_order, "the order's id is given")

SALES_QUOTE_MACHINE: StateMachine[SalesQuote] = register_machine(
    StateMachine(
        MachineSpec(
            name="sales_quote",
            description="A B2B quote: drafted, sent, then accepted, rejected or expired; "
            "an accepted quote becomes an order.",
            states=("draft", "sent", "accepted", "rejected", "expired", "converted"),
            initial="draft",
            final=("rejected", "expired", "converted"),
            created=SalesQuoteDrafted,
            transitions=(
                Transition("revise", ("draft", "sent"), "draft", SalesQuoteRevised),
                Transition("send", "draft", "sent", SalesQuoteSent, (_VALID,)),
                Transition("accept", "sent", "accepted", SalesQuoteAccepted, (_VALID,)),
                Transition("reject", "sent", "rejected", SalesQuoteRejected, (_REASONED,)),
                Transition("expire", ("draft", "sent"), "expired", SalesQuoteExpired, (_LAPSED,)),
                Transition("convert", "accepted", "converted", SalesQuoteConverted, (_ORDERED,)),
            ),
        )
    )
)


def _aware(value: object, what: str) -> datetime:
    return require_aware(value, what)


def _check_pricing(value: object) -> QuotePricing:
    if not isinstance(value, QuotePricing):
        raise InvalidInput(f"pricing must be QuotePricing, not {value!r}")
    return value


def _check_terms(value: object) -> PaymentTerms:
    if not isinstance(value, PaymentTerms):
        raise InvalidInput(
            f"terms must be PaymentTerms such as PaymentTerms.net(30), not {value!r}"
        )
    return value


@attrs.define(kw_only=True, eq=False)
class SalesQuote(Aggregate):
    """A quote for a business buyer, with its own machine.

    ``priced`` is the `Quote` from `price_cart` at the buyer's contract
    prices, made when drafted or revised and frozen once sent; ``revision``
    counts the pricings (1 when drafted). ``expires_at`` is the moment the
    quote lapses: accepting at or after it raises `QuoteExpired`.
    ``purchase_order`` is the buyer's purchase-order reference, for the
    order and its invoice; ``terms`` are the payment terms offered.
    """

    machine: ClassVar[StateMachine[Any]] = SALES_QUOTE_MACHINE

    buyer: Buyer
    items: tuple[tuple[str, int], ...]
    priced: Quote
    expires_at: datetime
    terms: PaymentTerms
    purchase_order: str | None = None
    revision: int = 1
    sent_revision: int | None = None
    order_id: str | None = None
    rejection: str | None = None

    @classmethod
    def draft(
        cls,
        *,
        id: str,
        buyer: Buyer,
        items: Mapping[str, int],
        pricing: QuotePricing,
        expires_at: datetime,
        terms: PaymentTerms,
        at: datetime,
        purchase_order: str | None = None,
    ) -> SalesQuote:
        """Draft a quote of ``items`` (sku → quantity) for ``buyer``, priced now (``at``)."""
        require_aware(at, "at")
        lapse = _aware(expires_at, "expires_at")
        if lapse <= at:
            raise InvalidInput(
                f"a quote must expire after it is drafted: expires_at {lapse.isoformat()} "
                f"is not after {at.isoformat()}"
            )
        offered = _check_terms(terms)
        reference = _purchase_order(purchase_order)
        wanted = _items(items)
        if not isinstance(buyer, Buyer):
            raise InvalidInput(f"a sales quote is for a Buyer, not {buyer!r}")
        priced = _check_pricing(pricing).price(dict(wanted), buyer, at)
        quote = cls(
            id=id,
            buyer=buyer,
            items=wanted,
            priced=priced,
            expires_at=lapse,
            terms=offered,
            purchase_order=reference,
        )
        quote._start(
            at=at,
            buyer_id=buyer.id,
            company=buyer.company,
            total=priced.total,
            expires_at=lapse,
            terms=offered.label,
        )
        return quote

    @property
    def total(self) -> Money:
        """What the quoted goods and shipping cost, tax included as the quote shows it."""
        return self.priced.total

    def revise(
        self,
        *,
        pricing: QuotePricing,
        at: datetime,
        items: Mapping[str, int] | None = None,
        expires_at: datetime | None = None,
        terms: PaymentTerms | None = None,
    ) -> DomainEvent:
        """Change the quote and price it again now; a sent quote goes back to draft.

        Unchanged parts are kept; the quote is priced at ``at`` either way.
        """
        require_aware(at, "at")
        wanted = self.items if items is None else _items(items)
        lapse = self.expires_at if expires_at is None else _aware(expires_at, "expires_at")
        offered = self.terms if terms is None else _check_terms(terms)
        if lapse <= at:
            raise InvalidInput(
                f"a revised quote must expire after it is revised: expires_at "
                f"{lapse.isoformat()} is not after {at.isoformat()}"
            )
        priced = _check_pricing(pricing).price(dict(wanted), self.buyer, at)
        event = self._fire(
            "revise", at=at, revision=self.revision + 1, total=priced.total, expires_at=lapse
        )
        self.items, self.priced, self.expires_at, self.terms = wanted, priced, lapse, offered
        self.revision += 1
        return event

    def send(self, *, at: datetime) -> DomainEvent:
        """Send the draft to the buyer: its prices are frozen from now on."""
        require_aware(at, "at")
        event = self._fire_in_time("send", at, revision=self.revision, total=self.total)
        self.sent_revision = self.revision
        return event

    def accept(self, *, at: datetime, purchase_order: str | None = None) -> DomainEvent:
        """The buyer accepts the quote it was sent, before it lapses.

        ``purchase_order`` is the buyer's purchase-order reference, when it
        comes with the acceptance (it replaces one given when drafted).
        """
        require_aware(at, "at")
        reference = _purchase_order(purchase_order)
        if reference is None:
            reference = self.purchase_order
        event = self._fire_in_time(
            "accept", at, revision=self.revision, total=self.total, purchase_order=reference
        )
        self.purchase_order = reference
        return event

    def reject(self, *, reason: str, at: datetime) -> DomainEvent:
        """The buyer turns the quote down, for ``reason``."""
        require_aware(at, "at")
        event = self._fire("reject", at=at, reason=reason)
        self.rejection = reason
        return event

    def expire(self, *, at: datetime) -> DomainEvent:
        """Record that the quote lapsed unanswered (only at or after ``expires_at``)."""
        require_aware(at, "at")
        return self._fire("expire", at=at, expires_at=self.expires_at)

    def convert(self, *, order_id: str, at: datetime) -> Quote:
        """Record that the accepted quote became order ``order_id``; give the frozen `Quote`.

        Place the order with it: ``Order.place(id=order_id, quote=..., at=at)``.
        Its prices are those the buyer was sent and accepted.
        """
        require_aware(at, "at")
        self._fire(
            "convert",
            at=at,
            order_id=order_id,
            total=self.total,
            purchase_order=self.purchase_order,
        )
        self.order_id = order_id
        return self.priced

    def _fire_in_time(self, event: str, at: datetime, **data: Any) -> DomainEvent:
        """Fire ``event``; a refusal because the quote lapsed becomes `QuoteExpired`."""
        try:
            return self._fire(event, at=at, **data)
        except GuardRejected as refused:
            if isinstance(at, datetime) and at.tzinfo is not None and at >= self.expires_at:
                expired = QuoteExpired(
                    machine=refused.machine,
                    aggregate_id=refused.aggregate_id,
                    state=refused.state,
                    event=refused.event,
                    allowed=refused.allowed,
                    reason=f"the quote expired at {self.expires_at.isoformat()}, "
                    f"it is {at.isoformat()}",
                )
                expired.expires_at = self.expires_at
                raise expired from None
            raise
