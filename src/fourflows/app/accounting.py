"""Accounting: the shop's money movements posted to its double-entry ledger (金流).

`Accounting` turns the shop's committed events into journal entries on one
`fourflows.cash.ledger.Ledger`, kept as a keyed record in the unit of work
(`ledger_of` reads it). Each policy reads the ledger, posts, writes it back and
commits: the posting commits with nothing else, and a policy that raises
posts nothing (the bus offers the event again later).

| event | entry (`fourflows.cash.ledger`) | entry id |
| --- | --- | --- |
| `OrderPaid`, `OrderApproved` | the sale (`sale_entry`), once per order | ``<order>/sale`` |
| `PaymentCaptured` | the capture by tender (`capture_entry`) | ``<payment>/capture/<capture>`` |
| `PaymentRefunded` | the refund (`refund_entry`) | ``<payment>/refund/<refund>`` |
| `PaymentRemitted` | the COD remittance, less its fee | ``<payment>/remittance/<capture>`` |
| `OrderCanceled` | the sale undone, for what was not captured | ``<order>/sale/canceled`` |
| `PaymentAuthorized` | a card or e-wallet hold, pending | ``<payment>/authorization`` |

Every id is made from the order, payment, capture or refund the event names,
so an event delivered twice posts once; each entry links its order, its
payment and the causing event (`Cause`: aggregate id and sequence).

**The sale** is read from the order's totals when the policy runs: the
customer owes the total with tax (debit customer receivable); tax payable is
the order's tax; shipping revenue is the shipping fee net of its tax;
discounts given are the order's discount as the order shows it (tax included
when prices include tax); sales revenue is what balances the entry, so the
net revenue (sales revenue less discounts) is the goods net of tax.

**Tenders.** A capture debits its tender's account (`tender_account`):
gateway clearing for card and e-wallet, cash for bank transfer, COD in
transit for cash on delivery, the store-credit or gift-card liability for the
shop-held tenders.

**Stored value.** Loading a gift card and issuing store credit
(`fourflows.app.checkout.LoadGiftCard`, ``IssueStoreCredit``) record no event:
they only change the `fourflows.cash.balances.StoredValueAccount` record.
So the loads are posted when the ledger first meets the account: before a
shop-held capture is posted, every load of the account it was spent from
that the ledger lacks is posted (id ``stored-value/<account>/<entry>``, at
the capture's time): a gift card sold for cash (debit cash, credit gift-card
liability), store credit as goodwill (debit customer compensation, credit
store-credit liability). The liabilities never go below zero.

**Cancellation.** A canceled order whose sale was posted has its sale undone
for the part the payments did not capture (the sale total less what was
captured): in full by `Ledger.reverse` when nothing was captured, else by a
scaled entry (in the currency's cash step, whole dollars for TWD, when the
amounts allow it); what was captured is undone by its refund entries, which
the refunds account keeps.

**Commands without events.** `RecordGatewayFee` posts a fee the provider
kept back from a payment (debit gateway fees, credit gateway clearing), id
``<payment>/fee/<idempotency key>``. `RecordCodRemittance` records that the
carrier paid over the cash it collected for a capture, keeping its
collection fee for the `PaymentRemitted` policy.

`reconcile_shop` compares the ledger with every payment the ledger's
policies have seen created (`fourflows.cash.ledger.reconcile`).

**Authorisations** of card and e-wallet payments are held as pending
(two-phase) entries: money promised at the provider, in no balance. Since
every capture posts its own entry, the hold is a memo, released
(`Ledger.void_pending`) exactly once, when the authorisation closes: voided,
expired, canceled, or captured with nothing left to capture.

Not posted yet: a change to an order after its sale (`OrderChanged`: the
difference in the total), disputes and chargebacks, and a COD parcel
returned undelivered (its sale stays on the receivable).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from pydantic import Field

from fourflows.app.checkout import _TENDER_ACCOUNTS, _account, _payments, _records
from fourflows.app.commands import Command
from fourflows.app.handlers import Context
from fourflows.app.messagebus import CommandHandler, Policy
from fourflows.cash.balances import AccountKind, EntryKind
from fourflows.cash.ledger import (
    CASH,
    CUSTOMER_COMPENSATION,
    CUSTOMER_RECEIVABLE,
    DISCOUNTS_GIVEN,
    GIFT_CARD_LIABILITY,
    Cause,
    ChartOfAccounts,
    Difference,
    JournalEntry,
    JournalLine,
    Ledger,
    Side,
    TrialBalance,
    authorization_hold,
    cod_remittance_entry,
    fee_entry,
    payment_event_entry,
    reconcile,
    sale_entry,
    store_credit_issued_entry,
)
from fourflows.cash.payment import (
    Payment,
    PaymentAuthorized,
    PaymentCanceled,
    PaymentCaptured,
    PaymentCreated,
    PaymentExpired,
    PaymentMethod,
    PaymentRefunded,
    PaymentRemitted,
    PaymentTotals,
    PaymentVoided,
)
from fourflows.commerce.order import Order, OrderApproved, OrderCanceled, OrderPaid
from fourflows.errors import CurrencyMismatch, IdempotencyConflict, InvalidInput, NotFound
from fourflows.events import DomainEvent
from fourflows.money import Money, MoneyField, Precision, allocate, round_money
from fourflows.ports import UnitOfWork

__all__ = [
    "Accounting",
    "RecordCodRemittance",
    "RecordGatewayFee",
    "authorization_id",
    "ledger_of",
    "reconcile_shop",
    "sale_id",
]

_ACCOUNTING = "accounting"
_LEDGER = "ledger"
_PAYMENTS = "payments"
_REMITTANCE_FEES = "accounting-remittance-fee"

_Key = Field(min_length=1, max_length=200)
_HELD_AT_PROVIDER = (PaymentMethod.CARD, PaymentMethod.E_WALLET)


class RecordGatewayFee(Command):
    """The provider kept ``amount`` back from payment ``payment_id`` as its fee.

    Posted as ``<payment id>/fee/<idempotency key>``; the same key again with
    the same amount changes nothing, with another amount it is refused.
    """

    idempotency_key: str = _Key
    payment_id: str = _Key
    amount: MoneyField


class RecordCodRemittance(Command):
    """The carrier paid over the cash it collected for capture ``capture_id`` (cash on delivery).

    ``remittance_ref`` is the carrier's settlement reference;
    ``collection_fee``, if any, is what the carrier kept for collecting.
    """

    payment_id: str = _Key
    capture_id: str = _Key
    remittance_ref: str = _Key
    collection_fee: MoneyField | None = None


def sale_id(order_id: str) -> str:
    """The id of the sale entry of ``order_id`` (its cancellation adds ``/canceled``)."""
    return f"{order_id}/sale"


def authorization_id(payment_id: str) -> str:
    """The id of the pending entry that holds payment ``payment_id``'s authorisation."""
    return f"{payment_id}/authorization"


def ledger_of(uow: UnitOfWork, chart: ChartOfAccounts | None = None) -> Ledger:
    """The shop's ledger as this unit of work sees it (an empty one over ``chart`` at first)."""
    found = _records(uow).read_record(_ACCOUNTING, _LEDGER)
    return found if isinstance(found, Ledger) else Ledger.open(chart)


def _known_payments(uow: UnitOfWork) -> tuple[str, ...]:
    found = _records(uow).read_record(_ACCOUNTING, _PAYMENTS)
    return found if isinstance(found, tuple) else ()


def reconcile_shop(uow: UnitOfWork) -> tuple[Difference, ...]:
    """Each difference between the ledger and the payments' captured and refunded totals.

    The payments compared are those whose creation the accounting policies
    saw, and any the ledger names; empty when the ledger agrees with them all.
    """
    repository = uow.repository(Payment)
    totals: dict[str, PaymentTotals] = {}
    for payment_id in _known_payments(uow):
        totals[payment_id] = repository.get(payment_id).totals
    return reconcile(ledger_of(uow), totals)


def _has(ledger: Ledger, entry_id: str) -> JournalEntry | None:
    try:
        return ledger.entry(entry_id)
    except NotFound:
        return None


def _save(ctx: Context, before: Ledger, after: Ledger) -> None:
    if after is not before:
        _records(ctx.uow).write_record(_ACCOUNTING, _LEDGER, after)
        ctx.uow.commit()


class Accounting:
    """The policies and commands that keep the shop's ledger (see the module docstring).

    ``chart`` is the chart of accounts the ledger opens with (default:
    `ChartOfAccounts.default`); a shop's own accounts are added to it.
    """

    def __init__(self, chart: ChartOfAccounts | None = None) -> None:
        if chart is not None and not isinstance(chart, ChartOfAccounts):
            raise InvalidInput(f"chart must be a ChartOfAccounts or None, not {chart!r}")
        self.chart = ChartOfAccounts.default() if chart is None else chart

    def ledger(self, uow: UnitOfWork) -> Ledger:
        """The shop's ledger (an empty one over this chart before the first posting)."""
        return ledger_of(uow, self.chart)

    def trial_balance(self, uow: UnitOfWork) -> TrialBalance:
        """The ledger's trial balance."""
        return self.ledger(uow).trial_balance()

    def policies(self) -> Mapping[type[DomainEvent], Sequence[Policy]]:
        """The posting policies by event type; merge them with the shop's other policies."""
        return {
            PaymentCreated: (self.remember_payment,),
            OrderPaid: (self.post_sale,),
            OrderApproved: (self.post_sale,),
            OrderCanceled: (self.cancel_sale,),
            PaymentCaptured: (self.post_payment_event, self.close_authorization),
            PaymentRefunded: (self.post_payment_event,),
            PaymentRemitted: (self.post_payment_event,),
            PaymentAuthorized: (self.hold_authorization,),
            PaymentVoided: (self.close_authorization,),
            PaymentExpired: (self.close_authorization,),
            PaymentCanceled: (self.close_authorization,),
        }

    def handlers(self) -> dict[type[Command], CommandHandler]:
        """The accounting commands' handlers; add them to the bus's commands."""
        return {
            RecordGatewayFee: self.record_gateway_fee,
            RecordCodRemittance: self.record_cod_remittance,
        }

    # --- policies -------------------------------------------------------------------------

    def remember_payment(self, event: PaymentCreated, ctx: Context) -> None:
        """Note a new payment, so that `reconcile_shop` compares it with the ledger."""
        known = _known_payments(ctx.uow)
        if event.aggregate_id not in known:
            _records(ctx.uow).write_record(_ACCOUNTING, _PAYMENTS, (*known, event.aggregate_id))
            ctx.uow.commit()

    def post_sale(self, event: OrderPaid | OrderApproved, ctx: Context) -> None:
        """Post the order's sale once, from its totals (nothing if it no longer owes anything)."""
        ledger = self.ledger(ctx.uow)
        if _has(ledger, sale_id(event.aggregate_id)) is not None:
            return
        order = ctx.uow.repository(Order).get(event.aggregate_id)
        entry = _sale_of(order, event)
        if entry is not None:
            _save(ctx, ledger, ledger.post(entry))

    def cancel_sale(self, event: OrderCanceled, ctx: Context) -> None:
        """Undo the posted sale of a canceled order for the part its payments did not capture."""
        ledger = self.ledger(ctx.uow)
        sale = _has(ledger, sale_id(event.aggregate_id))
        cancel_id = f"{sale_id(event.aggregate_id)}/canceled"
        if sale is None or _has(ledger, cancel_id) is not None:
            return
        owed = _line(sale, CUSTOMER_RECEIVABLE, Side.DEBIT)
        captured = Decimal(0)
        for payment in _payments(ctx.uow, event.aggregate_id):
            if payment.currency == owed.code:
                captured += payment.totals.captured.amount
        unpaid = owed - Money(captured, owed.code)
        if unpaid.amount <= 0:
            return  # all of it was captured: its refunds undo it
        description = f"order {event.aggregate_id} canceled: {event.reason}"
        if unpaid == owed:
            after = ledger.reverse(
                sale.id, id=cancel_id, at=event.occurred_at, description=description
            )
        else:
            after = ledger.post(
                JournalEntry(
                    id=cancel_id,
                    at=event.occurred_at,
                    description=description,
                    lines=_undone(sale, unpaid),
                    kind="cancellation",
                    order_id=event.aggregate_id,
                    cause=Cause.of(event),
                )
            )
        _save(ctx, ledger, after)

    def post_payment_event(
        self, event: PaymentCaptured | PaymentRefunded | PaymentRemitted, ctx: Context
    ) -> None:
        """Post a capture, refund or COD remittance (shop-held captures after their loads)."""
        payment = ctx.uow.repository(Payment).get(event.aggregate_id)
        fee = None
        if isinstance(event, PaymentRemitted):
            found = _records(ctx.uow).read_record(
                _REMITTANCE_FEES, f"{payment.id}/{event.capture_id}"
            )
            fee = found if isinstance(found, Money) else None
        entry = payment_event_entry(event, method=payment.method, collection_fee=fee)
        if entry is None:  # pragma: no cover - every event routed here moves money
            return
        ledger = self.ledger(ctx.uow)
        entries: list[JournalEntry] = []
        if isinstance(event, PaymentCaptured) and payment.method.is_shop_held:
            entries.extend(_stored_value_loads(ctx.uow, ledger, payment, event.occurred_at))
        entries.append(entry)
        _save(ctx, ledger, ledger.post_all(entries))

    def hold_authorization(self, event: PaymentAuthorized, ctx: Context) -> None:
        """Hold a card or e-wallet authorisation as a pending entry (money held at the provider)."""
        payment = ctx.uow.repository(Payment).get(event.aggregate_id)
        if payment.method not in _HELD_AT_PROVIDER:
            return
        ledger = self.ledger(ctx.uow)
        if _has(ledger, authorization_id(payment.id)) is not None:
            return  # held once per payment
        entry = authorization_hold(
            id=authorization_id(payment.id),
            at=event.occurred_at,
            order_id=payment.order_id,
            payment_id=payment.id,
            method=payment.method,
            amount=event.amount,
            cause=Cause.of(event),
        )
        _save(ctx, ledger, ledger.hold(entry))

    def close_authorization(
        self,
        event: PaymentCaptured | PaymentVoided | PaymentExpired | PaymentCanceled,
        ctx: Context,
    ) -> None:
        """Release the authorisation's hold once nothing more can be captured on it.

        A void, an expiry or a cancellation closes it; a capture closes it when
        it leaves nothing to capture. The captures post their own entries.
        """
        if isinstance(event, PaymentCaptured):
            left = event.totals.capturable + event.totals.capture_pending
            if left.amount > 0:
                return
        ledger = self.ledger(ctx.uow)
        hold_id = authorization_id(event.aggregate_id)
        if _has(ledger, hold_id) is None or ledger.settlement(hold_id) is not None:
            return
        _save(ctx, ledger, ledger.void_pending(hold_id, at=event.occurred_at))

    # --- commands -------------------------------------------------------------------------

    def record_gateway_fee(self, command: RecordGatewayFee, ctx: Context) -> JournalEntry:
        """Post the provider's fee on a payment; return the entry (the first one on a repeat)."""
        payment = ctx.uow.repository(Payment).get(command.payment_id)
        if command.amount.code != payment.currency:
            raise CurrencyMismatch(payment.currency, command.amount.code, "record a fee")
        entry = fee_entry(
            id=f"{payment.id}/fee/{command.idempotency_key}",
            at=ctx.clock.now(),
            amount=command.amount,
            order_id=payment.order_id,
            payment_id=payment.id,
            description=f"gateway fee on payment {payment.id}",
        )
        ledger = self.ledger(ctx.uow)
        known = _has(ledger, entry.id)
        if known is not None:
            if known.lines != entry.lines:
                raise IdempotencyConflict(
                    command.idempotency_key, recorded=known.fingerprint(), given=entry.fingerprint()
                )
            return known
        _save(ctx, ledger, ledger.post(entry))
        return entry

    def record_cod_remittance(self, command: RecordCodRemittance, ctx: Context) -> PaymentTotals:
        """Record a carrier's remittance of a COD capture (the policy posts it); return totals.

        The fee is checked first (same currency, less than the capture), so a
        bad one changes nothing; the same remittance again changes nothing.
        """
        payment = ctx.uow.repository(Payment).get(command.payment_id)
        if payment.method is not PaymentMethod.CASH_ON_DELIVERY:
            raise InvalidInput(
                f"payment {payment.id} is paid by {payment.method.value}: "
                "only cash on delivery is remitted by a carrier"
            )
        capture = payment.captures.get(command.capture_id)
        if capture is None:
            raise NotFound(
                f"capture on payment {payment.id!r} with id", command.capture_id, payment.captures
            )
        at = ctx.clock.now()
        cod_remittance_entry(  # a dry run: refuses a fee in another currency or too large
            id="check",
            at=at,
            order_id=payment.order_id,
            payment_id=payment.id,
            amount=capture.amount,
            fee=command.collection_fee,
        )
        if payment.record_remittance(
            capture_id=command.capture_id, remittance_ref=command.remittance_ref, at=at
        ):
            if command.collection_fee is not None and command.collection_fee.amount:
                _records(ctx.uow).write_record(
                    _REMITTANCE_FEES,
                    f"{payment.id}/{command.capture_id}",
                    command.collection_fee,
                )
            ctx.uow.commit()
        return payment.totals


# --- entries ---------------------------------------------------------------------------------


def _sale_of(order: Order, event: DomainEvent) -> JournalEntry | None:
    totals = order.totals
    if totals.total.amount <= 0:
        return None
    shipping = Money.zero(order.currency)
    if order.shipping is not None and totals.shipping.amount > 0:
        shipping = order.shipping.gross - order.shipping.tax
    goods = totals.total - totals.tax - shipping + totals.discount
    return sale_entry(
        id=sale_id(order.id),
        at=event.occurred_at,
        order_id=order.id,
        goods=goods,
        shipping=shipping,
        tax=totals.tax,
        discount=totals.discount,
        cause=Cause.of(event),
        description=f"order {order.id} sold",
    )


def _line(entry: JournalEntry, account: str, side: Side) -> Money:
    for line in entry.lines:
        if line.account == account and line.side is side:
            return line.amount
    raise NotFound(f"{side.value} line of entry {entry.id!r} on account", account)


def _undone(sale: JournalEntry, unpaid: Money) -> list[JournalLine]:
    """The sale's lines on the other side, scaled so the receivable gets back ``unpaid``."""
    owed = _line(sale, CUSTOMER_RECEIVABLE, Side.DEBIT)
    discount = Money.zero(owed.code)
    if any(line.account == DISCOUNTS_GIVEN for line in sale.lines):
        discount = _line(sale, DISCOUNTS_GIVEN, Side.DEBIT)
    step = Precision.cash(owed.code)  # whole dollars for TWD, if the sale is in them
    amounts = [line.amount.amount for line in sale.lines] + [unpaid.amount]
    if any(value % step.quantum for value in amounts):
        step = Precision.minor_unit(owed.code)
    discount_part = round_money(discount * unpaid.amount / owed.amount, step)
    credits = [line for line in sale.lines if line.side is Side.CREDIT]
    parts = allocate(unpaid + discount_part, [line.amount for line in credits], precision=step)
    lines = [
        JournalLine.debit(line.account, part)
        for line, part in zip(credits, parts, strict=True)
        if part.amount
    ]
    lines.append(JournalLine.credit(CUSTOMER_RECEIVABLE, unpaid))
    if discount_part.amount:
        lines.append(JournalLine.credit(DISCOUNTS_GIVEN, discount_part))
    return lines


def _stored_value_loads(
    uow: UnitOfWork, ledger: Ledger, payment: Payment, at: datetime
) -> Iterable[JournalEntry]:
    """The loads of the account ``payment`` was spent from that the ledger has not posted."""
    account_id = _records(uow).read_record(_TENDER_ACCOUNTS, payment.id)
    account = None if not isinstance(account_id, str) else _account(uow, account_id)
    if account is None:
        return []
    made: list[JournalEntry] = []
    for entry in account.entries:
        if entry.kind is not EntryKind.LOAD:
            continue
        entry_id = f"stored-value/{account.id}/{entry.id}"
        if _has(ledger, entry_id) is not None:
            continue
        if account.kind is AccountKind.GIFT_CARD:
            made.append(
                JournalEntry(
                    id=entry_id,
                    at=at,
                    description=f"gift card {account.id} loaded",
                    lines=[
                        JournalLine.debit(CASH, entry.amount),
                        JournalLine.credit(GIFT_CARD_LIABILITY, entry.amount),
                    ],
                    kind="gift_card",
                )
            )
        else:
            made.append(
                store_credit_issued_entry(
                    id=entry_id,
                    at=at,
                    amount=entry.amount,
                    debit_account=CUSTOMER_COMPENSATION,
                    description=f"store credit {account.id} issued",
                )
            )
    return made
