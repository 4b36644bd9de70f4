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
| `OrderChanged` | the sale trued up to the new totals | ``<order>/sale/change/<id>`` |
| `OrderChanged` | an overpayment given back | ``<order>/sale/change/<id>/given-back`` |
| `DisputeLost` | the chargeback, like a refund | ``<payment>/chargeback/<dispute>`` |
| `ItemsReturnedUndelivered` | the sale settled to payments | ``<order>/sale/returned/<shipment>`` |
| `PaymentCaptured`, `PaymentVoided` (*) | the sale settled to the payments | see (*) |

(*) Of a canceled, delivered or completed order: ``<order>/sale/settled/<payment>/<sequence>``.

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
Posting them as they happen would need an event from the checkout (or a
wrapped command handler in the shop's wiring); until the checkout records
one, the liability shows only the loads of accounts already spent from.

**Closing an order: the sale settled to its payments.** Once an order is
closed for money (canceled, sent back whole, or delivered or completed), its
customer owes what its payments still hold and nothing more. So when it is
canceled (`OrderCanceled`), when a parcel comes back undelivered
(`ItemsReturnedUndelivered`: cash on delivery never collected), and when a
payment of a canceled, delivered or completed order is captured or voided
later (a capture that was in flight when the order was canceled; the
uncollected rest of a COD payment voided once the last parcel arrived), the
sale is settled: what the order's non-payment entries leave on the
receivable is brought to what the payments captured plus what they still
hold. A shortfall undoes the sale for that part: by `Ledger.reverse` of the
whole sale when nothing was captured; account by account when the order's
own totals now come to what the payments took and hold (the units of a
parcel sent back came off the order: its goods and their tax, the shipping
fee kept); else by an entry scaled from the sale's lines (in the currency's
cash step, whole dollars for TWD, when the amounts allow it). A late
capture reinstates the sale for what it took, so the
receivable comes back to zero and the refund that gives it back keeps it in
the refunds account. What was captured is undone by its refund entries,
which the refunds account keeps. The settling entry is computed from the
payments when its policy runs, so a redelivered event finds nothing left to
settle.

**Order changes** (`OrderChanged`, after the sale was posted; before it,
the sale is posted later from the changed totals). The sale is trued up to
the order's new totals, account by account: the difference between the
sale entry the new totals make and the order's sale and change entries so
far (a dearer service: more shipping revenue and tax; fewer units: less
sales revenue, discount and tax). Money the customer paid beyond the new
total and that the change gave back by refund is not a return: its refund
entry stays as it is (reconciliation reads it), and a second entry moves it
from refunds back onto the receivable (debit customer receivable, credit
refunds, with no payment link), so the refunds account keeps only returns.
That amount is what the payments captured, plus what they still hold, less
what the order's sale now comes to, at most what the payments have refunded
beyond earlier such entries. Held money released by a void, a new COD
payment opened, or an extra payment authorised needs nothing more: the
payments' own entries follow.

**Disputes.** A lost dispute (`DisputeLost`) took ``taken_back`` back
through the customer's bank: it is posted like a refund, linked to the
payment (debit refunds, credit the tender's refund account: gateway
clearing for a card), kind ``"chargeback"``. `reconcile_shop` counts what
lost disputes took back as refunded, as
`fourflows.app.checkout.payment_figures` does. An opened or won dispute
moves no money and posts nothing.

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

Not posted: the provider's dispute fees (no event reports them; post one
with `RecordGatewayFee`), and stored-value loads before they are spent (see
above). A change that gave money back by a refund the gateway declined
leaves the receivable below zero: the shop owes the customer that amount.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal

import attrs
from pydantic import Field

from fourflows.app.checkout import (
    _TENDER_ACCOUNTS,
    _account,
    _payments,
    _records,
    disputes_of,
)
from fourflows.app.commands import Command
from fourflows.app.handlers import Context
from fourflows.app.messagebus import CommandHandler, Policy
from fourflows.cash.balances import AccountKind, EntryKind
from fourflows.cash.dispute import DisputeLost
from fourflows.cash.ledger import (
    CASH,
    CUSTOMER_COMPENSATION,
    CUSTOMER_RECEIVABLE,
    DISCOUNTS_GIVEN,
    GIFT_CARD_LIABILITY,
    REFUNDS,
    SALES_REVENUE,
    SHIPPING_REVENUE,
    TAX_PAYABLE,
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
    tender_account,
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
from fourflows.commerce.order import (
    ItemsReturnedUndelivered,
    Order,
    OrderApproved,
    OrderCanceled,
    OrderChanged,
    OrderPaid,
)
from fourflows.errors import CurrencyMismatch, IdempotencyConflict, InvalidInput, NotFound
from fourflows.events import DomainEvent
from fourflows.money import Money, MoneyField, Precision, allocate, round_money, sum_money
from fourflows.ports import UnitOfWork

__all__ = [
    "Accounting",
    "RecordCodRemittance",
    "RecordGatewayFee",
    "authorization_id",
    "ledger_of",
    "reconcile_shop",
    "sale_id",
    "save_ledger",
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


def save_ledger(uow: UnitOfWork, ledger: Ledger) -> None:
    """Stage ``ledger`` as the shop's ledger in ``uow``; it is saved when the caller commits."""
    _records(uow).write_record(_ACCOUNTING, _LEDGER, ledger)


def _known_payments(uow: UnitOfWork) -> tuple[str, ...]:
    found = _records(uow).read_record(_ACCOUNTING, _PAYMENTS)
    return found if isinstance(found, tuple) else ()


def reconcile_shop(uow: UnitOfWork) -> tuple[Difference, ...]:
    """Each difference between the ledger and the payments' captured and refunded totals.

    The payments compared are those whose creation the accounting policies
    saw, and any the ledger names; empty when the ledger agrees with them all.
    What lost disputes took back counts as refunded (their chargeback entries).
    """
    repository = uow.repository(Payment)
    totals: dict[str, _Figures] = {}
    for payment_id in _known_payments(uow):
        payment = repository.get(payment_id)
        charged_back = [
            dispute.taken_back
            for dispute in disputes_of(uow, payment.order_id)
            if dispute.payment_id == payment.id
        ]
        totals[payment_id] = _Figures(
            captured=payment.totals.captured,
            refunded=sum_money([payment.totals.refunded, *charged_back]),
        )
    return reconcile(ledger_of(uow), totals)


@attrs.frozen
class _Figures:
    """A payment's figures as reconciliation reads them: lost disputes count as refunded."""

    captured: Money
    refunded: Money


def _has(ledger: Ledger, entry_id: str) -> JournalEntry | None:
    try:
        return ledger.entry(entry_id)
    except NotFound:
        return None


def _save(ctx: Context, before: Ledger, after: Ledger) -> None:
    if after is not before:
        save_ledger(ctx.uow, after)
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
            OrderChanged: (self.post_change,),
            ItemsReturnedUndelivered: (self.settle_returned,),
            DisputeLost: (self.post_chargeback,),
            PaymentCaptured: (
                self.post_payment_event,
                self.close_authorization,
                self.settle_closed_order,
            ),
            PaymentRefunded: (self.post_payment_event,),
            PaymentRemitted: (self.post_payment_event,),
            PaymentAuthorized: (self.hold_authorization,),
            PaymentVoided: (self.close_authorization, self.settle_closed_order),
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
        _settle(
            ctx,
            event.aggregate_id,
            f"{sale_id(event.aggregate_id)}/canceled",
            event,
            f"order {event.aggregate_id} canceled: {event.reason}",
        )

    def settle_returned(self, event: ItemsReturnedUndelivered, ctx: Context) -> None:
        """Settle the sale of an order whose parcel came back undelivered (COD not collected)."""
        _settle(
            ctx,
            event.aggregate_id,
            f"{sale_id(event.aggregate_id)}/returned/{event.shipment_id}",
            event,
            f"order {event.aggregate_id}: shipment {event.shipment_id} came back undelivered",
        )

    def settle_closed_order(self, event: PaymentCaptured | PaymentVoided, ctx: Context) -> None:
        """Settle the sale of a canceled, delivered or completed order its payment moved on.

        A capture in flight when the order was canceled, and the uncollected
        rest of a COD payment voided after the last delivery, land here.
        """
        payment = ctx.uow.repository(Payment).get(event.aggregate_id)
        order = ctx.uow.repository(Order).get(payment.order_id)
        if order.state not in _CLOSED:
            return
        _settle(
            ctx,
            order.id,
            f"{sale_id(order.id)}/settled/{payment.id}/{event.sequence}",
            event,
            f"order {order.id} settled to its payments after payment {payment.id} moved",
        )

    def post_change(self, event: OrderChanged, ctx: Context) -> None:
        """True the posted sale up to the changed order; give back an overpayment's refund."""
        ledger = self.ledger(ctx.uow)
        sale = _has(ledger, sale_id(event.aggregate_id))
        change_id = f"{sale_id(event.aggregate_id)}/change/{event.change_id}"
        if sale is None or _has(ledger, change_id) is not None:
            return  # not sold yet (the sale will read the new totals), or posted already
        order = ctx.uow.repository(Order).get(event.aggregate_id)
        code = _line(sale, CUSTOMER_RECEIVABLE, Side.DEBIT).code
        target = _signed_lines(_sale_of(order, event), code)
        basis = _net_lines(ledger, order.id, code, kinds=_SALE_KINDS)
        delta = {k: target.get(k, Decimal(0)) - basis.get(k, Decimal(0)) for k in target | basis}
        lines = _lines_of(delta, code)
        entries: list[JournalEntry] = []
        if lines:
            entries.append(
                JournalEntry(
                    id=change_id,
                    at=event.occurred_at,
                    description=(
                        f"order {order.id} changed ({event.change_id}): "
                        f"{event.previous_total} -> {event.new_total}"
                    ),
                    lines=lines,
                    kind="sale_change",
                    order_id=order.id,
                    cause=Cause.of(event),
                )
            )
        sold = _sold(ledger, order.id, code) + delta.get(CUSTOMER_RECEIVABLE, Decimal(0))
        captured, held, refunded = _payment_sums(ctx.uow, order.id, code)
        given_back_before = -_net_lines(ledger, order.id, code, kinds=("overpayment",)).get(
            REFUNDS, Decimal(0)
        )
        overpaid = min(captured + held - sold, refunded - given_back_before)
        if overpaid > 0:
            amount = Money(overpaid, code)
            entries.append(
                JournalEntry(
                    id=f"{change_id}/given-back",
                    at=event.occurred_at,
                    description=(
                        f"order {order.id} changed ({event.change_id}): {amount} refunded "
                        "repays what was paid beyond the new total, not a return"
                    ),
                    lines=[
                        JournalLine.debit(CUSTOMER_RECEIVABLE, amount),
                        JournalLine.credit(REFUNDS, amount),
                    ],
                    kind="overpayment",
                    order_id=order.id,
                    cause=Cause.of(event),
                )
            )
        if entries:
            _save(ctx, ledger, ledger.post_all(entries))

    def post_chargeback(self, event: DisputeLost, ctx: Context) -> None:
        """Post what a lost dispute took back through the bank, like a refund of the payment."""
        if event.taken_back.amount <= 0:
            return
        payment = ctx.uow.repository(Payment).get(event.payment_id)
        entry = JournalEntry(
            id=f"{payment.id}/chargeback/{event.aggregate_id}",
            at=event.occurred_at,
            description=(
                f"dispute {event.aggregate_id} lost: {event.taken_back} of payment "
                f"{payment.id} taken back through the bank ({event.reason})"
            ),
            lines=[
                JournalLine.debit(REFUNDS, event.taken_back),
                JournalLine.credit(tender_account(payment.method, refund=True), event.taken_back),
            ],
            kind="chargeback",
            order_id=payment.order_id,
            payment_id=payment.id,
            cause=Cause.of(event),
        )
        ledger = self.ledger(ctx.uow)
        _save(ctx, ledger, ledger.post(entry))

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


# --- settling and truing up a sale -------------------------------------------------------------

_CLOSED = ("canceled", "delivered", "completed")
"""Order states in which the order's payments decide what its customer still owes."""
_SALE_KINDS = ("sale", "sale_change")
"""The kinds of entry that hold an order's sale at its current totals."""
_SALE_ACCOUNTS = (
    CUSTOMER_RECEIVABLE,
    DISCOUNTS_GIVEN,
    SALES_REVENUE,
    SHIPPING_REVENUE,
    TAX_PAYABLE,
)


def _order_entries(ledger: Ledger, order_id: str) -> list[JournalEntry]:
    """The order's entries that no payment made: its sale and what adjusted it."""
    return [e for e in ledger.entries if e.order_id == order_id and e.payment_id is None]


def _signed_lines(entry: JournalEntry | None, code: str) -> dict[str, Decimal]:
    """An entry's lines in ``code`` by account, debits positive and credits negative."""
    found: dict[str, Decimal] = {}
    for line in () if entry is None else entry.lines:
        if line.amount.code == code:
            sign = 1 if line.side is Side.DEBIT else -1
            found[line.account] = found.get(line.account, Decimal(0)) + sign * line.amount.amount
    return found


def _net_lines(
    ledger: Ledger, order_id: str, code: str, *, kinds: Sequence[str] | None = None
) -> dict[str, Decimal]:
    """The net of the order's non-payment entries (of ``kinds``), by account (debits positive)."""
    net: dict[str, Decimal] = {}
    for entry in _order_entries(ledger, order_id):
        if kinds is None or entry.kind in kinds:
            for account, value in _signed_lines(entry, code).items():
                net[account] = net.get(account, Decimal(0)) + value
    return net


def _sold(ledger: Ledger, order_id: str, code: str) -> Decimal:
    """What the order's non-payment entries leave on its receivable."""
    total = Decimal(0)
    for entry in _order_entries(ledger, order_id):
        total += _signed_lines(entry, code).get(CUSTOMER_RECEIVABLE, Decimal(0))
    return total


def _lines_of(delta: Mapping[str, Decimal], code: str) -> list[JournalLine]:
    """Signed amounts by account as journal lines: debits first, in the sale's account order."""

    def rank(account: str) -> tuple[int, str]:
        known = account in _SALE_ACCOUNTS
        return (_SALE_ACCOUNTS.index(account) if known else len(_SALE_ACCOUNTS), account)

    debits = [
        JournalLine.debit(account, Money(value, code))
        for account, value in sorted(delta.items(), key=lambda item: rank(item[0]))
        if value > 0
    ]
    credits = [
        JournalLine.credit(account, Money(-value, code))
        for account, value in sorted(delta.items(), key=lambda item: rank(item[0]))
        if value < 0
    ]
    return debits + credits


def _payment_sums(uow: UnitOfWork, order_id: str, code: str) -> tuple[Decimal, Decimal, Decimal]:
    """What the order's payments in ``code`` captured, still hold, and refunded."""
    captured = held = refunded = Decimal(0)
    for payment in _payments(uow, order_id):
        if payment.currency == code:
            totals = payment.totals
            captured += totals.captured.amount
            held += (totals.capturable + totals.capture_pending).amount
            refunded += totals.refunded.amount
    return captured, held, refunded


def _settle(
    ctx: Context, order_id: str, entry_id: str, event: DomainEvent, description: str
) -> None:
    """Bring what the order's sale leaves on the receivable to what its payments took and hold.

    A shortfall undoes the sale for that part: the whole sale by a reversal
    when nothing else touched it and the payments took and hold nothing;
    account by account when the order's own totals now come to what the
    payments took and hold (units sent back came off the order); else by an
    entry scaled from the sale. A surplus (a late capture) reinstates that part.
    """
    ledger = ledger_of(ctx.uow)
    sale = _has(ledger, sale_id(order_id))
    if sale is None or _has(ledger, entry_id) is not None:
        return
    owed = _line(sale, CUSTOMER_RECEIVABLE, Side.DEBIT)
    code = owed.code
    captured, held, _ = _payment_sums(ctx.uow, order_id, code)
    gap = captured + held - _sold(ledger, order_id, code)
    if gap == 0:
        return
    if captured + held == 0 and _order_entries(ledger, order_id) == [sale]:
        after = ledger.reverse(sale.id, id=entry_id, at=event.occurred_at, description=description)
    else:
        lines = _exactly(ctx.uow, ledger, order_id, code, captured + held, event)
        if lines is None:
            lines = _undone(sale, Money(abs(gap), code))
            if gap > 0:  # more was taken than the sale still holds: reinstate that part
                lines = [JournalLine(line.account, line.side.other, line.amount) for line in lines]
        after = ledger.post(
            JournalEntry(
                id=entry_id,
                at=event.occurred_at,
                description=description,
                lines=lines,
                kind="cancellation" if gap < 0 else "reinstatement",
                order_id=order_id,
                cause=Cause.of(event),
            )
        )
    _save(ctx, ledger, after)


def _exactly(
    uow: UnitOfWork,
    ledger: Ledger,
    order_id: str,
    code: str,
    paid: Decimal,
    event: DomainEvent,
) -> list[JournalLine] | None:
    """The lines that bring the order's sale to its current totals, if those are ``paid``.

    ``None`` when the order's total is not what its payments took and hold,
    or when a change's overpayment entry makes the account-by-account
    difference differ from what the receivable needs.
    """
    order = uow.repository(Order).get(order_id)
    if order.currency != code or order.totals.total.amount != paid:
        return None
    if any(entry.kind == "overpayment" for entry in _order_entries(ledger, order_id)):
        return None
    target = _signed_lines(_sale_of(order, event), code)
    basis = _net_lines(ledger, order_id, code)
    delta = {k: target.get(k, Decimal(0)) - basis.get(k, Decimal(0)) for k in target | basis}
    return _lines_of(delta, code) or None
