"""Orders: a priced quote frozen into a commitment, and its life until it is completed.

`Order.place` freezes a `fourflows.commerce.pricing.Quote`: every line keeps what
each unit costs, tax included (``unit_totals``), so a cancellation, and later a
return, gives back exactly what that unit paid. The order keeps the chosen
shipping option and its delivery promise, the addresses, the channel, the
customer, the coupon codes that applied and the price mode.

**The machine** ``order``:

```text
event           from                                     to                   records
(placed)        -                                        pending_payment      OrderPlaced
pay             pending_payment                          awaiting_fulfilment  OrderPaid
pay             on_hold [held before payment]            on_hold              OrderPaid
approve         pending_payment [cash on delivery or     awaiting_fulfilment  OrderApproved
                on account]
hold            pending_payment, awaiting_fulfilment,    on_hold              OrderHeld
                partially_shipped
release         on_hold                                  the state it left    OrderReleased
allocate        awaiting_fulfilment, partially_shipped   (same state)         LineAllocated
ship            awaiting_fulfilment, partially_shipped   partially_shipped    ItemsShipped
                                                         shipped (all units)  OrderShipped
deliver         partially_shipped, on_hold [held while   (same state)         ItemsDelivered
                partially shipped], shipped              delivered (all)      OrderDelivered
complete        delivered [no change pending]            completed            OrderCompleted
cancel          pending_payment, awaiting_fulfilment,    canceled             OrderCanceled
                on_hold [nothing shipped]
propose_change  pending_payment, awaiting_fulfilment,    (same state)         OrderChangeProposed
                partially_shipped [no change pending]
confirm_change  the same three [this change pending]     (same state), or     OrderChanged
                                                         shipped / delivered
                                                         when it cancels the
                                                         last units to ship
decline_change  the same three, shipped, delivered,      (same state)         OrderChangeDeclined
                on_hold [this change pending]
```

``completed`` and ``canceled`` are final. Every command records exactly one
event. A command repeated with the same data (the same allocation, shipment
or change id, the same hold or cancel reason, a second payment notification)
changes nothing and returns ``None``; a repeated `Order.propose_change`
returns the pending preview, and a second `Order.release` raises
`InvalidTransition` since nothing is held any more.

**Statuses derived, never stored**:

* `Order.fulfilment_status` comes from the line counters (`LineCounts`).
* `Order.payment_status` comes from `PaymentFigures` that the application sums
  from the order's payments; the rules are written on `PaymentStatus`.

**Changes after placement**: an `OrderChange` (new quantities, a new shipping
address, a new shipping service) is previewed with its money effect
(`Order.preview_change`), proposed (`Order.propose_change`, one at a time),
then confirmed or declined. Before
payment the application re-prices the changed cart with ``price_cart`` and
passes the new quote: the order takes its lines, shipping and totals. After
payment the prices paid stand: a quantity can only go down, and the units
taken off are canceled at exactly what they paid (the last units of the line
first); a new quote is then used for its shipping only. Shipped units cannot
be changed (returns come later), and the shipping service cannot change once
anything has shipped. A change left pending when the last units ship can only
be declined, and an order is not completed while a change is pending.

An order is used by one thread at a time (the unit of work guarantees it).
"""

from __future__ import annotations

import enum
import functools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Context, Decimal, InvalidOperation, Overflow
from typing import Any, ClassVar

import attrs

from fourflows.aggregates import Aggregate
from fourflows.commerce.cart import Channel, Customer
from fourflows.commerce.pricing import Quote, QuoteLine
from fourflows.errors import CurrencyMismatch, InvalidInput, InvalidTransition
from fourflows.events import DomainEvent, Flow, domain_event, require_aware
from fourflows.geo import Address
from fourflows.logistics.promise import DeliveryWindow
from fourflows.logistics.shipping import ServiceKind
from fourflows.machines import Guard, MachineSpec, StateMachine, Transition, register_machine
from fourflows.money import Money, _currency, _exact, sum_money
from fourflows.tax import PriceMode

__all__ = [
    "ORDER_MACHINE",
    "ChangePreview",
    "FulfilmentStatus",
    "ItemsDelivered",
    "ItemsReturnedUndelivered",
    "ItemsShipped",
    "LineAllocated",
    "LineCounts",
    "LineItems",
    "LineKey",
    "LineQuantity",
    "LineSummary",
    "Order",
    "OrderApproved",
    "OrderCanceled",
    "OrderChange",
    "OrderChangeDeclined",
    "OrderChangeProposed",
    "OrderChanged",
    "OrderCompleted",
    "OrderDelivered",
    "OrderHeld",
    "OrderLine",
    "OrderPaid",
    "OrderPlaced",
    "OrderReleased",
    "OrderShipped",
    "OrderShipping",
    "OrderTotals",
    "PaymentFigures",
    "PaymentPlan",
    "PaymentStatus",
    "ShipmentMoved",
    "SkuQuantity",
]


# --- small checks ------------------------------------------------------------------------------


def _count(value: object, what: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInput(f"{what} must be a whole number of at least {minimum}, not {value!r}")
    return value


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must be a non-empty string, not {value!r}")
    return value


def _non_negative_money(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Money) or value.amount < 0:
        raise InvalidInput(f"{attribute.name} must be Money of 0 or more, not {value!r}")


def _money(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Money):
        raise InvalidInput(f"{attribute.name} must be Money, not {value!r}")


def _monies(value: Iterable[Money]) -> tuple[Money, ...]:
    return value if type(value) is tuple else tuple(value)


# --- value types -------------------------------------------------------------------------------


class PaymentPlan(enum.Enum):
    """How the customer pays, which decides how an order becomes ready to fulfil.

    ``PREPAID``: paid (or authorised) before anything ships: card, transfer,
    wallet, store credit, and paying at the counter in a store.
    ``CASH_ON_DELIVERY``: paid when the goods are handed over (貨到付款,
    取貨付款): the shop approves the order and fulfils it unpaid.
    ``ON_ACCOUNT``: invoiced, and paid later on the buyer's payment terms
    (net 30, 月結), usually by bank transfer: a business buyer's order, which
    the shop approves and fulfils unpaid, like cash on delivery.
    """

    PREPAID = "prepaid"
    CASH_ON_DELIVERY = "cash_on_delivery"
    ON_ACCOUNT = "on_account"

    @property
    def pays_later(self) -> bool:
        """Whether the order is approved for fulfilment before it is paid."""
        return self is not PaymentPlan.PREPAID


def _plan(value: object) -> PaymentPlan:
    if isinstance(value, PaymentPlan):
        return value
    try:
        return PaymentPlan(value)
    except ValueError:
        allowed = ", ".join(plan.value for plan in PaymentPlan)
        raise InvalidInput(f"unknown payment plan {value!r}; allowed: {allowed}") from None


def _purchase_order(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(
            f"a purchase-order reference must be non-empty text or None, not {value!r}"
        )
    return value.strip()


def _channel(value: object) -> Channel:
    try:
        return Channel(value)
    except ValueError:
        allowed = ", ".join(channel.value for channel in Channel)
        raise InvalidInput(f"unknown channel {value!r}; allowed: {allowed}") from None


class FulfilmentStatus(enum.Enum):
    """How far the goods have gone, read from the line counters.

    With ``open = ordered - canceled``, and the sums taken over every line,
    the first rule that holds gives the status:

    1. ``CANCELED``: no unit is open (every unit was canceled);
    2. ``DELIVERED``: delivered + written off equals open;
    3. ``PARTIALLY_DELIVERED``: every open unit shipped, some delivered;
    4. ``SHIPPED``: every open unit shipped, none delivered yet;
    5. ``PARTIALLY_SHIPPED``: some shipped (whether or not some arrived);
    6. ``ALLOCATED``: every open unit allocated, none shipped;
    7. ``PARTIALLY_ALLOCATED``: some allocated;
    8. ``UNFULFILLED``: nothing allocated.

    Written-off units (lost in transit and given up) count as settled.
    """

    UNFULFILLED = "unfulfilled"
    PARTIALLY_ALLOCATED = "partially_allocated"
    ALLOCATED = "allocated"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    PARTIALLY_DELIVERED = "partially_delivered"
    DELIVERED = "delivered"
    CANCELED = "canceled"


class PaymentStatus(enum.Enum):
    """Where the money of an order stands, read from `PaymentFigures`.

    With ``total`` what the order costs now (`Order.totals`, zero once every
    unit is canceled), ``returned = refunded + credit_issued`` and
    ``kept = captured - returned``, the first rule that holds gives the status:

    1. ``CREDIT_OWED``: kept > total: the shop holds more than the order now
       costs (after a change or a cancellation) and owes the difference;
    2. ``REFUNDED``: returned > 0 and kept = 0;
    3. ``PARTIALLY_REFUNDED``: returned > 0 and 0 < kept ≤ total;
    4. ``PAID``: captured = total > 0 (nothing returned);
    5. ``PARTIALLY_PAID``: 0 < captured < total, even when open
       authorisations cover the rest (split shipments, split tender);
    6. ``PAID``: nothing captured and the total is zero, unless the order is
       canceled (a free order needs no payment);
    7. ``AUTHORIZED``: nothing captured and open authorisations > 0 cover
       the total (a canceled order with an open authorisation lands here:
       it must be voided);
    8. ``UNPAID``: anything else (nothing taken, or holds that do not cover
       the total).
    """

    UNPAID = "unpaid"
    AUTHORIZED = "authorized"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    CREDIT_OWED = "credit_owed"


@attrs.frozen(kw_only=True)
class PaymentFigures:
    """The money of an order's payments, summed by the application, in the order's currency.

    ``authorized`` is held on open authorisations and not yet captured
    (voided or expired ones excluded); ``captured`` everything captured or
    collected; ``refunded`` what went back to the tenders; ``credit_issued``
    store credit given instead of a refund of this order's money (goodwill
    credit is not part of it). What was returned can never exceed what was
    captured.
    """

    authorized: Money = attrs.field(validator=_non_negative_money)
    captured: Money = attrs.field(validator=_non_negative_money)
    refunded: Money = attrs.field(validator=_non_negative_money)
    credit_issued: Money = attrs.field(validator=_non_negative_money)

    def __attrs_post_init__(self) -> None:
        currency = self.captured.currency
        for name, value in (
            ("authorized", self.authorized),
            ("refunded", self.refunded),
            ("credit_issued", self.credit_issued),
        ):
            if value.currency is not currency and value.currency != currency:
                raise CurrencyMismatch(self.captured.code, value.code, f"mix the {name} figure in")
        if self._returned() > self.captured.amount:
            raise InvalidInput(
                f"refunded {self.refunded} plus credit issued {self.credit_issued} is above "
                f"the {self.captured} captured; at most what was captured can go back"
            )

    @classmethod
    def of(
        cls,
        currency: str,
        *,
        authorized: str | int | Decimal = 0,
        captured: str | int | Decimal = 0,
        refunded: str | int | Decimal = 0,
        credit_issued: str | int | Decimal = 0,
    ) -> PaymentFigures:
        """Figures from plain amounts in one ``currency``; all default to zero."""
        return cls(
            authorized=Money(authorized, currency),
            captured=Money(captured, currency),
            refunded=Money(refunded, currency),
            credit_issued=Money(credit_issued, currency),
        )

    @property
    def currency(self) -> str:
        """The ISO 4217 code of the figures."""
        return self.captured.code

    # The figures share one currency (checked when built): their sums add plain decimals.

    @property
    def returned(self) -> Money:
        """Refunded plus credit issued: what went back to the customer."""
        return _exact(self._returned(), self.captured.currency)

    @property
    def kept(self) -> Money:
        """Captured less what went back: the money the shop holds."""
        return _exact(self._kept(), self.captured.currency)

    @property
    def secured(self) -> Money:
        """The money held plus open authorisations: what the shop can count on."""
        return _exact(_EXACT.add(self._kept(), self.authorized.amount), self.captured.currency)

    def _returned(self) -> Decimal:
        return _EXACT.add(self.refunded.amount, self.credit_issued.amount)

    def _kept(self) -> Decimal:
        return _EXACT.subtract(self.captured.amount, self._returned())


def _checked_counts(counts: LineCounts) -> None:
    order = ("ordered", "allocated", "shipped", "delivered", "return_requested", "returned")
    for name in (*order, "canceled", "written_off"):
        _count(getattr(counts, name), f"the {name} count")
    rules = (
        (counts.canceled <= counts.ordered, "canceled ≤ ordered"),
        (counts.allocated <= counts.ordered - counts.canceled, "allocated ≤ ordered − canceled"),
        (counts.shipped <= counts.allocated, "shipped ≤ allocated"),
        (
            counts.delivered + counts.written_off <= counts.shipped,
            "delivered + written off ≤ shipped",
        ),
        (counts.return_requested <= counts.delivered, "return requested ≤ delivered"),
        (counts.returned <= counts.return_requested, "returned ≤ return requested"),
    )
    broken = [rule for holds, rule in rules if not holds]
    if broken:
        raise InvalidInput(f"line counts {counts.describe()} break {'; '.join(broken)}")


@attrs.frozen(kw_only=True)
class LineCounts:
    """How many units of a line are where; the fulfilment status is read from these.

    Invariants, checked whenever counts are built: every count ≥ 0;
    canceled ≤ ordered; shipped ≤ allocated ≤ ordered − canceled;
    delivered + written_off ≤ shipped; returned ≤ return_requested ≤ delivered.
    ``written_off`` counts shipped units lost on the way and given up.
    """

    ordered: int
    allocated: int = 0
    shipped: int = 0
    delivered: int = 0
    return_requested: int = 0
    returned: int = 0
    canceled: int = 0
    written_off: int = 0

    def __attrs_post_init__(self) -> None:
        _checked_counts(self)

    @property
    def open(self) -> int:
        """Units still ordered: ordered − canceled."""
        return self.ordered - self.canceled

    @property
    def to_allocate(self) -> int:
        """Open units not allocated yet."""
        return self.open - self.allocated

    @property
    def to_ship(self) -> int:
        """Open units not shipped yet (allocated or not)."""
        return self.open - self.shipped

    @property
    def settled(self) -> int:
        """Units delivered or written off."""
        return self.delivered + self.written_off

    def describe(self) -> str:
        """The counts in one line, e.g. ``ordered 2, allocated 1, shipped 0, ...``."""
        return ", ".join(f"{a.name} {getattr(self, a.name)}" for a in attrs.fields(LineCounts))


@functools.lru_cache(maxsize=256, typed=True)  # immutable values: share one per quantity
def _fresh_counts(ordered: object) -> LineCounts:
    """``LineCounts(ordered=ordered)``, checking the one count that can be wrong: nothing moved."""
    return _moved(_NOTHING_MOVED, ordered=_count(ordered, "the ordered count"))


def _moved(counts: LineCounts, **moved: int) -> LineCounts:
    """``counts`` with the ``moved`` counts replaced, built without checking them again.

    Only for a command that has itself checked that the new counts keep the
    invariants of `LineCounts` (an allocation within the open units, a
    shipment within the allocated ones, a delivery within the shipped ones):
    `attrs.evolve` would check all eight counts and six rules on every move.
    """
    made: LineCounts = _new(LineCounts)
    put = _COUNT_SETTERS
    ordered, allocated, shipped, delivered, return_requested, returned, canceled, written_off = (
        _COUNT_SLOTS
    )
    ordered(made, counts.ordered)
    allocated(made, counts.allocated)
    shipped(made, counts.shipped)
    delivered(made, counts.delivered)
    return_requested(made, counts.return_requested)
    returned(made, counts.returned)
    canceled(made, counts.canceled)
    written_off(made, counts.written_off)
    for name, value in moved.items():
        if name not in put:
            raise AttributeError(f"LineCounts has no count {name!r}")
        put[name](made, value)
    return made


_NOTHING_MOVED = LineCounts(ordered=0)


_new = object.__new__


def _slot_setter(cls: type, name: str) -> Callable[[Any, Any], None]:
    """The ``__set__`` of the slot ``name`` of the frozen, slotted ``cls`` (as attrs fills it)."""
    setter: Callable[[Any, Any], None] = vars(cls)[name].__set__
    return setter


def _slot_setters(cls: type) -> dict[str, Callable[[Any, Any], None]]:
    """Each field's slot setter: a copy made with them skips attrs' checks (and its setattr)."""
    return {field.name: _slot_setter(cls, field.name) for field in attrs.fields(cls)}


def _in_order(
    setters: Mapping[str, Callable[[Any, Any], None]], *names: str
) -> tuple[Callable[[Any, Any], None], ...]:
    """The setters of ``names``, which must be every field: a copy then misses none."""
    if set(names) != set(setters) or len(names) != len(setters):
        raise TypeError(f"the copy names {names}, the fields are {tuple(setters)}")
    return tuple(setters[name] for name in names)


_COUNT_SETTERS = _slot_setters(LineCounts)
_COUNT_SLOTS = _in_order(
    _COUNT_SETTERS,
    "ordered",
    "allocated",
    "shipped",
    "delivered",
    "return_requested",
    "returned",
    "canceled",
    "written_off",
)


@attrs.frozen(kw_only=True)
class OrderLine:
    """A line as sold: the prices frozen from the quote, and its quantity counters.

    ``unit_amounts`` split the line's amount (after discounts, in the price
    mode) over the ordered units, ``unit_taxes`` split its tax the same way,
    and ``unit_totals`` say what each unit costs with tax included (equal to
    ``unit_amounts`` when prices include tax). ``net``, ``tax`` and ``gross``
    are for all the ordered units. Canceled units are the last ones of the
    line: `open_total` is the sum of the first ``counts.open`` unit totals.
    """

    index: int
    sku: str
    name: str
    list_price: Money
    discount: Money
    unit_amounts: tuple[Money, ...] = attrs.field(converter=_monies)
    unit_taxes: tuple[Money, ...] = attrs.field(converter=_monies)
    unit_totals: tuple[Money, ...] = attrs.field(converter=_monies)
    tax_category: str
    tax_rate: Decimal
    net: Money
    tax: Money
    gross: Money
    counts: LineCounts

    def __attrs_post_init__(self) -> None:
        ordered = self.counts.ordered
        sizes = {len(self.unit_amounts), len(self.unit_taxes), len(self.unit_totals)}
        if ordered < 1 or sizes != {ordered}:
            raise InvalidInput(
                f"line {self.index} {self.sku!r}: {ordered} units ordered need one amount, tax "
                f"and total per unit, not {sorted(sizes)}"
            )
        gross = self.gross
        if not isinstance(gross, Money):
            raise InvalidInput(
                f"line {self.index} {self.sku!r}: gross must be Money, not {gross!r}"
            )
        currency = gross.currency
        for value in (
            self.list_price,
            self.discount,
            self.net,
            self.tax,
            *self.unit_amounts,
            *self.unit_taxes,
            *self.unit_totals,
        ):
            if not isinstance(value, Money):
                raise InvalidInput(
                    f"line {self.index} {self.sku!r}: amounts must be Money, not {value!r}"
                )
            if value.currency is not currency and value.currency != currency:
                raise CurrencyMismatch(gross.code, value.code, f"mix into {self.label()}")
        summed = _EXACT.add(_NOTHING, _NOTHING)
        for unit in self.unit_totals:
            summed = _EXACT.add(summed, unit.amount)
        if summed != gross.amount:
            raise InvalidInput(
                f"line {self.index} {self.sku!r}: the unit totals add up to "
                f"{sum_money(self.unit_totals)}, not the line's gross {gross}"
            )

    @classmethod
    def from_quote(cls, line: QuoteLine, mode: PriceMode) -> OrderLine:
        """Freeze a quoted line; ``mode`` says whether its amounts include tax."""
        totals = (
            line.unit_amounts
            if mode is PriceMode.INCLUSIVE
            else tuple(a + t for a, t in zip(line.unit_amounts, line.unit_taxes, strict=True))
        )
        counts = _fresh_counts(line.quantity)
        if cls is not OrderLine:
            return cls(
                index=line.index,
                sku=line.sku,
                name=line.name,
                list_price=line.list_price,
                discount=line.discount,
                unit_amounts=line.unit_amounts,
                unit_taxes=line.unit_taxes,
                unit_totals=totals,
                tax_category=line.tax_category,
                tax_rate=line.tax_rate,
                net=line.net,
                tax=line.tax,
                gross=line.gross,
                counts=counts,
            )
        # What attrs' __init__ does (the three converters, then every check of the line),
        # filling the slots directly.
        made: OrderLine = _new(OrderLine)
        put = _LINE_SETTERS
        put["index"](made, line.index)
        put["sku"](made, line.sku)
        put["name"](made, line.name)
        put["list_price"](made, line.list_price)
        put["discount"](made, line.discount)
        put["unit_amounts"](made, _monies(line.unit_amounts))
        put["unit_taxes"](made, _monies(line.unit_taxes))
        put["unit_totals"](made, _monies(totals))
        put["tax_category"](made, line.tax_category)
        put["tax_rate"](made, line.tax_rate)
        put["net"](made, line.net)
        put["tax"](made, line.tax)
        put["gross"](made, line.gross)
        put["counts"](made, counts)
        made.__attrs_post_init__()
        return made

    @property
    def quantity(self) -> int:
        """The units ordered (canceled ones included)."""
        return self.counts.ordered

    @property
    def subtotal(self) -> Money:
        """The ordered units at the list price."""
        return self.list_price * self.counts.ordered

    @property
    def amount(self) -> Money:
        """What the ordered units cost after discounts, in the price mode."""
        return sum_money(self.unit_amounts)

    @property
    def open_amount(self) -> Money:
        """What the open units cost after discounts, in the price mode."""
        return sum_money(self.unit_amounts[: self.counts.open], currency=self.gross.code)

    @property
    def open_tax(self) -> Money:
        """The tax of the open units."""
        return sum_money(self.unit_taxes[: self.counts.open], currency=self.gross.code)

    @property
    def open_total(self) -> Money:
        """What the open units cost, tax included."""
        return sum_money(self.unit_totals[: self.counts.open], currency=self.gross.code)

    def label(self) -> str:
        """``line 0 'TEE-M'``: how messages name the line."""
        return f"line {self.index} {self.sku!r}"


_LINE_SETTERS = _slot_setters(OrderLine)
_LINE_SLOTS = _in_order(
    _LINE_SETTERS,
    "index",
    "sku",
    "name",
    "list_price",
    "discount",
    "unit_amounts",
    "unit_taxes",
    "unit_totals",
    "tax_category",
    "tax_rate",
    "net",
    "tax",
    "gross",
    "counts",
)


@attrs.frozen(kw_only=True)
class OrderShipping:
    """The chosen shipping option: service, fee with its tax, COD, and the promised window."""

    service_id: str
    name: str
    kind: ServiceKind
    fee: Money
    tax: Money
    gross: Money
    cod: bool = False
    promise: DeliveryWindow | None = None

    @classmethod
    def from_quote(cls, quote: Quote) -> OrderShipping | None:
        """The quote's chosen option, or ``None`` when nothing ships."""
        if quote.shipping is None:
            return None
        option = quote.shipping.option
        taxed = quote.tax.shipping
        if taxed is not None:
            charged = taxed.gross if quote.mode is PriceMode.INCLUSIVE else taxed.net
            if charged != option.fee:
                raise InvalidInput(
                    f"the quote's shipping fee {option.fee} disagrees with the {charged} its "
                    "tax was computed on; price the cart again"
                )
        return cls(
            service_id=option.service_id,
            name=option.name,
            kind=option.kind,
            fee=option.fee,
            tax=Money(0, quote.currency) if taxed is None else taxed.tax,
            gross=option.fee if taxed is None else taxed.gross,
            cod=option.cod,
            promise=quote.shipping.promise,
        )

    @property
    def earliest(self) -> date | None:
        """The earliest delivery date promised, if a promise was made."""
        return None if self.promise is None else self.promise.earliest

    @property
    def latest(self) -> date | None:
        """The latest delivery date promised, if a promise was made."""
        return None if self.promise is None else self.promise.latest


@attrs.frozen(kw_only=True)
class OrderTotals:
    """What the open units and the shipping cost now.

    ``goods = subtotal - discount`` in the price mode; ``total`` is what the
    customer pays, tax included (``goods + shipping`` when prices include
    tax, ``goods + shipping + tax`` when they do not). Shipping counts while
    at least one unit is open.
    """

    subtotal: Money
    discount: Money
    goods: Money
    shipping: Money
    tax: Money
    total: Money


_EXACT = Context(prec=60, traps=[InvalidOperation, Overflow])
"""Sums of amounts never depend on the caller's `decimal.getcontext()`."""
_NOTHING = Decimal(0)


def _totals(
    lines: Sequence[OrderLine], shipping: OrderShipping | None, currency: str
) -> OrderTotals:
    # One pass over the open units of every line, adding plain decimals (a line's own
    # checks tie all its amounts to one currency, checked here against the order's).
    # The same as adding up each line's `open_amount`, `open_tax` and `open_total`.
    add, multiply = _EXACT.add, _EXACT.multiply
    expected = _currency(currency)
    zero = _exact(_NOTHING, expected)
    subtotal = goods = tax = total = _NOTHING
    some_open = False
    for line in lines:
        found = line.gross.currency
        if found is not expected and found != expected:
            raise CurrencyMismatch(currency, line.gross.code, "add")
        open_ = line.counts.open
        if not open_:
            continue
        some_open = True
        subtotal = add(subtotal, multiply(line.list_price.amount, open_))
        for value in line.unit_amounts[:open_]:
            goods = add(goods, value.amount)
        for value in line.unit_taxes[:open_]:
            tax = add(tax, value.amount)
        for value in line.unit_totals[:open_]:
            total = add(total, value.amount)
    fee = zero
    if shipping is not None and some_open:
        for value in (shipping.fee, shipping.tax, shipping.gross):
            if value.currency is not expected and value.currency != expected:
                raise CurrencyMismatch(currency, value.code, "add the shipping")
        fee = shipping.fee
        tax = add(tax, shipping.tax.amount)
        total = add(total, shipping.gross.amount)
    return OrderTotals(
        subtotal=_exact(subtotal, expected),
        discount=_exact(_EXACT.subtract(subtotal, goods), expected),
        goods=_exact(goods, expected),
        shipping=fee,
        tax=_exact(tax, expected),
        total=_exact(total, expected),
    )


@attrs.frozen(order=True)
class LineQuantity:
    """``quantity`` units of order line ``line`` (whose sku is ``sku``)."""

    line: int
    sku: str
    quantity: int


@attrs.frozen(order=True)
class SkuQuantity:
    """``quantity`` units of ``sku``: stock to release or to reserve."""

    sku: str
    quantity: int


@attrs.frozen(kw_only=True)
class LineSummary:
    """A line as an event reports it: sku, name, units and what they cost with tax."""

    line: int
    sku: str
    name: str
    quantity: int
    total: Money


LineKey = str | int
"""A line named by its sku (when only one line holds it) or by its index."""

LineItems = Mapping[str, int] | Mapping[int, int] | Mapping[str | int, int]
"""Units per line: ``{"TEE-M": 2}``, ``{0: 2}`` or both kinds of key."""


def _change_quantities(value: object) -> tuple[tuple[LineKey, int], ...]:
    if isinstance(value, Mapping):
        pairs: list[object] = list(value.items())
    elif isinstance(value, Iterable) and not isinstance(value, str):
        pairs = list(value)
    else:
        raise InvalidInput(f"quantities map a line to its new quantity, not {value!r}")
    seen: set[LineKey] = set()
    result: list[tuple[LineKey, int]] = []
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise InvalidInput(f"quantities map a line to its new quantity, not {pair!r}")
        key, quantity = pair
        if isinstance(key, bool) or not isinstance(key, str | int):
            raise InvalidInput(f"name a line by its sku or index, not {key!r}")
        if key in seen:
            raise InvalidInput(f"line {key!r} is given twice in one change")
        seen.add(key)
        result.append((key, _count(quantity, f"the new quantity of line {key!r}")))
    return tuple(result)


def _optional_address(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, Address):
        raise InvalidInput(f"{attribute.name} must be an Address or None, not {value!r}")


def _optional_text(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _text(value, attribute.name)


def _change_id(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _text(value, "a change id")


@attrs.frozen(kw_only=True)
class OrderChange:
    """A change asked for after placement; ``id`` makes repeats harmless.

    ``quantities`` maps a line (sku or index) to its new open quantity (0
    takes the line off); ``shipping_address`` and ``shipping_service`` ask
    for a new address or a new shipping service. Returns and exchanges will
    join later.
    """

    id: str = attrs.field(validator=_change_id)
    quantities: tuple[tuple[LineKey, int], ...] = attrs.field(
        default=(), converter=_change_quantities
    )
    shipping_address: Address | None = attrs.field(default=None, validator=_optional_address)
    shipping_service: str | None = attrs.field(default=None, validator=_optional_text)
    reason: str = ""

    def __attrs_post_init__(self) -> None:
        if not self.quantities and self.shipping_address is None and self.shipping_service is None:
            raise InvalidInput(
                f"change {self.id!r} asks for nothing; give quantities, a shipping address "
                "or a shipping service"
            )


@attrs.frozen(kw_only=True)
class ChangePreview:
    """An `OrderChange` worked out: the order as it would be, and the money it moves.

    ``repriced`` says the lines came from the new quote (a change before
    payment); otherwise the prices paid stand. ``difference`` is the new
    total less the present one. ``to_collect`` is what the payments do not
    cover yet (new total − kept − open authorisations), ``to_refund`` what
    the shop would hold beyond the new total (kept − new total), both never
    below zero. ``units_to_release`` and ``units_to_reserve`` are the stock
    moves, per sku, of units not shipped yet.
    """

    change: OrderChange
    quote: Quote | None
    repriced: bool
    lines: tuple[OrderLine, ...]
    shipping: OrderShipping | None
    shipping_address: Address | None
    previous: OrderTotals
    totals: OrderTotals
    difference: Money
    to_collect: Money
    to_refund: Money
    units_to_release: tuple[SkuQuantity, ...]
    units_to_reserve: tuple[SkuQuantity, ...]

    def open_quantities(self) -> tuple[LineQuantity, ...]:
        """Each line after the change with its open quantity."""
        return tuple(LineQuantity(line.index, line.sku, line.counts.open) for line in self.lines)


# --- events ------------------------------------------------------------------------------------


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class OrderPlaced(DomainEvent):
    """An order was placed from a priced quote and awaits payment or approval.

    ``purchase_order`` is the business buyer's purchase-order reference, if any.
    """

    customer_id: str | None
    channel: str
    currency: str
    payment_plan: str
    lines: tuple[LineSummary, ...]
    shipping_service: str | None
    subtotal: Money
    discount: Money
    shipping_fee: Money
    tax: Money
    total: Money
    coupon_codes: tuple[str, ...]
    purchase_order: str | None = None


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class OrderPaid(DomainEvent):
    """The order's payments cover its total (captured or authorised); it can be fulfilled."""

    payment_status: str
    secured: Money
    captured: Money
    authorized: Money


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class OrderApproved(DomainEvent):
    """A cash-on-delivery or on-account order was approved for fulfilment before payment."""

    note: str


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class OrderHeld(DomainEvent):
    """The order was put on hold for review; ``held_from`` is the state it left."""

    reason: str
    held_from: str


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class OrderReleased(DomainEvent):
    """The hold was lifted; the order went back to ``returned_to``."""

    returned_to: str


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class LineAllocated(DomainEvent):
    """Units of a line were allocated to stock; ``allocated`` is the line's new count."""

    allocation_id: str
    line: int
    sku: str
    quantity: int
    allocated: int


@attrs.frozen(kw_only=True)
class ShipmentMoved(DomainEvent):
    """The base of the events of a shipment of the order: its id and the units it carries."""

    shipment_id: str
    items: tuple[LineQuantity, ...]


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class ItemsShipped(ShipmentMoved):
    """A shipment left with part of the order; more units remain to ship."""


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class OrderShipped(ShipmentMoved):
    """A shipment left with the last units: every open unit has shipped."""


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class ItemsReturnedUndelivered(ShipmentMoved):
    """A shipment came back undelivered (refused, not collected): its units are off the order.

    ``remaining`` is the state the order lands in: ``canceled`` when no unit
    is left, else where its other units stand.
    """

    reason: str
    remaining: str


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class ItemsDelivered(ShipmentMoved):
    """A shipment was delivered; other units are still on the way or not shipped."""


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class OrderDelivered(ShipmentMoved):
    """The last shipment was delivered: every open unit has arrived."""


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class OrderCompleted(DomainEvent):
    """The order is closed: delivered, and the shop considers it done."""


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class OrderCanceled(DomainEvent):
    """The order was canceled before anything shipped; money and stock must go back.

    ``to_void`` is held on open authorisations, ``to_refund`` was captured and
    not yet returned. ``release_stock`` says units were held for the order
    (``units_to_release``); what releasing means is the logistics policy's
    call. ``dropped_change`` names a pending change the cancellation ended.
    """

    reason: str
    to_void: Money
    to_refund: Money
    release_stock: bool
    units_to_release: tuple[SkuQuantity, ...]
    dropped_change: str | None


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class OrderChangeProposed(DomainEvent):
    """A change was previewed and awaits the customer's or the shop's answer."""

    change_id: str
    repriced: bool
    new_total: Money
    difference: Money
    to_collect: Money
    to_refund: Money


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class OrderChanged(DomainEvent):
    """A change was confirmed: lines, shipping and totals replaced.

    ``lines`` gives every line after the change with its open quantity.
    """

    change_id: str
    repriced: bool
    lines: tuple[LineQuantity, ...]
    shipping_service: str | None
    shipping_address: Address | None
    previous_total: Money
    new_total: Money
    difference: Money
    units_to_release: tuple[SkuQuantity, ...]
    units_to_reserve: tuple[SkuQuantity, ...]


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class OrderChangeDeclined(DomainEvent):
    """A proposed change was declined; the order stays as it was."""

    change_id: str
    reason: str


# --- the machine -------------------------------------------------------------------------------

_PAID_STATES = ("awaiting_fulfilment", "partially_shipped", "shipped", "delivered", "completed")
_CHANGEABLE = ("pending_payment", "awaiting_fulfilment", "partially_shipped")


def _reason_given(_: Order, data: Mapping[str, Any], _at: datetime) -> bool:
    reason = data.get("reason")
    return isinstance(reason, str) and bool(reason.strip())


def _covers_total(order: Order, data: Mapping[str, Any], _at: datetime) -> bool | str:
    secured = data.get("secured")
    total = order.totals.total
    if not isinstance(secured, Money) or (
        secured.currency is not total.currency and secured.currency != total.currency
    ):
        return f"no money secured in {order.currency}, but {secured!r}"
    if secured.amount >= total.amount:
        return True
    return f"{secured} secured, the total is {total}"


def _held_from(state: str) -> Callable[[Order, Mapping[str, Any], datetime], bool]:
    def check(order: Order, _: Mapping[str, Any], _at: datetime) -> bool:
        return order.held_from == state

    return check


def _pays_later(order: Order, _: Mapping[str, Any], _at: datetime) -> bool:
    return order.payment_plan.pays_later


def _added(data: Mapping[str, Any]) -> dict[int, int]:
    added: dict[int, int] = {}
    for item in data.get("items", ()):
        added[item.line] = added.get(item.line, 0) + item.quantity
    return added


def _ships_every_unit(order: Order, data: Mapping[str, Any], _at: datetime) -> bool:
    added = _added(data)
    for line in order.lines:
        counts = line.counts
        if counts.shipped + added.get(line.index, 0) < counts.ordered - counts.canceled:
            return False
    return True


def _leaves_units_to_ship(order: Order, data: Mapping[str, Any], _at: datetime) -> bool:
    return not _ships_every_unit(order, data, _at)


def _delivers_every_unit(order: Order, data: Mapping[str, Any], _at: datetime) -> bool:
    added = _added(data)
    for line in order.lines:
        counts = line.counts
        settled = counts.delivered + counts.written_off + added.get(line.index, 0)
        if settled < counts.ordered - counts.canceled:
            return False
    return True


def _leaves_units_to_deliver(order: Order, data: Mapping[str, Any], _at: datetime) -> bool:
    return not _delivers_every_unit(order, data, _at)


def _nothing_shipped(order: Order, _: Mapping[str, Any], _at: datetime) -> bool:
    return all(line.counts.shipped == 0 for line in order.lines)


def _no_change_pending(order: Order, _: Mapping[str, Any], _at: datetime) -> bool:
    return order.pending_change is None


def _change_pending(order: Order, data: Mapping[str, Any], _at: datetime) -> bool:
    pending = order.pending_change
    return pending is not None and pending.change.id == data.get("change_id")


def _after_change(order: Order, data: Mapping[str, Any]) -> list[tuple[int, LineCounts]]:
    return [
        (item.quantity, order.lines[item.line].counts)
        for item in data.get("lines", ())
        if 0 <= item.line < len(order.lines)
    ]


def _change_leaves_units_to_ship(order: Order, data: Mapping[str, Any], _at: datetime) -> bool:
    return any(open_ > counts.shipped for open_, counts in _after_change(order, data))


def _change_leaves_units_to_deliver(order: Order, data: Mapping[str, Any], _at: datetime) -> bool:
    after = _after_change(order, data)
    return all(open_ <= counts.shipped for open_, counts in after) and any(
        open_ > counts.settled for open_, counts in after
    )


def _change_leaves_all_delivered(order: Order, data: Mapping[str, Any], _at: datetime) -> bool:
    return all(open_ <= counts.settled for open_, counts in _after_change(order, data))


def _state_after_return(order: Order, data: Mapping[str, Any]) -> str:
    """Where the order stands once the units of ``data["items"]`` came back undelivered."""
    back = _added(data)
    open_units = shipped = settled = 0
    for line in order.lines:
        counts = line.counts
        taken = back.get(line.index, 0)
        open_units += counts.open - taken
        shipped += counts.shipped - taken
        settled += counts.settled
    if open_units == 0:
        return "canceled"
    if settled == open_units:
        return "delivered"
    if shipped == open_units:
        return "shipped"
    return "partially_shipped" if shipped else "awaiting_fulfilment"


def _lands_after_return(state: str) -> Guard[Order]:
    def check(order: Order, data: Mapping[str, Any], _at: datetime) -> bool | str:
        landed = _state_after_return(order, data)
        return landed == state or f"the order then stands {landed}"

    return Guard(f"returns_to_{state}", check, f"the order then stands {state}")


_REASON = Guard("reason_given", _reason_given, "a reason is given")
_COVERED = Guard(
    "payment_covers_total",
    _covers_total,
    "money captured and authorised, less what went back, covers the order total",
)
_HELD_UNPAID = Guard(
    "held_before_payment", _held_from("pending_payment"), "it was held awaiting payment"
)
_HELD_PAID = Guard(
    "held_before_shipping", _held_from("awaiting_fulfilment"), "it was held awaiting fulfilment"
)
_HELD_SHIPPING = Guard(
    "held_while_partially_shipped",
    _held_from("partially_shipped"),
    "it was held while partially shipped",
)
_COD = Guard(
    "cash_on_delivery_or_on_account",
    _pays_later,
    "the order is paid cash on delivery or on account (after fulfilment)",
)
_ALL_SHIPPED = Guard("ships_every_unit", _ships_every_unit, "every open unit has then shipped")
_SOME_TO_SHIP = Guard(
    "leaves_units_to_ship", _leaves_units_to_ship, "some open units are still to ship"
)
_ALL_DELIVERED = Guard(
    "delivers_every_unit", _delivers_every_unit, "every open unit has then arrived"
)
_SOME_TO_DELIVER = Guard(
    "leaves_units_to_deliver", _leaves_units_to_deliver, "some open units are still to arrive"
)
_UNSHIPPED = Guard("nothing_shipped", _nothing_shipped, "no unit has shipped (returns come later)")
_NO_CHANGE = Guard("no_change_pending", _no_change_pending, "no other change is pending")
_PENDING = Guard("change_pending", _change_pending, "this change is the pending one")
_CHANGE_TO_SHIP = Guard(
    "change_leaves_units_to_ship",
    _change_leaves_units_to_ship,
    "after the change some open units are still to ship",
)
_CHANGE_TO_DELIVER = Guard(
    "change_leaves_units_to_deliver",
    _change_leaves_units_to_deliver,
    "after the change every open unit has shipped and some are still to arrive",
)
_CHANGE_DELIVERED = Guard(
    "change_leaves_all_delivered",
    _change_leaves_all_delivered,
    "after the change every open unit has arrived",
)


def _stay(
    event: str, states: Sequence[str], records: type[DomainEvent], *guards: Guard[Order]
) -> list[Transition[Order]]:
    return [Transition(event, state, state, records, guards) for state in states]


ORDER_MACHINE: StateMachine[Order] = register_machine(
    StateMachine(
        MachineSpec(
            name="order",
            description=(
                "An order from placement to completion: payment or COD approval, hold and "
                "release, allocation, shipments, deliveries, changes and cancellation."
            ),
            states=(
                "pending_payment",
                "awaiting_fulfilment",
                "partially_shipped",
                "shipped",
                "delivered",
                "completed",
                "canceled",
                "on_hold",
            ),
            initial="pending_payment",
            final=("completed", "canceled"),
            created=OrderPlaced,
            transitions=(
                Transition("pay", "pending_payment", "awaiting_fulfilment", OrderPaid, (_COVERED,)),
                Transition("pay", "on_hold", "on_hold", OrderPaid, (_HELD_UNPAID, _COVERED)),
                Transition(
                    "approve", "pending_payment", "awaiting_fulfilment", OrderApproved, (_COD,)
                ),
                Transition("hold", _CHANGEABLE, "on_hold", OrderHeld, (_REASON,)),
                Transition("release", "on_hold", "pending_payment", OrderReleased, (_HELD_UNPAID,)),
                Transition(
                    "release", "on_hold", "awaiting_fulfilment", OrderReleased, (_HELD_PAID,)
                ),
                Transition(
                    "release", "on_hold", "partially_shipped", OrderReleased, (_HELD_SHIPPING,)
                ),
                *_stay("allocate", ("awaiting_fulfilment", "partially_shipped"), LineAllocated),
                Transition(
                    "ship",
                    ("awaiting_fulfilment", "partially_shipped"),
                    "partially_shipped",
                    ItemsShipped,
                    (_SOME_TO_SHIP,),
                ),
                Transition(
                    "ship",
                    ("awaiting_fulfilment", "partially_shipped"),
                    "shipped",
                    OrderShipped,
                    (_ALL_SHIPPED,),
                ),
                *_stay("deliver", ("partially_shipped",), ItemsDelivered),
                *_stay("deliver", ("on_hold",), ItemsDelivered, _HELD_SHIPPING),
                *_stay("deliver", ("shipped",), ItemsDelivered, _SOME_TO_DELIVER),
                Transition("deliver", "shipped", "delivered", OrderDelivered, (_ALL_DELIVERED,)),
                *(
                    Transition(
                        "return_undelivered",
                        ("partially_shipped", "shipped"),
                        state,
                        ItemsReturnedUndelivered,
                        (_NO_CHANGE, _lands_after_return(state)),
                    )
                    for state in (
                        "canceled",
                        "delivered",
                        "shipped",
                        "partially_shipped",
                        "awaiting_fulfilment",
                    )
                ),
                Transition("complete", "delivered", "completed", OrderCompleted, (_NO_CHANGE,)),
                Transition(
                    "cancel",
                    ("pending_payment", "awaiting_fulfilment", "on_hold"),
                    "canceled",
                    OrderCanceled,
                    (_UNSHIPPED, _REASON),
                ),
                *_stay("propose_change", _CHANGEABLE, OrderChangeProposed, _NO_CHANGE),
                *_stay(
                    "confirm_change",
                    ("pending_payment", "awaiting_fulfilment"),
                    OrderChanged,
                    _PENDING,
                ),
                *_stay(
                    "confirm_change",
                    ("partially_shipped",),
                    OrderChanged,
                    _PENDING,
                    _CHANGE_TO_SHIP,
                ),
                Transition(
                    "confirm_change",
                    "partially_shipped",
                    "shipped",
                    OrderChanged,
                    (_PENDING, _CHANGE_TO_DELIVER),
                ),
                Transition(
                    "confirm_change",
                    "partially_shipped",
                    "delivered",
                    OrderChanged,
                    (_PENDING, _CHANGE_DELIVERED),
                ),
                *_stay(
                    "decline_change",
                    (*_CHANGEABLE, "shipped", "delivered", "on_hold"),
                    OrderChangeDeclined,
                    _PENDING,
                    _REASON,
                ),
            ),
        )
    )
)


# --- the aggregate -----------------------------------------------------------------------------


def _stock(per_sku: Mapping[str, int]) -> tuple[SkuQuantity, ...]:
    return tuple(SkuQuantity(sku, qty) for sku, qty in sorted(per_sku.items()) if qty > 0)


def _unshipped_by_sku(lines: Iterable[OrderLine]) -> Counter[str]:
    units: Counter[str] = Counter()
    for line in lines:
        units[line.sku] += line.counts.to_ship
    return units


@attrs.define(kw_only=True, eq=False)
class Order(Aggregate):
    """An order placed from a quote, governed by the ``order`` machine.

    Build one with `Order.place`; load a stored one by passing every field.
    Read `totals`, `fulfilment_status` and `payment_status` rather than
    storing them: they are worked out from the lines, their counters and the
    payment figures, so they can never disagree.

    Fields are changed only by the methods, which check everything first
    and change nothing when they raise.
    """

    machine: ClassVar[StateMachine[Any]] = ORDER_MACHINE

    currency: str
    price_mode: PriceMode
    channel: Channel
    customer_id: str | None
    payment_plan: PaymentPlan
    placed_at: datetime
    lines: tuple[OrderLine, ...]
    shipping: OrderShipping | None
    shipping_address: Address | None
    billing_address: Address | None = None
    coupon_codes: tuple[str, ...] = ()
    purchase_order: str | None = None
    held_from: str | None = None
    hold_reason: str | None = None
    cancel_reason: str | None = None
    pending_change: ChangePreview | None = None
    allocations: Mapping[str, LineQuantity] = attrs.Factory(dict)
    shipments: Mapping[str, tuple[LineQuantity, ...]] = attrs.Factory(dict)
    delivered_shipments: frozenset[str] = frozenset()
    returned_shipments: frozenset[str] = frozenset()
    decided_changes: Mapping[str, str] = attrs.Factory(dict)
    # `totals` with the very `lines` and `shipping` objects they were worked out from: kept
    # while both are the same objects (any assignment of either makes them be worked out
    # again); never passed in, so a loaded order works them out on first read.
    _kept_totals: tuple[tuple[OrderLine, ...], OrderShipping | None, OrderTotals] | None = (
        attrs.field(init=False, default=None, repr=False)
    )

    # --- placing ---------------------------------------------------------------------------

    @classmethod
    def place(
        cls,
        *,
        id: str,
        quote: Quote,
        at: datetime,
        customer: Customer | str | None = None,
        channel: Channel | str | None = None,
        shipping_address: Address | None = None,
        billing_address: Address | None = None,
        payment_plan: PaymentPlan | str = PaymentPlan.PREPAID,
        purchase_order: str | None = None,
    ) -> Order:
        """Place an order from ``quote``, recording `OrderPlaced`.

        ``customer`` and ``channel`` default to the quote's pricing context
        and must agree with it when given (the prices were for them);
        ``shipping_address`` defaults to the quote's ``ship_to`` and must
        agree with it. A quote without a shipping choice is accepted only in
        the store channel (the customer carries the goods out); a web or app
        order collected in a shop uses a pickup service such as ``store``.
        A cash-on-delivery order needs an option quoted with ``cod=True`` or
        a store pickup. ``purchase_order`` is a business buyer's
        purchase-order reference (non-empty text), kept for its invoice.
        """
        require_aware(at, "at")
        if not isinstance(quote, Quote):
            raise InvalidInput(f"an order is placed from a priced Quote, not {quote!r}")
        context = quote.context
        customer_id = _customer_id(customer, context.customer)
        sold_in = context.channel if channel is None else _channel(channel)
        if sold_in is not context.channel:
            raise InvalidInput(
                f"the quote was priced for the {context.channel.value} channel, not "
                f"{sold_in.value}; price the cart in the channel of the sale"
            )
        if shipping_address is not None and not isinstance(shipping_address, Address):
            raise InvalidInput(f"shipping_address must be an Address, not {shipping_address!r}")
        if billing_address is not None and not isinstance(billing_address, Address):
            raise InvalidInput(f"billing_address must be an Address, not {billing_address!r}")
        if shipping_address is None:
            shipping_address = quote.ship_to
        elif quote.ship_to is not None and quote.ship_to != shipping_address:
            raise InvalidInput(
                f"the quote was priced for shipping to {quote.ship_to!r}, not "
                f"{shipping_address!r}; price the cart for the address it ships to"
            )
        plan = _plan(payment_plan)
        reference = _purchase_order(purchase_order)
        lines = tuple(OrderLine.from_quote(line, quote.mode) for line in quote.lines)
        shipping = OrderShipping.from_quote(quote)
        if shipping is None and sold_in is not Channel.STORE:
            raise InvalidInput(
                f"a {sold_in.value} order needs a shipping choice; price the cart with a "
                "shipping table and ship_to (a pickup in the shop is the 'store' service); "
                "only store sales may have none"
            )
        if shipping is not None and shipping_address is None:
            raise InvalidInput("an order that ships needs a shipping address")
        _check_cod(plan, shipping)
        totals = _totals(lines, shipping, quote.currency)
        quoted = (
            quote.subtotal,
            quote.discount_total,
            quote.shipping_fee,
            quote.tax_total,
            quote.total,
        )
        worked_out = (totals.subtotal, totals.discount, totals.shipping, totals.tax, totals.total)
        if not all(map(_same_money, worked_out, quoted)):
            raise InvalidInput(
                f"the quote does not add up: its lines and shipping give {totals}, "
                f"the quote says subtotal, discount, shipping, tax and total {quoted}"
            )
        order = cls(
            id=id,
            currency=quote.currency,
            price_mode=quote.mode,
            channel=sold_in,
            customer_id=customer_id,
            payment_plan=plan,
            placed_at=at,
            lines=lines,
            shipping=shipping,
            shipping_address=shipping_address,
            billing_address=billing_address,
            coupon_codes=tuple(quote.promotions.applied_coupons),
            purchase_order=reference,
        )
        order._kept_totals = (lines, shipping, totals)
        order._start(
            at=at,
            customer_id=customer_id,
            channel=sold_in.value,
            currency=quote.currency,
            payment_plan=plan.value,
            lines=tuple(
                LineSummary(
                    line=line.index,
                    sku=line.sku,
                    name=line.name,
                    quantity=line.quantity,
                    total=line.gross,
                )
                for line in lines
            ),
            shipping_service=None if shipping is None else shipping.service_id,
            subtotal=totals.subtotal,
            discount=totals.discount,
            shipping_fee=totals.shipping,
            tax=totals.tax,
            total=totals.total,
            coupon_codes=order.coupon_codes,
            purchase_order=reference,
        )
        return order

    # --- derived views ---------------------------------------------------------------------

    @property
    def totals(self) -> OrderTotals:
        """What the open units and shipping cost now (zero once every unit is canceled).

        Worked out from the lines and the shipping, and kept until either changes.
        """
        kept = self._kept_totals
        lines, shipping = self.lines, self.shipping
        if kept is not None and kept[0] is lines and kept[1] is shipping:
            return kept[2]
        totals = _totals(lines, shipping, self.currency)
        self._kept_totals = (lines, shipping, totals)
        return totals

    def _keep_totals(self, lines: tuple[OrderLine, ...]) -> None:
        """Take ``lines`` whose open units are those of the present lines: the totals stand."""
        totals = self.totals
        self.lines = lines
        self._kept_totals = (lines, self.shipping, totals)

    @property
    def fulfilment_status(self) -> FulfilmentStatus:
        """How far the goods have gone, from the counters; see `FulfilmentStatus`."""
        counts = [line.counts for line in self.lines]
        open_ = sum(c.open for c in counts)
        allocated = sum(c.allocated for c in counts)
        shipped = sum(c.shipped for c in counts)
        settled = sum(c.settled for c in counts)
        if open_ == 0:
            return FulfilmentStatus.CANCELED
        if settled == open_:
            return FulfilmentStatus.DELIVERED
        if shipped == open_:
            return FulfilmentStatus.PARTIALLY_DELIVERED if settled else FulfilmentStatus.SHIPPED
        if shipped:
            return FulfilmentStatus.PARTIALLY_SHIPPED
        if allocated == open_:
            return FulfilmentStatus.ALLOCATED
        if allocated:
            return FulfilmentStatus.PARTIALLY_ALLOCATED
        return FulfilmentStatus.UNFULFILLED

    def payment_status(self, figures: PaymentFigures) -> PaymentStatus:
        """Where the money stands, from ``figures``; the rules are on `PaymentStatus`."""
        money = self._figures(figures)  # in the order's currency: amounts compare as decimals
        total = self.totals.total.amount
        captured = money.captured.amount
        returned = money._returned()
        kept = money._kept()
        authorized = money.authorized.amount
        if kept > total:
            return PaymentStatus.CREDIT_OWED
        if returned > 0:
            return PaymentStatus.REFUNDED if kept == 0 else PaymentStatus.PARTIALLY_REFUNDED
        if captured > 0:
            return PaymentStatus.PAID if captured == total else PaymentStatus.PARTIALLY_PAID
        if total == 0 and self.state != "canceled":
            return PaymentStatus.PAID
        if authorized > 0 and authorized >= total:
            return PaymentStatus.AUTHORIZED
        return PaymentStatus.UNPAID

    @property
    def awaiting_payment(self) -> bool:
        """Whether the order is neither paid nor approved yet (held or not)."""
        return self.state == "pending_payment" or (
            self.state == "on_hold" and self.held_from == "pending_payment"
        )

    def line(self, key: LineKey) -> OrderLine:
        """The line named by its index or its sku; `InvalidInput` lists the lines."""
        return self.lines[self._index(key)]

    # --- payment ---------------------------------------------------------------------------

    def mark_paid(self, figures: PaymentFigures, *, at: datetime) -> DomainEvent | None:
        """The payments now cover the total: the order awaits fulfilment.

        Captured and authorised money, less what went back, must cover
        `totals`. A paid order stays on hold if it was held. Marking an
        order already paid or approved changes nothing (a repeated
        notification) and returns ``None``; a canceled order raises.
        """
        require_aware(at, "at")
        money = self._figures(figures)
        if self.state in _PAID_STATES or (self.state == "on_hold" and not self.awaiting_payment):
            return None
        held = self.state == "on_hold"
        event = self._fire(
            "pay",
            at=at,
            payment_status=self.payment_status(money).value,
            secured=money.secured,
            captured=money.captured,
            authorized=money.authorized,
        )
        if held:
            self.held_from = "awaiting_fulfilment"
        return event

    def approve(self, *, at: datetime, note: str = "") -> DomainEvent | None:
        """Approve a cash-on-delivery or on-account order for fulfilment before it is paid.

        Approving again once it awaits fulfilment changes nothing. A held
        order is released first: approval is the shop's decision, not a
        notification that arrives on its own.
        """
        require_aware(at, "at")
        if not isinstance(note, str):
            raise InvalidInput(f"an approval note must be a string, not {note!r}")
        if self.payment_plan.pays_later and (
            self.state in _PAID_STATES or (self.state == "on_hold" and not self.awaiting_payment)
        ):
            return None
        return self._fire("approve", at=at, note=note)

    # --- hold ------------------------------------------------------------------------------

    def hold(self, *, reason: str, at: datetime) -> DomainEvent | None:
        """Stop the order for review (fraud check, address doubt, failed payment).

        While held nothing is allocated or shipped and no change is
        confirmed; a payment may still arrive (`mark_paid`) and a parcel
        already out may still be delivered. Holding again for the same
        reason changes nothing.
        """
        require_aware(at, "at")
        if self.state == "on_hold" and self.hold_reason == reason:
            return None
        held_from = self.state
        event = self._fire("hold", at=at, reason=reason, held_from=held_from)
        self.held_from = held_from
        self.hold_reason = reason
        return event

    def release(self, *, at: datetime) -> DomainEvent:
        """Lift the hold: the order goes back to the state it was held in."""
        require_aware(at, "at")
        event = self._fire("release", at=at, returned_to=self.held_from or "")
        self.held_from = None
        self.hold_reason = None
        return event

    # --- fulfilment ------------------------------------------------------------------------

    def allocate(
        self, line: LineKey, quantity: int, *, allocation_id: str, at: datetime
    ) -> DomainEvent | None:
        """Allocate ``quantity`` more units of ``line`` (sku or index) to stock.

        At most the open units not yet allocated. The same ``allocation_id``
        with the same line and quantity changes nothing; with others it
        raises `InvalidInput`.
        """
        require_aware(at, "at")
        _text(allocation_id, "an allocation id")
        index = self._index(line)
        qty = (
            quantity
            if type(quantity) is int and quantity >= 1  # the message is worded only when needed
            else _count(quantity, f"the quantity to allocate on line {line!r}", minimum=1)
        )
        current = self.lines[index]
        known = self.allocations.get(allocation_id)
        if known is not None:
            if (known.line, known.quantity) == (index, qty):
                return None
            raise InvalidInput(
                f"allocation {allocation_id!r} was recorded for {known.quantity} of line "
                f"{known.line} {known.sku!r}, not {qty} of {current.label()}; "
                "give a new allocation a new id"
            )
        room = current.counts.to_allocate
        if qty > room:
            raise InvalidInput(
                f"{current.label()} can take {room} more allocated units "
                f"({current.counts.open} open, {current.counts.allocated} allocated), not {qty}"
            )
        counts = _moved(current.counts, allocated=current.counts.allocated + qty)  # room checked
        event = self._fire(
            "allocate",
            at=at,
            allocation_id=allocation_id,
            line=index,
            sku=current.sku,
            quantity=qty,
            allocated=counts.allocated,
        )
        self._keep_totals(_replace(self.lines, {index: counts}))  # opens or cancels no unit
        self.allocations = {
            **self.allocations,
            allocation_id: LineQuantity(index, current.sku, qty),
        }
        return event

    def record_shipment(
        self, shipment_id: str, items: LineItems, *, at: datetime
    ) -> DomainEvent | None:
        """A shipment left with ``items`` (line sku or index → units).

        Only allocated units not yet shipped can ship. The last units move
        the order to ``shipped``, others to ``partially_shipped``. The same
        ``shipment_id`` with the same items changes nothing.
        """
        require_aware(at, "at")
        _text(shipment_id, "a shipment id")
        parsed = self._items(items, "a shipment")
        known = self.shipments.get(shipment_id)
        if known is not None:
            if known == parsed:
                return None
            raise InvalidInput(
                f"shipment {shipment_id!r} was recorded with {_show(known)}, not "
                f"{_show(parsed)}; give a new shipment a new id"
            )
        changes: dict[int, LineCounts] = {}
        for item in parsed:
            counts = self.lines[item.line].counts
            room = counts.allocated - counts.shipped
            if item.quantity > room:
                raise InvalidInput(
                    f"{self.lines[item.line].label()} has {room} allocated units not yet "
                    f"shipped, not {item.quantity}; allocate before shipping"
                )
            changes[item.line] = _moved(counts, shipped=counts.shipped + item.quantity)
        event = self._fire("ship", at=at, shipment_id=shipment_id, items=parsed)
        self._keep_totals(_replace(self.lines, changes))  # shipping opens or cancels no unit
        self.shipments = {**self.shipments, shipment_id: parsed}
        return event

    def record_delivery(self, shipment_id: str, *, at: datetime) -> DomainEvent | None:
        """Shipment ``shipment_id`` was delivered: all its units arrived.

        A shipment of several parcels delivered apart is recorded as
        several shipments. Delivering a shipment again changes nothing.
        """
        require_aware(at, "at")
        items = self.shipments.get(shipment_id)
        if items is None:
            known = ", ".join(repr(s) for s in sorted(self.shipments)) or "none yet"
            raise InvalidInput(f"no shipment {shipment_id!r} on this order; shipments: {known}")
        if shipment_id in self.delivered_shipments:
            return None
        changes: dict[int, LineCounts] = {}
        for item in items:
            counts = self.lines[item.line].counts
            if counts.settled + item.quantity > counts.shipped:
                raise InvalidInput(
                    f"{self.lines[item.line].label()} has {counts.shipped - counts.settled} "
                    f"shipped units not yet delivered or written off, not {item.quantity}"
                )
            changes[item.line] = _moved(counts, delivered=counts.delivered + item.quantity)
        event = self._fire("deliver", at=at, shipment_id=shipment_id, items=items)
        self._keep_totals(_replace(self.lines, changes))  # delivering opens or cancels no unit
        self.delivered_shipments = self.delivered_shipments | {shipment_id}
        return event

    def record_return(self, shipment_id: str, *, reason: str, at: datetime) -> DomainEvent | None:
        """Shipment ``shipment_id`` came back undelivered: its units come off the order.

        A cash-on-delivery parcel refused at the door, a pickup nobody
        collected: the units were never the customer's, so they count as
        canceled (and no longer allocated or shipped), and the order's totals
        drop by what they cost. With no unit left the order is ``canceled``.
        Recording the same return again changes nothing. The money (a refund,
        the uncollected cash) is the application's to settle.
        """
        require_aware(at, "at")
        _text(reason, "the reason the shipment came back")
        items = self.shipments.get(shipment_id)
        if items is None:
            known = ", ".join(repr(s) for s in sorted(self.shipments)) or "none yet"
            raise InvalidInput(f"no shipment {shipment_id!r} on this order; shipments: {known}")
        if shipment_id in self.returned_shipments:
            return None
        if shipment_id in self.delivered_shipments:
            raise InvalidInput(
                f"shipment {shipment_id!r} was delivered: its units come back as a return, "
                "not as an undelivered shipment"
            )
        changes: dict[int, LineCounts] = {}
        for item in items:
            counts = self.lines[item.line].counts
            changes[item.line] = attrs.evolve(
                counts,
                shipped=counts.shipped - item.quantity,
                allocated=counts.allocated - item.quantity,
                canceled=counts.canceled + item.quantity,
            )
        remaining = _state_after_return(self, {"items": items})
        event = self._fire(
            "return_undelivered",
            at=at,
            shipment_id=shipment_id,
            items=items,
            reason=reason,
            remaining=remaining,
        )
        self.lines = _replace(self.lines, changes)
        self.returned_shipments = self.returned_shipments | {shipment_id}
        if remaining == "canceled":
            self.cancel_reason = reason
        return event

    def complete(self, *, at: datetime) -> DomainEvent | None:
        """Close a delivered order (after the return window, say); again changes nothing.

        A pending change must be declined first.
        """
        require_aware(at, "at")
        if self.state == "completed":
            return None
        return self._fire("complete", at=at)

    # --- cancellation ----------------------------------------------------------------------

    def cancel(self, *, reason: str, figures: PaymentFigures, at: datetime) -> DomainEvent | None:
        """Cancel the order before anything has shipped.

        `OrderCanceled` tells the application what to void (open
        authorisations in ``figures``) and to refund (captured, not yet
        returned), and which units to give back to stock. A pending change
        is dropped. Canceling again for the same reason changes nothing.
        """
        require_aware(at, "at")
        if self.state == "canceled" and self.cancel_reason == reason:
            return None
        money = self._figures(figures)
        release = _unshipped_by_sku(self.lines)
        changes = {
            line.index: attrs.evolve(
                line.counts,
                canceled=line.counts.ordered - line.counts.shipped,
                allocated=line.counts.shipped,
            )
            for line in self.lines
        }
        units = _stock(release)
        event = self._fire(
            "cancel",
            at=at,
            reason=reason,
            to_void=money.authorized,
            to_refund=money.kept,
            release_stock=bool(units),
            units_to_release=units,
            dropped_change=None if self.pending_change is None else self.pending_change.change.id,
        )
        self.lines = _replace(self.lines, changes)
        self.cancel_reason = reason
        self.pending_change = None
        self.held_from = None
        self.hold_reason = None
        return event

    # --- changes ---------------------------------------------------------------------------

    def preview_change(
        self,
        change: OrderChange,
        new_quote: Quote | None = None,
        *,
        figures: PaymentFigures | None = None,
    ) -> ChangePreview:
        """Work out ``change`` without recording anything.

        Before payment a change of quantities or of shipping service needs
        ``new_quote``: the changed cart priced again with ``price_cart``
        (same currency and channel, the new quantities, the new address and
        service); the order then takes its lines and shipping. After payment
        quantities can only go down, at the prices paid, and a new service
        needs a quote for its fee. ``figures`` (default: nothing paid) give
        the money to collect or refund.
        """
        if self.state not in _CHANGEABLE:
            raise InvalidTransition(
                machine=self.machine.name,
                aggregate_id=self.id,
                state=self.state,
                event="propose_change",
                allowed=self.allowed_events,
                reason=(
                    "release the order first"
                    if self.state == "on_hold"
                    else "an order changes only before it has fully shipped"
                ),
            )
        if not isinstance(change, OrderChange):
            raise InvalidInput(f"preview_change takes an OrderChange, not {change!r}")
        money = self._figures(figures) if figures is not None else self._nothing_paid()
        before_payment = self.awaiting_payment
        quantities = self._wanted_quantities(change, before_payment)
        new_address = change.shipping_address
        if new_address is not None and new_address == self.shipping_address:
            new_address = None
        new_service = change.shipping_service
        if new_service is not None and (
            self.shipping is not None and new_service == self.shipping.service_id
        ):
            new_service = None
        if (new_address is not None or new_service is not None) and self.shipping is None:
            raise InvalidInput(
                "this store order ships nothing: its address and service cannot change"
            )
        if new_service is not None and any(line.counts.shipped for line in self.lines):
            raise InvalidInput(
                f"the shipping service cannot become {new_service!r}: units have already "
                "shipped with the present one"
            )
        if not quantities and new_address is None and new_service is None:
            raise InvalidInput(f"change {change.id!r} asks for nothing the order does not have")
        if new_quote is None and (new_service is not None or (quantities and before_payment)):
            raise InvalidInput(
                f"change {change.id!r} needs a new quote: price the changed cart with "
                "price_cart (new quantities, address and service) and pass it"
            )
        address = self.shipping_address if new_address is None else new_address
        if new_quote is not None:
            service = new_service or (None if self.shipping is None else self.shipping.service_id)
            self._check_quote(new_quote, self._wanted_by_sku(quantities), address, service)
        repriced = before_payment and new_quote is not None
        if new_quote is not None and repriced:
            lines = tuple(OrderLine.from_quote(line, new_quote.mode) for line in new_quote.lines)
        else:
            lines = self._cancel_units(quantities)
        shipping = self.shipping
        if new_quote is not None and self.shipping is not None:
            shipping = OrderShipping.from_quote(new_quote)
        previous = self.totals
        totals = _totals(lines, shipping, self.currency)
        zero = Money(0, self.currency)
        before = _unshipped_by_sku(self.lines)
        after = _unshipped_by_sku(lines)
        return ChangePreview(
            change=change,
            quote=new_quote,
            repriced=repriced,
            lines=lines,
            shipping=shipping,
            shipping_address=address,
            previous=previous,
            totals=totals,
            difference=totals.total - previous.total,
            to_collect=max(totals.total - money.secured, zero),
            to_refund=max(money.kept - totals.total, zero),
            units_to_release=_stock(before - after),
            units_to_reserve=_stock(after - before),
        )

    def propose_change(
        self,
        change: OrderChange,
        new_quote: Quote | None = None,
        *,
        figures: PaymentFigures | None = None,
        at: datetime,
    ) -> ChangePreview:
        """Preview ``change`` and keep it pending until confirmed or declined.

        One change may be pending at a time. Proposing the pending change
        again returns its preview and records nothing; reusing the id of a
        decided change raises `InvalidInput`.
        """
        require_aware(at, "at")
        pending = self.pending_change
        if pending is not None and pending.change == change and pending.quote == new_quote:
            return pending
        if isinstance(change, OrderChange) and change.id in self.decided_changes:
            raise InvalidInput(
                f"change {change.id!r} was already {self.decided_changes[change.id]}; "
                "give a new change a new id"
            )
        preview = self.preview_change(change, new_quote, figures=figures)
        self._fire(
            "propose_change",
            at=at,
            change_id=change.id,
            repriced=preview.repriced,
            new_total=preview.totals.total,
            difference=preview.difference,
            to_collect=preview.to_collect,
            to_refund=preview.to_refund,
        )
        self.pending_change = preview
        return preview

    def confirm_change(self, change_id: str, *, at: datetime) -> DomainEvent | None:
        """Apply the pending change: lines, shipping, address and totals are replaced.

        The change is worked out again first; if the order moved since the
        preview so that the result differs (units shipped, payment
        arrived), `InvalidInput` asks to decline it and preview anew.
        Confirming a confirmed change again changes nothing.
        """
        require_aware(at, "at")
        if self.decided_changes.get(change_id) == "confirmed":
            return None
        pending = self.pending_change
        if pending is None or pending.change.id != change_id:
            # No such pending change: the machine's guard refuses it with the reason.
            return self._fire("confirm_change", at=at, change_id=change_id)
        try:
            fresh = self.preview_change(pending.change, pending.quote)
        except InvalidInput as error:
            raise InvalidInput(
                f"change {change_id!r} no longer applies ({error}); decline it and preview anew"
            ) from None
        if (fresh.repriced, fresh.open_quantities(), fresh.shipping, fresh.totals) != (
            pending.repriced,
            pending.open_quantities(),
            pending.shipping,
            pending.totals,
        ):
            raise InvalidInput(
                f"the order moved since change {change_id!r} was previewed: it would now "
                f"total {fresh.totals.total}, not {pending.totals.total}; decline it and "
                "preview anew"
            )
        event = self._fire(
            "confirm_change",
            at=at,
            change_id=change_id,
            repriced=fresh.repriced,
            lines=fresh.open_quantities(),
            shipping_service=None if fresh.shipping is None else fresh.shipping.service_id,
            shipping_address=fresh.shipping_address,
            previous_total=fresh.previous.total,
            new_total=fresh.totals.total,
            difference=fresh.difference,
            units_to_release=fresh.units_to_release,
            units_to_reserve=fresh.units_to_reserve,
        )
        self.lines = fresh.lines
        self.shipping = fresh.shipping
        self.shipping_address = fresh.shipping_address
        self._kept_totals = (fresh.lines, fresh.shipping, fresh.totals)
        self.pending_change = None
        self.decided_changes = {**self.decided_changes, change_id: "confirmed"}
        return event

    def decline_change(
        self, change_id: str, *, at: datetime, reason: str = "declined"
    ) -> DomainEvent | None:
        """Drop the pending change; the order stays as it was. Again changes nothing."""
        require_aware(at, "at")
        if self.decided_changes.get(change_id) == "declined":
            return None
        event = self._fire("decline_change", at=at, change_id=change_id, reason=reason)
        self.pending_change = None
        self.decided_changes = {**self.decided_changes, change_id: "declined"}
        return event

    # --- helpers ---------------------------------------------------------------------------

    def _nothing_paid(self) -> PaymentFigures:
        return PaymentFigures.of(self.currency)

    def _figures(self, figures: object) -> PaymentFigures:
        if not isinstance(figures, PaymentFigures):
            raise InvalidInput(
                f"payment figures must be PaymentFigures, not {figures!r}; "
                f"use PaymentFigures.of({self.currency!r}, captured=...)"
            )
        if figures.currency != self.currency:
            raise CurrencyMismatch(self.currency, figures.currency, "mix payment figures in")
        return figures

    def _index(self, key: object) -> int:
        if type(key) is int and 0 <= key < len(self.lines):
            return key
        listing = ", ".join(f"{line.index} {line.sku!r}" for line in self.lines)
        if isinstance(key, bool) or not isinstance(key, str | int):
            raise InvalidInput(f"name a line by its sku or index, not {key!r}; lines: {listing}")
        if isinstance(key, int):
            if 0 <= key < len(self.lines):
                return int(key)
            raise InvalidInput(f"no line {key} on this order; lines: {listing}")
        matches = [line.index for line in self.lines if line.sku == key]
        if not matches:
            raise InvalidInput(f"no line with sku {key!r} on this order; lines: {listing}")
        if len(matches) > 1:
            raise InvalidInput(f"sku {key!r} is on lines {matches}; name the line by its index")
        return matches[0]

    def _items(self, items: object, what: str) -> tuple[LineQuantity, ...]:
        if not isinstance(items, Mapping) or not items:
            raise InvalidInput(
                f"{what} lists its units as a non-empty mapping of line (sku or index) to "
                f"quantity, not {items!r}"
            )
        parsed: dict[int, LineQuantity] = {}
        for key, quantity in items.items():
            index = self._index(key)
            qty = (
                quantity
                if type(quantity) is int and quantity >= 1
                else _count(quantity, f"the quantity of line {key!r}", minimum=1)
            )
            if index in parsed:
                raise InvalidInput(f"line {index} is named twice in {what}")
            parsed[index] = LineQuantity(index, self.lines[index].sku, qty)
        return tuple(parsed[index] for index in sorted(parsed))

    def _wanted_quantities(self, change: OrderChange, before_payment: bool) -> dict[int, int]:
        wanted: dict[int, int] = {}
        for key, quantity in change.quantities:
            index = self._index(key)
            if index in wanted:
                raise InvalidInput(f"change {change.id!r} names line {index} twice")
            line = self.lines[index]
            counts = line.counts
            if quantity < counts.shipped:
                raise InvalidInput(
                    f"{line.label()} cannot go down to {quantity}: {counts.shipped} units "
                    "have shipped (returns come later)"
                )
            if quantity > counts.open and not before_payment:
                raise InvalidInput(
                    f"{line.label()} cannot go up from {counts.open} to {quantity} after "
                    "payment; sell the extra units in a new order"
                )
            if quantity != counts.open:
                wanted[index] = quantity
        remaining = sum(wanted.get(line.index, line.counts.open) for line in self.lines)
        if remaining == 0:
            raise InvalidInput(
                f"change {change.id!r} would leave no unit in the order; cancel it instead"
            )
        return wanted

    def _cancel_units(self, wanted: Mapping[int, int]) -> tuple[OrderLine, ...]:
        """The lines with units taken off at the prices paid, the last units of a line first."""
        changes: dict[int, LineCounts] = {}
        for index, quantity in wanted.items():
            counts = self.lines[index].counts
            if quantity < counts.open:
                canceled = counts.canceled + counts.open - quantity
                changes[index] = attrs.evolve(
                    counts,
                    canceled=canceled,
                    allocated=min(counts.allocated, counts.ordered - canceled),
                )
        return _replace(self.lines, changes)

    def _wanted_by_sku(self, wanted: Mapping[int, int]) -> Counter[str]:
        units: Counter[str] = Counter()
        for line in self.lines:
            quantity = wanted.get(line.index, line.counts.open)
            if quantity:
                units[line.sku] += quantity
        return units

    def _check_quote(
        self,
        quote: object,
        wanted: Counter[str],
        address: Address | None,
        service: str | None,
    ) -> None:
        if not isinstance(quote, Quote):
            raise InvalidInput(f"a new quote must be a priced Quote, not {quote!r}")
        if quote.currency != self.currency:
            raise CurrencyMismatch(self.currency, quote.currency, "mix a new quote in")
        if quote.mode is not self.price_mode:
            raise InvalidInput(
                f"the quote's prices are tax-{quote.mode.value}, the order's tax-"
                f"{self.price_mode.value}; price with the order's tax table"
            )
        if quote.context.channel is not self.channel:
            raise InvalidInput(
                f"the quote was priced for the {quote.context.channel.value} channel, "
                f"the order is {self.channel.value}"
            )
        quoted_customer = quote.context.customer.id
        if quoted_customer is not None and quoted_customer != self.customer_id:
            raise InvalidInput(
                f"the quote was priced for customer {quoted_customer!r}, the order is "
                f"{self.customer_id!r}"
            )
        quoted: Counter[str] = Counter()
        for line in quote.lines:
            quoted[line.sku] += line.quantity
        if quoted != wanted:
            raise InvalidInput(
                f"the quote prices {dict(sorted(quoted.items()))}, the order as changed holds "
                f"{dict(sorted(wanted.items()))}; price the changed cart"
            )
        if service is None:
            if quote.shipping is not None:
                raise InvalidInput("this store order ships nothing; price it without shipping")
            return
        if quote.shipping is None or quote.shipping.option.service_id != service:
            got = None if quote.shipping is None else quote.shipping.option.service_id
            raise InvalidInput(
                f"the quote ships with {got!r}, the order as changed with {service!r}; "
                f"price with service={service!r}"
            )
        if quote.ship_to is not None and quote.ship_to != address:
            raise InvalidInput(
                f"the quote was priced for shipping to {quote.ship_to!r}, the order as changed "
                f"ships to {address!r}"
            )
        _check_cod(self.payment_plan, OrderShipping.from_quote(quote))


def _recounted(line: OrderLine, counts: LineCounts) -> OrderLine:
    """``line`` with new ``counts``; its prices are checked again only if ``ordered`` changes.

    A line's own checks tie its unit amounts to the units ordered, so counts
    that keep ``ordered`` cannot break them, and the line is copied as it is.
    """
    if counts.ordered != line.counts.ordered:
        return attrs.evolve(line, counts=counts)
    made: OrderLine = _new(OrderLine)
    (
        index,
        sku,
        name,
        list_price,
        discount,
        unit_amounts,
        unit_taxes,
        unit_totals,
        tax_category,
        tax_rate,
        net,
        tax,
        gross,
        counts_slot,
    ) = _LINE_SLOTS
    index(made, line.index)
    sku(made, line.sku)
    name(made, line.name)
    list_price(made, line.list_price)
    discount(made, line.discount)
    unit_amounts(made, line.unit_amounts)
    unit_taxes(made, line.unit_taxes)
    unit_totals(made, line.unit_totals)
    tax_category(made, line.tax_category)
    tax_rate(made, line.tax_rate)
    net(made, line.net)
    tax(made, line.tax)
    gross(made, line.gross)
    counts_slot(made, counts)
    return made


def _replace(
    lines: tuple[OrderLine, ...], changes: Mapping[int, LineCounts]
) -> tuple[OrderLine, ...]:
    if not changes:
        return lines
    replaced = list(lines)
    for position, line in enumerate(lines):
        counts = changes.get(line.index)
        if counts is not None:
            replaced[position] = _recounted(line, counts)
    return tuple(replaced)


def _same_money(ours: Money, given: object) -> bool:
    """``ours == given``, read straight off the amounts when ``given`` is a plain `Money`."""
    if type(given) is Money:
        return ours.amount == given.amount and (
            ours.currency is given.currency or ours.currency == given.currency
        )
    return bool(ours == given)


def _show(items: Iterable[LineQuantity]) -> str:
    return ", ".join(f"{item.quantity} × {item.sku!r} (line {item.line})" for item in items)


def _customer_id(customer: object, priced_for: Customer) -> str | None:
    if customer is None:
        return priced_for.id
    if isinstance(customer, Customer):
        given = customer.id
    elif isinstance(customer, str) and customer.strip():
        given = customer
    else:
        raise InvalidInput(f"customer must be a Customer or a customer id, not {customer!r}")
    if priced_for.id is not None and given != priced_for.id:
        raise InvalidInput(
            f"the quote was priced for customer {priced_for.id!r}, not {given!r}; "
            "price the cart for the customer who buys"
        )
    return given


def _check_cod(plan: PaymentPlan, shipping: OrderShipping | None) -> None:
    if plan is not PaymentPlan.CASH_ON_DELIVERY:
        return
    if shipping is None or not (shipping.cod or shipping.kind is ServiceKind.PICKUP_STORE):
        service = None if shipping is None else shipping.service_id
        raise InvalidInput(
            f"cash on delivery needs a shipping option quoted with cod=True or a store "
            f"pickup, not {service!r}; price the cart with cod=True"
        )
