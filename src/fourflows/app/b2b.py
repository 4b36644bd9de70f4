"""B2B through the shop: sales quotes, orders on account, invoices on terms, bank transfers.

`B2B` holds the commands a shop needs to sell to businesses
(`fourflows.commerce.quotes`), with their handlers:

1. **Quotes.** `DraftSalesQuote`, `ReviseSalesQuote`, `SendSalesQuote`,
   `AcceptSalesQuote`, `RejectSalesQuote` and `ExpireSalesQuote` move a
   `SalesQuote` kept in the unit of work like any aggregate. Each returns a
   `QuoteResult`. An expired quote cannot be accepted (`QuoteExpired`).
2. **The order on account.** `PlaceQuotedOrder` places the order from an
   accepted quote, in one unit of work: the order is placed from the quote's
   frozen `Quote` first, then the quote is converted, so a refusal converts
   nothing. The order's plan is `PaymentPlan.ON_ACCOUNT` and it carries the
   quote's purchase-order reference; it is approved for fulfilment unpaid
   (`OrderApproved`, on which the accounting policies post the sale to the
   customer receivable). Its payment, by ``bank_transfer`` for the total, is
   opened and left ``pending``: nothing is asked of a gateway, the buyer pays
   the invoice into the shop's bank account later.
3. **The invoice on terms.** `InvoiceOnAccount` issues the invoice for the
   order (`fourflows.cash.invoices.invoice_order`, numbered by the shop's
   `InvoiceNumbering`, with the buyer's tax id and the purchase order), and
   opens its `Receivable`: the invoice's gross, due on the quote's payment
   terms from the invoice's local date. Both are kept as keyed records
   (`invoice_of`, `receivable_of`).
4. **Transfers.** `RecordTransfer` records a bank transfer received against
   the order, under the bank's reference: the receivable takes the payment
   (partial payments allowed, never more than is owed) and the bank-transfer
   payment captures it (``capture_succeeded``, capture id
   ``transfer:<reference>``), so the accounting policies post it (debit cash,
   credit customer receivable). The first transfer moves the payment from
   ``pending`` to ``captured`` for what came in (the machine treats each
   capture from ``pending`` as authorised and captured at once; later ones
   raise it up to the payment's amount); the order's
   `Order.payment_status` is ``partially_paid`` until the transfers cover
   the total, then ``paid``. The order itself was approved at placement, so
   it does not move.
5. **Overdue.** `OverdueAccounts` lists the receivables overdue at a given
   time, the longest overdue first.

Every command but `OverdueAccounts` is idempotent. Its ``idempotency_key`` (for
`RecordTransfer`, the bank's reference) is stored with the first result: the
same key with the same command returns it and changes nothing, with another
command it raises `IdempotencyConflict`. A command that raises changes
nothing.

Wire it into a bus beside the checkout: ``{**checkout.handlers(),
**b2b.handlers()}`` (the accounting policies must be among the bus's
policies for the ledger to follow).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
from pydantic import AwareDatetime, Field, PositiveInt

from fourflows.app.checkout import _ORDER_PAYMENTS, ShipTo, ShopResult, StockHold, _records
from fourflows.app.commands import Command
from fourflows.app.handlers import Context
from fourflows.app.messagebus import CommandHandler
from fourflows.cash.gateway import request_fingerprint
from fourflows.cash.invoices import Invoice, InvoiceNumbering, Party, invoice_order
from fourflows.cash.payment import Payment, PaymentMethod
from fourflows.commerce.order import Order, PaymentPlan
from fourflows.commerce.quotes import (
    Buyer,
    PaymentTerms,
    QuotePricing,
    Receivable,
    SalesQuote,
    overdue,
)
from fourflows.errors import IdempotencyConflict, InvalidInput, NotFound
from fourflows.money import Money, MoneyField
from fourflows.ports import UnitOfWork

__all__ = [
    "B2B",
    "AcceptSalesQuote",
    "DraftSalesQuote",
    "ExpireSalesQuote",
    "InvoiceOnAccount",
    "OverdueAccounts",
    "PlaceQuotedOrder",
    "QuoteResult",
    "RecordTransfer",
    "RejectSalesQuote",
    "ReviseSalesQuote",
    "SendSalesQuote",
    "invoice_of",
    "parse_terms",
    "receivable_of",
    "receivables",
]

_Key = Field(min_length=1, max_length=200)
_Text = Field(min_length=1, max_length=500)
_Reference = Field(default=None, min_length=1, max_length=100)

_IDEMPOTENCY = "b2b-idempotency"
_TRANSFERS = "b2b-transfer"  # bank reference → the first result
_ORDER_QUOTE = "b2b-order-quote"  # order id → the quote it came from
_ORDER_PAYMENT = "b2b-order-payment"  # order id → its bank-transfer payment
_INVOICES = "b2b-invoice"  # order id → its invoice
_RECEIVABLES = "b2b-receivable"  # order id → its receivable
_ACCOUNTS = "b2b-accounts"  # "orders" → every order with a receivable, oldest first


# --- payment terms in words ------------------------------------------------------------------


def parse_terms(text: str) -> PaymentTerms:
    """`PaymentTerms` from their label: ``"net 30"``, ``"due on receipt"``, ``"end of month + 30"``.

    ``"end of month"`` alone is due on the last day of the invoice's month.
    Anything else raises `InvalidInput` with the forms allowed.
    """
    if not isinstance(text, str):
        raise InvalidInput(f"payment terms must be text such as 'net 30', not {text!r}")
    words = " ".join(text.lower().split())
    try:
        if words == "due on receipt":
            return PaymentTerms.due_on_receipt()
        if words.startswith("net "):
            return PaymentTerms.net(int(words[4:]))
        if words == "end of month":
            return PaymentTerms.end_of_month()
        if words.startswith("end of month + "):
            return PaymentTerms.end_of_month(int(words[len("end of month + ") :]))
    except ValueError:
        pass  # a number that is not one: refused below
    raise InvalidInput(
        f"unknown payment terms {text!r}; write 'due on receipt', 'net <days>', "
        "'end of month' or 'end of month + <days>'"
    )


# --- commands --------------------------------------------------------------------------------


class DraftSalesQuote(Command):
    """Draft quote ``quote_id`` of ``items`` (sku → quantity) for buyer ``buyer_id``, priced now.

    ``terms`` are the payment terms offered, in words (`parse_terms`);
    without them, the buyer's agreed terms. Goods that ship name ``ship_to``
    and the shipping ``service``; without them the quote is priced as
    configured (a store sale ships nothing).
    """

    idempotency_key: str = _Key
    quote_id: str = _Key
    buyer_id: str = _Key
    items: dict[str, PositiveInt] = Field(min_length=1)
    expires_at: AwareDatetime
    terms: str | None = Field(default=None, min_length=1, max_length=50)
    purchase_order: str | None = _Reference
    ship_to: ShipTo | None = None
    service: str | None = Field(default=None, min_length=1, max_length=100)


class ReviseSalesQuote(Command):
    """Change quote ``quote_id`` (items, expiry, terms) and price it again; it is a draft again."""

    idempotency_key: str = _Key
    quote_id: str = _Key
    items: dict[str, PositiveInt] | None = Field(default=None, min_length=1)
    expires_at: AwareDatetime | None = None
    terms: str | None = Field(default=None, min_length=1, max_length=50)


class SendSalesQuote(Command):
    """Send quote ``quote_id`` to the buyer: its prices are frozen."""

    idempotency_key: str = _Key
    quote_id: str = _Key


class AcceptSalesQuote(Command):
    """The buyer accepts quote ``quote_id`` before it lapses, under ``purchase_order`` if given."""

    idempotency_key: str = _Key
    quote_id: str = _Key
    purchase_order: str | None = _Reference


class RejectSalesQuote(Command):
    """The buyer turns quote ``quote_id`` down, for ``reason``."""

    idempotency_key: str = _Key
    quote_id: str = _Key
    reason: str = _Text


class ExpireSalesQuote(Command):
    """Close quote ``quote_id`` as lapsed (only at or after its expiry)."""

    idempotency_key: str = _Key
    quote_id: str = _Key


class PlaceQuotedOrder(Command):
    """Place the order on account from accepted quote ``quote_id``, at the prices accepted."""

    idempotency_key: str = _Key
    quote_id: str = _Key


class InvoiceOnAccount(Command):
    """Invoice order ``order_id`` (placed from a quote) and open what it owes on its terms."""

    idempotency_key: str = _Key
    order_id: str = _Key


class RecordTransfer(Command):
    """A bank transfer of ``amount`` received against order ``order_id``.

    ``bank_reference`` is the bank's reference of the transfer and the
    command's idempotency key; ``received_at`` is when the money arrived
    (the shop's clock when not given).
    """

    order_id: str = _Key
    bank_reference: str = Field(min_length=1, max_length=100)
    amount: MoneyField
    received_at: AwareDatetime | None = None


class OverdueAccounts(Command):
    """Which receivables are overdue at ``at`` (a question: it changes nothing)."""

    at: AwareDatetime


@attrs.frozen(kw_only=True)
class QuoteResult:
    """Where a sales quote stands after a command: state, revision, total, expiry, terms."""

    quote_id: str
    state: str
    revision: int
    total: Money
    expires_at: datetime
    terms: str
    purchase_order: str | None
    order_id: str | None


def _quote_result(quote: SalesQuote) -> QuoteResult:
    return QuoteResult(
        quote_id=quote.id,
        state=quote.state,
        revision=quote.revision,
        total=quote.total,
        expires_at=quote.expires_at,
        terms=quote.terms.label,
        purchase_order=quote.purchase_order,
        order_id=quote.order_id,
    )


# --- records ---------------------------------------------------------------------------------


@attrs.frozen
class _Done:
    fingerprint: str
    result: object


_R = TypeVar("_R")


def _once(ctx: Context, namespace: str, key: str, fingerprint: str, run: Callable[[], _R]) -> _R:
    records = _records(ctx.uow)
    found = records.read_record(namespace, key)
    if isinstance(found, _Done):
        if found.fingerprint != fingerprint:
            raise IdempotencyConflict(key, recorded=found.fingerprint, given=fingerprint)
        return cast(_R, found.result)
    result = run()
    records.write_record(namespace, key, _Done(fingerprint, result))
    ctx.uow.commit()
    return result


def invoice_of(uow: UnitOfWork, order_id: str) -> Invoice | None:
    """The invoice on account of ``order_id``, or ``None`` before `InvoiceOnAccount`."""
    found = _records(uow).read_record(_INVOICES, order_id)
    return found if isinstance(found, Invoice) else None


def receivable_of(uow: UnitOfWork, order_id: str) -> Receivable | None:
    """What ``order_id`` owes on its terms and what was received; ``None`` if not invoiced."""
    found = _records(uow).read_record(_RECEIVABLES, order_id)
    return found if isinstance(found, Receivable) else None


def _account_orders(uow: UnitOfWork) -> tuple[str, ...]:
    found = _records(uow).read_record(_ACCOUNTS, "orders")
    return cast(tuple[str, ...], found) if isinstance(found, tuple) else ()


def receivables(uow: UnitOfWork) -> tuple[Receivable, ...]:
    """Every receivable of the shop's orders on account, first invoiced first."""
    found = (receivable_of(uow, order_id) for order_id in _account_orders(uow))
    return tuple(r for r in found if r is not None)


# --- the handlers ----------------------------------------------------------------------------


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


def _buyers(value: Iterable[Buyer]) -> dict[str, Buyer]:
    if isinstance(value, Buyer) or not isinstance(value, Iterable):
        raise InvalidInput(f"buyers must be a sequence of Buyer, not {value!r}")
    found: dict[str, Buyer] = {}
    for buyer in value:
        if not isinstance(buyer, Buyer):
            raise InvalidInput(f"buyers holds Buyer values, not {buyer!r}")
        if buyer.id in found:
            raise InvalidInput(f"buyer id {buyer.id!r} appears twice")
        found[buyer.id] = buyer
    return found


class B2B:
    """The B2B commands' handlers, with what they price, number and owe by.

    ``pricing`` prices quotes (catalog, price lists, tax, shipping table);
    ``buyers`` are the shop's business customers, ``terms`` their agreed
    payment terms by buyer id (``default_terms``, net 30 unless given, for
    the others);
    ``seller`` is the shop as its invoices name it, ``numbering`` hands out
    invoice numbers, and ``timezone`` (an IANA name) dates the invoices and
    the due dates. With ``stock`` (the shop's fulfilment), an order on
    account holds its stock when placed, like any order.
    """

    def __init__(
        self,
        *,
        pricing: QuotePricing,
        buyers: Iterable[Buyer],
        seller: Party,
        numbering: InvoiceNumbering,
        timezone: str = "Asia/Taipei",
        terms: Mapping[str, PaymentTerms] | None = None,
        default_terms: PaymentTerms | None = None,
        stock: StockHold | None = None,
    ) -> None:
        if not isinstance(pricing, QuotePricing):
            raise InvalidInput(f"pricing must be QuotePricing, not {pricing!r}")
        if not isinstance(seller, Party):
            raise InvalidInput(f"seller must be a Party, not {seller!r}")
        if not callable(getattr(numbering, "next_number", None)):
            raise InvalidInput(f"numbering must be an InvoiceNumbering, not {numbering!r}")
        agreed = dict(terms or {})
        default_terms = PaymentTerms.net(30) if default_terms is None else default_terms
        for buyer_id, given in [*agreed.items(), ("default", default_terms)]:
            if not isinstance(given, PaymentTerms):
                raise InvalidInput(
                    f"the terms of {buyer_id!r} must be PaymentTerms such as "
                    f"PaymentTerms.net(30), not {given!r}"
                )
        self.pricing = pricing
        self.buyers = _buyers(buyers)
        unknown = sorted(set(agreed) - set(self.buyers))
        if unknown:
            raise InvalidInput(f"terms are given for unknown buyers {unknown}")
        self.seller = seller
        self.numbering = numbering
        self.timezone = _zone(timezone)  # refused now, not at the first invoice
        self.terms = agreed
        self.default_terms = default_terms
        self.stock = stock

    def handlers(self) -> dict[type[Command], CommandHandler]:
        """Every B2B command with its handler; merge them into the bus's commands."""
        return {
            DraftSalesQuote: self.draft_quote,
            ReviseSalesQuote: self.revise_quote,
            SendSalesQuote: self.send_quote,
            AcceptSalesQuote: self.accept_quote,
            RejectSalesQuote: self.reject_quote,
            ExpireSalesQuote: self.expire_quote,
            PlaceQuotedOrder: self.place_quoted_order,
            InvoiceOnAccount: self.invoice_on_account,
            RecordTransfer: self.record_transfer,
            OverdueAccounts: self.overdue_accounts,
        }

    def buyer(self, buyer_id: str) -> Buyer:
        """The business customer ``buyer_id``; `NotFound` lists the known ones."""
        found = self.buyers.get(buyer_id)
        if found is None:
            raise NotFound("business buyer", buyer_id, sorted(self.buyers))
        return found

    def terms_of(self, buyer_id: str) -> PaymentTerms:
        """The payment terms agreed with ``buyer_id`` (the default terms if none were)."""
        return self.terms.get(buyer_id, self.default_terms)

    # --- quotes ---------------------------------------------------------------------------

    def _keyed(self, ctx: Context, command: Command, key: str, run: Callable[[], _R]) -> _R:
        return _once(ctx, _IDEMPOTENCY, key, request_fingerprint(command), run)

    def _pricing_for(self, quote: SalesQuote) -> QuotePricing:
        """The pricing the quote was drafted with: same address and shipping service."""
        priced = quote.priced
        service = None if priced.shipping is None else priced.shipping.option.service_id
        if priced.ship_to is None:
            return self.pricing
        return attrs.evolve(self.pricing, ship_to=priced.ship_to, service=service)

    def draft_quote(self, command: DraftSalesQuote, ctx: Context) -> QuoteResult:
        """Draft and price a sales quote for a known buyer."""

        def run() -> QuoteResult:
            quotes = ctx.uow.repository(SalesQuote)
            if quotes.find(command.quote_id) is not None:
                raise InvalidInput(
                    f"quote id {command.quote_id!r} is taken; draft under a new id, or revise it"
                )
            buyer = self.buyer(command.buyer_id)
            pricing = self.pricing
            if command.ship_to is not None:
                pricing = attrs.evolve(
                    pricing, ship_to=command.ship_to.address(), service=command.service
                )
            elif command.service is not None:
                raise InvalidInput(f"service {command.service!r} needs a ship_to address")
            terms = self.terms_of(buyer.id) if command.terms is None else parse_terms(command.terms)
            quote = SalesQuote.draft(
                id=command.quote_id,
                buyer=buyer,
                items=command.items,
                pricing=pricing,
                expires_at=command.expires_at,
                terms=terms,
                at=ctx.clock.now(),
                purchase_order=command.purchase_order,
            )
            quotes.add(quote)
            return _quote_result(quote)

        return self._keyed(ctx, command, command.idempotency_key, run)

    def _move(
        self,
        ctx: Context,
        command: ReviseSalesQuote
        | SendSalesQuote
        | AcceptSalesQuote
        | RejectSalesQuote
        | ExpireSalesQuote,
        move: Callable[[SalesQuote], object],
    ) -> QuoteResult:
        def run() -> QuoteResult:
            quote = ctx.uow.repository(SalesQuote).get(command.quote_id)
            move(quote)
            return _quote_result(quote)

        return self._keyed(ctx, command, command.idempotency_key, run)

    def revise_quote(self, command: ReviseSalesQuote, ctx: Context) -> QuoteResult:
        """Change a draft or sent quote and price it again now."""
        at = ctx.clock.now()
        terms = None if command.terms is None else parse_terms(command.terms)

        def move(quote: SalesQuote) -> object:
            return quote.revise(
                pricing=self._pricing_for(quote),
                at=at,
                items=command.items,
                expires_at=command.expires_at,
                terms=terms,
            )

        return self._move(ctx, command, move)

    def send_quote(self, command: SendSalesQuote, ctx: Context) -> QuoteResult:
        """Send a drafted quote to its buyer."""
        at = ctx.clock.now()
        return self._move(ctx, command, lambda q: q.send(at=at))

    def accept_quote(self, command: AcceptSalesQuote, ctx: Context) -> QuoteResult:
        """Record the buyer's acceptance; `QuoteExpired` if it came too late."""
        at = ctx.clock.now()
        return self._move(
            ctx,
            command,
            lambda q: q.accept(at=at, purchase_order=command.purchase_order),
        )

    def reject_quote(self, command: RejectSalesQuote, ctx: Context) -> QuoteResult:
        """Record the buyer's refusal."""
        at = ctx.clock.now()
        return self._move(ctx, command, lambda q: q.reject(reason=command.reason, at=at))

    def expire_quote(self, command: ExpireSalesQuote, ctx: Context) -> QuoteResult:
        """Close a quote whose validity has ended."""
        at = ctx.clock.now()
        return self._move(ctx, command, lambda q: q.expire(at=at))

    # --- the order on account -------------------------------------------------------------

    def place_quoted_order(self, command: PlaceQuotedOrder, ctx: Context) -> ShopResult:
        """Place the order on account from an accepted quote, approve it, open its payment."""

        def run() -> ShopResult:
            at = ctx.clock.now()
            quote = ctx.uow.repository(SalesQuote).get(command.quote_id)
            if quote.state != "accepted":
                raise InvalidInput(
                    f"quote {quote.id!r} is {quote.state}: only an accepted quote becomes an "
                    "order (send it and have the buyer accept it first)"
                )
            order_id = ctx.ids.next_id("order")
            order = Order.place(
                id=order_id,
                quote=quote.priced,
                at=at,
                payment_plan=PaymentPlan.ON_ACCOUNT,
                purchase_order=quote.purchase_order,
            )
            quote.convert(order_id=order_id, at=at)
            order.approve(at=at, note=f"on account, {quote.terms.label}")
            payment = Payment.create(
                id=ctx.ids.next_id("payment"),
                order_id=order_id,
                method=PaymentMethod.BANK_TRANSFER,
                amount=order.totals.total,
                at=at,
            )
            ctx.uow.repository(Order).add(order)
            ctx.uow.repository(Payment).add(payment)
            records = _records(ctx.uow)
            records.write_record(_ORDER_PAYMENTS, order_id, (payment.id,))
            records.write_record(_ORDER_PAYMENT, order_id, payment.id)
            records.write_record(_ORDER_QUOTE, order_id, quote.id)
            if self.stock is not None:  # last: InsufficientStock then holds and saves nothing
                self.stock.hold(order, at)
            return ShopResult(
                order_id=order_id,
                payment_id=payment.id,
                order_state=order.state,
                payment_state=payment.state,
                outcome="approved",
                message=f"on account, {quote.terms.label}; purchase order "
                f"{quote.purchase_order or 'none'}",
            )

        return self._keyed(ctx, command, command.idempotency_key, run)

    def _quote_of(self, ctx: Context, order_id: str) -> SalesQuote:
        ctx.uow.repository(Order).get(order_id)  # NotFound for an unknown order
        quote_id = _records(ctx.uow).read_record(_ORDER_QUOTE, order_id)
        if not isinstance(quote_id, str):
            raise InvalidInput(
                f"order {order_id!r} was not placed from a sales quote: it is not on account"
            )
        return ctx.uow.repository(SalesQuote).get(quote_id)

    def invoice_on_account(self, command: InvoiceOnAccount, ctx: Context) -> Receivable:
        """Invoice the order on account and open its receivable; return the receivable."""

        def run() -> Receivable:
            quote = self._quote_of(ctx, command.order_id)
            done = invoice_of(ctx.uow, command.order_id)
            if done is not None:
                raise InvalidInput(
                    f"order {command.order_id!r} is invoiced already, as {done.number}"
                )
            order = ctx.uow.repository(Order).get(command.order_id)
            at = ctx.clock.now()
            invoice = invoice_order(
                order,
                number=self.numbering.next_number(at),
                at=at,
                seller=self.seller,
                buyer=quote.buyer.party,
                purchase_order=order.purchase_order,
            )
            owed = Receivable.for_invoice(invoice, quote.terms, timezone=self.timezone)
            records = _records(ctx.uow)
            records.write_record(_INVOICES, order.id, invoice)
            records.write_record(_RECEIVABLES, order.id, owed)
            records.write_record(_ACCOUNTS, "orders", (*_account_orders(ctx.uow), order.id))
            return owed

        return self._keyed(ctx, command, command.idempotency_key, run)

    def record_transfer(self, command: RecordTransfer, ctx: Context) -> Receivable:
        """Apply a bank transfer to the order's receivable and capture it on its payment."""

        def run() -> Receivable:
            self._quote_of(ctx, command.order_id)
            owed = receivable_of(ctx.uow, command.order_id)
            if owed is None:
                raise InvalidInput(
                    f"order {command.order_id!r} has not been invoiced: invoice it "
                    "(InvoiceOnAccount) before recording transfers against it"
                )
            at = command.received_at or ctx.clock.now()
            paid = owed.pay(amount=command.amount, at=at, reference=command.bank_reference)
            payment_id = _records(ctx.uow).read_record(_ORDER_PAYMENT, command.order_id)
            assert isinstance(payment_id, str)  # written with the order
            payment = ctx.uow.repository(Payment).get(payment_id)
            payment.capture_succeeded(
                capture_id=f"transfer:{command.bank_reference}",
                amount=command.amount,
                at=at,
                provider_ref=command.bank_reference,
            )
            _records(ctx.uow).write_record(_RECEIVABLES, command.order_id, paid)
            return paid

        fingerprint = request_fingerprint(command, exclude=("bank_reference",))
        return _once(ctx, _TRANSFERS, command.bank_reference, fingerprint, run)

    def overdue_accounts(self, command: OverdueAccounts, ctx: Context) -> tuple[Receivable, ...]:
        """The receivables overdue at ``command.at``, the longest overdue first."""
        return tuple(overdue(receivables(ctx.uow), command.at))
