"""Invoicing: the shop issues invoices and credit notes as it sells and refunds (開立發票, 折讓).

`Invoicing` turns the shop's committed events into the tax documents of
`fourflows.cash.invoices`, kept as one keyed record per order in the unit of
work (`invoices_of`, `credit_notes_of`, `uncredited_of` read it). Each policy
reads the record, adds to it and commits: a policy that raises saves nothing
(the bus offers the event again later).

**When an invoice is issued** (`InvoiceTiming`):

| timing | plan | issued on | what |
| --- | --- | --- | --- |
| per order | prepaid | `OrderPaid` | every open unit and the shipping |
| per order | cash on delivery | `PaymentCaptured`, `PaymentVoided`, `OrderDelivered` | the same |
| per shipment | prepaid, cash on delivery | `ItemsShipped`, `OrderShipped` | the shipment |
| either | on account | nothing here: `fourflows.app.b2b` invoices it | |

Per order, the invoice is `invoice_order`'s; per shipment, `invoice_shipment`'s.

A cash-on-delivery order is invoiced once the cash is in hand: when every
open unit has arrived (the order is ``delivered`` or ``completed``) and no
cash-on-delivery payment of the order has anything left to collect (the
carrier's collections are captured, the uncollected rest voided). Units sent
back undelivered are off the order by then, so they are never invoiced.
Per shipment, an invoice leaves with each parcel and the first one carries
the shipping fee, so the invoices of a fully shipped order add up to it.

**Numbers.** The `InvoiceNumbering` port is not idempotent: every call uses
up a number. So a policy first checks the record (an order invoiced per
order, or a shipment already invoiced, is not invoiced again), then builds
the invoice with a placeholder number, which checks everything the invoice
needs, and only then asks the port for its number. A number is lost only if
the commit that follows fails; the port's own notes say how such gaps are
reported.

**Credit notes** (`CreditNote`). Every `PaymentRefunded`, and every lost
dispute (`DisputeLost`: a chargeback took money back through the bank),
gives back its amount on the order's invoices, the newest first, each up to
what it has left (`Invoice.credit_amount`, in whole cash steps when the
amount allows it: whole dollars for TWD). A credit note's number is its
invoice's number and a count: ``AB12345000-01``. What cannot be credited is
kept as an `UncreditedRefund` naming the reason, and nothing else happens:

* the order has no invoice yet (a refund before the order was invoiced, or
  of a cash-on-delivery order before its cash was collected);
* its invoices are void (a canceled order);
* the refund is more than the invoices have left (only the rest is noted).

Orders on account are credited against the invoice `fourflows.app.b2b`
issued (`invoices_of` lists it first); the credit notes are kept here.

**Cancellation.** When an order is canceled (`OrderCanceled`), each of its
invoices that no credit note refers to is voided (作廢: the sale did not
happen); one that has credit notes is credited for what it has left. A
cash-on-delivery shipment sent back undelivered (`ItemsReturnedUndelivered`)
has its invoice voided the same way: no money was taken for it. (A prepaid
one is refunded, which issues a credit note.) Whether a void is still
allowed in the tax period is the tax office's rule, for the shop to check.

**Idempotency.** Every event is handled once per order: an invoice per order
or per shipment, a credit note per refund (``refund/<payment>/<refund>``)
or dispute (``chargeback/<dispute>``), a void per cancellation or returned
shipment; a redelivered event issues nothing twice and uses no number.

Not covered: an order changed after it was invoiced (`OrderChanged`) is not
invoiced again for what it gained; what it gave back by refund is credited.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import attrs

from fourflows.app.b2b import invoice_of
from fourflows.app.checkout import _payments, _records
from fourflows.app.handlers import Context
from fourflows.app.messagebus import Policy
from fourflows.cash.dispute import DisputeLost
from fourflows.cash.invoices import (
    CreditExceedsInvoice,
    CreditNote,
    Invoice,
    InvoiceNumbering,
    InvoiceTiming,
    Party,
    invoice_order,
    invoice_shipment,
)
from fourflows.cash.payment import (
    PaymentCaptured,
    PaymentMethod,
    PaymentRefunded,
    PaymentVoided,
)
from fourflows.commerce.order import (
    ItemsReturnedUndelivered,
    ItemsShipped,
    Order,
    OrderCanceled,
    OrderDelivered,
    OrderPaid,
    OrderShipped,
    PaymentPlan,
)
from fourflows.errors import InvalidInput
from fourflows.events import DomainEvent, require_aware
from fourflows.money import Money, Precision, round_money
from fourflows.ports import UnitOfWork

__all__ = [
    "Invoicing",
    "UncreditedRefund",
    "credit_notes_of",
    "invoices_of",
    "uncredited_of",
]

_INVOICING = "invoicing"  # order id → its _OrderDocuments
_PLACEHOLDER = "pending-number"
_DELIVERED = ("delivered", "completed")

BuyerOf = Callable[[Order], Party | None]
"""``buyer_of(order)``: the buyer an order's invoice names (with a tax id for B2B), or ``None``."""


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must be non-empty text, not {value!r}")
    return value


def _key(value: object) -> str:
    return _text(value, "an uncredited refund's key")


def _reason(value: object) -> str:
    return _text(value, "an uncredited refund's reason")


def _at(value: object) -> datetime:
    return require_aware(value, "at")


def _positive(_: object, attribute: attrs.Attribute[Money], value: object) -> None:
    if not isinstance(value, Money) or value.amount <= 0:
        raise InvalidInput(f"{attribute.name} must be Money above zero, not {value!r}")


@attrs.frozen(kw_only=True)
class UncreditedRefund:
    """Money given back that no credit note documents, and why.

    ``key`` names what gave it back (``refund/<payment>/<refund>`` or
    ``chargeback/<dispute>``); ``amount`` is the part not credited.
    """

    key: str = attrs.field(converter=_key)
    amount: Money = attrs.field(validator=_positive)
    at: datetime = attrs.field(converter=_at)
    reason: str = attrs.field(converter=_reason)


@attrs.frozen
class _OrderDocuments:
    """An order's invoices and credit notes as issued here, and the events already handled."""

    invoices: tuple[Invoice, ...] = ()
    credit_notes: tuple[CreditNote, ...] = ()
    uncredited: tuple[UncreditedRefund, ...] = ()
    handled: frozenset[str] = frozenset()


def _documents(uow: UnitOfWork, order_id: str) -> _OrderDocuments:
    found = _records(uow).read_record(_INVOICING, order_id)
    return found if isinstance(found, _OrderDocuments) else _OrderDocuments()


def _save(ctx: Context, order_id: str, documents: _OrderDocuments) -> None:
    _records(ctx.uow).write_record(_INVOICING, order_id, documents)
    ctx.uow.commit()


def invoices_of(uow: UnitOfWork, order_id: str) -> tuple[Invoice, ...]:
    """The order's invoices, first issued first, void ones included.

    An order on account lists the invoice `fourflows.app.b2b` issued first.
    """
    on_account = invoice_of(uow, order_id)
    own = _documents(uow, order_id).invoices
    return own if on_account is None else (on_account, *own)


def credit_notes_of(uow: UnitOfWork, order_id: str) -> tuple[CreditNote, ...]:
    """The credit notes issued against the order's invoices, first issued first."""
    return _documents(uow, order_id).credit_notes


def uncredited_of(uow: UnitOfWork, order_id: str) -> tuple[UncreditedRefund, ...]:
    """The refunds and chargebacks of the order no credit note (fully) documents."""
    return _documents(uow, order_id).uncredited


def _notes_for(invoice: Invoice, notes: Sequence[CreditNote]) -> list[CreditNote]:
    return [note for note in notes if note.invoice_number == invoice.number]


def _precision(amount: Money) -> Precision | None:
    """Whole cash steps (whole dollars for TWD) if ``amount`` is made of them, else minor units."""
    cash = Precision.cash(amount.currency)
    return cash if round_money(amount, cash) == amount else None


class Invoicing:
    """The policies that issue the shop's invoices and credit notes (see the module docstring).

    ``numbering`` hands out invoice numbers, ``seller`` is the shop as its
    invoices name it, ``timing`` says whether an order is invoiced once paid
    or per shipment, and ``buyer_of`` names each order's buyer (a business
    with its tax id gets a B2B invoice); without it invoices name no buyer.
    """

    def __init__(
        self,
        numbering: InvoiceNumbering,
        seller: Party,
        *,
        timing: InvoiceTiming = InvoiceTiming.PER_ORDER,
        buyer_of: BuyerOf | None = None,
    ) -> None:
        if not callable(getattr(numbering, "next_number", None)):
            raise InvalidInput(f"numbering must be an InvoiceNumbering, not {numbering!r}")
        if not isinstance(seller, Party):
            raise InvalidInput(f"seller must be a Party, not {seller!r}")
        if not isinstance(timing, InvoiceTiming):
            allowed = ", ".join(f"InvoiceTiming.{t.name}" for t in InvoiceTiming)
            raise InvalidInput(f"timing must be one of {allowed}, not {timing!r}")
        if buyer_of is not None and not callable(buyer_of):
            raise InvalidInput(
                f"buyer_of must be a function of the order or None, not {buyer_of!r}"
            )
        self.numbering = numbering
        self.seller = seller
        self.timing = timing
        self.buyer_of = buyer_of

    def policies(self) -> Mapping[type[DomainEvent], Sequence[Policy]]:
        """The invoicing policies by event type; merge them with the shop's other policies."""
        issuing: dict[type[DomainEvent], Sequence[Policy]]
        if self.timing is InvoiceTiming.PER_ORDER:
            issuing = {
                OrderPaid: (self.invoice_paid_order,),
                PaymentCaptured: (self.invoice_collected_order,),
                PaymentVoided: (self.invoice_collected_order,),
                OrderDelivered: (self.invoice_collected_order,),
            }
        else:
            issuing = {
                ItemsShipped: (self.invoice_shipment,),
                OrderShipped: (self.invoice_shipment,),
            }
        return {
            **issuing,
            PaymentRefunded: (self.credit_refund,),
            DisputeLost: (self.credit_chargeback,),
            OrderCanceled: (self.void_canceled,),
            ItemsReturnedUndelivered: (self.void_returned,),
        }

    # --- issuing invoices --------------------------------------------------------------------

    def _issue(
        self,
        ctx: Context,
        order: Order,
        documents: _OrderDocuments,
        at: datetime,
        build: Callable[..., Invoice],
    ) -> None:
        """Build the invoice with a placeholder number, then number it: no number is wasted."""
        buyer = None if self.buyer_of is None else self.buyer_of(order)
        draft = build(
            number=_PLACEHOLDER,
            at=at,
            seller=self.seller,
            buyer=buyer,
            invoices=documents.invoices,
        )
        invoice = attrs.evolve(draft, number=self.numbering.next_number(at))
        _save(ctx, order.id, attrs.evolve(documents, invoices=(*documents.invoices, invoice)))

    def _invoice_whole_order(self, ctx: Context, order: Order, at: datetime) -> None:
        documents = _documents(ctx.uow, order.id)
        if any(invoice.shipment_id is None for invoice in documents.invoices):
            return  # invoiced already (or its invoice was voided: it is not issued again)
        self._issue(ctx, order, documents, at, lambda **given: invoice_order(order, **given))

    def invoice_paid_order(self, event: OrderPaid, ctx: Context) -> None:
        """Per order: invoice a prepaid order once its payments cover it."""
        order = ctx.uow.repository(Order).get(event.aggregate_id)
        if order.payment_plan is PaymentPlan.PREPAID:
            self._invoice_whole_order(ctx, order, event.occurred_at)

    def invoice_collected_order(
        self, event: PaymentCaptured | PaymentVoided | OrderDelivered, ctx: Context
    ) -> None:
        """Per order: invoice a cash-on-delivery order once it arrived and its cash is collected."""
        order_id = event.aggregate_id if isinstance(event, OrderDelivered) else event.order_id
        order = ctx.uow.repository(Order).get(order_id)
        if order.payment_plan is not PaymentPlan.CASH_ON_DELIVERY or order.state not in _DELIVERED:
            return
        cod = [
            p for p in _payments(ctx.uow, order.id) if p.method is PaymentMethod.CASH_ON_DELIVERY
        ]
        if any(payment.capturable.amount > 0 for payment in cod):
            return  # cash still to collect: the capture or void that settles it comes later
        self._invoice_whole_order(ctx, order, event.occurred_at)

    def invoice_shipment(self, event: ItemsShipped | OrderShipped, ctx: Context) -> None:
        """Per shipment: invoice the shipment's units as it leaves (not orders on account)."""
        order = ctx.uow.repository(Order).get(event.aggregate_id)
        if order.payment_plan is PaymentPlan.ON_ACCOUNT:
            return
        documents = _documents(ctx.uow, order.id)
        if any(invoice.shipment_id == event.shipment_id for invoice in documents.invoices):
            return
        self._issue(
            ctx,
            order,
            documents,
            event.occurred_at,
            lambda **given: invoice_shipment(order, event.shipment_id, **given),
        )

    # --- credit notes ------------------------------------------------------------------------

    def credit_refund(self, event: PaymentRefunded, ctx: Context) -> None:
        """Document a refund with credit notes against the order's invoices."""
        self._credit(
            ctx,
            order_id=event.order_id,
            key=f"refund/{event.aggregate_id}/{event.refund_id}",
            amount=event.amount,
            at=event.occurred_at,
            reason=f"refund {event.refund_id} of payment {event.aggregate_id}",
            refund_id=event.refund_id,
        )

    def credit_chargeback(self, event: DisputeLost, ctx: Context) -> None:
        """Document what a lost dispute took back with credit notes, like a refund."""
        if event.taken_back.amount <= 0:
            return
        self._credit(
            ctx,
            order_id=event.order_id,
            key=f"chargeback/{event.aggregate_id}",
            amount=event.taken_back,
            at=event.occurred_at,
            reason=f"chargeback: dispute {event.aggregate_id} on payment {event.payment_id} lost",
            refund_id=None,
        )

    def _credit(
        self,
        ctx: Context,
        *,
        order_id: str,
        key: str,
        amount: Money,
        at: datetime,
        reason: str,
        refund_id: str | None,
    ) -> None:
        documents = _documents(ctx.uow, order_id)
        if key in documents.handled:
            return
        invoices = invoices_of(ctx.uow, order_id)
        live = [invoice for invoice in invoices if not invoice.is_void]
        notes = list(documents.credit_notes)
        remaining = amount
        for invoice in reversed(live):  # the newest first
            if remaining.amount <= 0:
                break
            earlier = _notes_for(invoice, notes)
            part = min(remaining, invoice.left(earlier))
            if part.amount <= 0:
                continue
            notes.append(_credit_note(invoice, part, earlier, at=at, reason=reason, ref=refund_id))
            remaining = remaining - part
        uncredited = documents.uncredited
        if remaining.amount > 0:
            if not invoices:
                why = f"order {order_id} has no invoice yet"
            elif not live:
                why = f"the invoices of order {order_id} are void"
            else:
                left = amount - remaining
                why = f"its invoices had only {left} left to credit"
            uncredited = (
                *uncredited,
                UncreditedRefund(key=key, amount=remaining, at=at, reason=f"{reason}: {why}"),
            )
        _save(
            ctx,
            order_id,
            attrs.evolve(
                documents,
                credit_notes=tuple(notes),
                uncredited=uncredited,
                handled=documents.handled | {key},
            ),
        )

    # --- voids -------------------------------------------------------------------------------

    def void_canceled(self, event: OrderCanceled, ctx: Context) -> None:
        """Void the canceled order's invoices; credit what is left on those already credited."""
        key = "canceled"
        documents = _documents(ctx.uow, event.aggregate_id)
        if key in documents.handled or not documents.invoices:
            return
        reason = f"order {event.aggregate_id} canceled: {event.reason}"
        invoices: list[Invoice] = []
        notes = list(documents.credit_notes)
        for invoice in documents.invoices:
            earlier = _notes_for(invoice, notes)
            if not invoice.is_void and not earlier:
                invoice = invoice.void(at=max(event.occurred_at, invoice.issued_at), reason=reason)
            elif not invoice.is_void and invoice.left(earlier).amount > 0:
                left = invoice.left(earlier)
                notes.append(
                    _credit_note(invoice, left, earlier, at=event.occurred_at, reason=reason)
                )
            invoices.append(invoice)
        _save(
            ctx,
            event.aggregate_id,
            attrs.evolve(
                documents,
                invoices=tuple(invoices),
                credit_notes=tuple(notes),
                handled=documents.handled | {key},
            ),
        )

    def void_returned(self, event: ItemsReturnedUndelivered, ctx: Context) -> None:
        """Void the invoice of a cash-on-delivery shipment sent back undelivered."""
        order = ctx.uow.repository(Order).get(event.aggregate_id)
        if order.payment_plan is not PaymentPlan.CASH_ON_DELIVERY:
            return  # a prepaid shipment sent back is refunded: the refund is credited
        documents = _documents(ctx.uow, order.id)
        reason = f"shipment {event.shipment_id} came back undelivered: {event.reason}"
        invoices = tuple(
            invoice.void(at=max(event.occurred_at, invoice.issued_at), reason=reason)
            if invoice.shipment_id == event.shipment_id
            and not invoice.is_void
            and not _notes_for(invoice, documents.credit_notes)
            else invoice
            for invoice in documents.invoices
        )
        if invoices != documents.invoices:
            _save(ctx, order.id, attrs.evolve(documents, invoices=invoices))


def _credit_note(
    invoice: Invoice,
    amount: Money,
    earlier: Sequence[CreditNote],
    *,
    at: datetime,
    reason: str,
    ref: str | None = None,
) -> CreditNote:
    """A credit note of ``amount`` on ``invoice``, numbered ``<invoice>-<count>``."""

    def credit(precision: Precision | None) -> CreditNote:
        return invoice.credit_amount(
            amount,
            number=f"{invoice.number}-{len(earlier) + 1:02d}",
            at=max(at, invoice.issued_at),
            credit_notes=earlier,
            reason=reason,
            refund_id=ref,
            precision=precision,
        )

    precision = _precision(amount)
    if precision is not None:
        try:
            return credit(precision)
        except CreditExceedsInvoice:
            pass  # a line's share in whole cash steps overshoots it: spread in minor units
    return credit(None)
