"""Marketplace books: each capture and refund split between sellers and the platform (金流).

`MarketplaceBooks` adds, to the ledger `fourflows.app.accounting` keeps, the
seller side of a marketplace (`fourflows.cash.marketplace`):

* `PaymentCaptured`: the `marketplace_capture_entries` of the capture's
  split, ids ``<payment>/marketplace/capture/<capture>/<seller>``;
* `PaymentRefunded`: the `marketplace_refund_entries` of the refund's
  split, ids ``<payment>/marketplace/refund/<refund>/<seller>``;
* `PaySeller` (a command): the `seller_payout_entry`, id
  ``seller-payout/<idempotency key>``.

**Every tender alike.** A capture is split whether a card, a bank transfer,
cash on delivery or a shop-held tender (store credit, a gift card, points)
paid it: the seller sold its goods either way, and the split only moves the
sale's revenue to the seller's payable and the platform's commission. How
the customer paid stays in accounting's capture entry.

**How a capture is split.** By the value of the order's lines (tax
included), or, when the capture came from a shipment, by the value of that
shipment's units: a capture whose id begins with the id of one of the
order's shipments and a colon (the shop's shipment captures,
``<shipment>:<payment>:capture:capture`` for a card, ``<shipment>:cod:capture``
for cash on delivery) is split over the shipment's items. The shipping fee
charged in it follows the goods. A refund names no lines, so it is split by
the value of the whole order. Lines no seller sells are the platform's own:
the amount is first divided (largest remainder) between the sellers' lines
and the platform's lines, and only the sellers' part is split; an order
with no seller line posts nothing.

**Idempotent, and safe beside accounting's policies.** The entries are
made from the event and the order as it is when the policy runs, and their
ids from the payment and the capture or refund; a capture or refund with an
entry under its id already posts nothing more, so a redelivered event posts
once. They are linked to the payment (``payment_id``), so accounting's
settling and truing-up of the order's sale, which read only the order's
entries without a payment, never count them; they touch neither customer
receivable nor refunds, so `fourflows.app.accounting.reconcile_shop` is
unchanged. They do not depend on the capture's own entry, so the order in
which the bus runs the policies does not matter (merged after accounting's,
they run after it). Each policy reads the ledger record, posts, writes it
back and commits in its own unit of work; the commit checks the record's
version, so if another writer committed the ledger in between, the commit
raises `fourflows.errors.ConcurrencyConflict`, nothing is written, and the
bus offers the event again on its next dispatch, which posts it once.

**Paying sellers.** `PaySeller` pays a seller from its payable (debit seller
payable, credit cash), refusing an unknown seller (`UnknownSeller`) and more
than is payable (`PayoutExceedsPayable`); the same key again returns the
first payout, another request under it raises `IdempotencyConflict`.
`MarketplaceBooks.statement` and `MarketplaceBooks.payable` read the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from pydantic import Field

from fourflows.app.accounting import ledger_of, save_ledger
from fourflows.app.commands import Command
from fourflows.app.fulfilment import _shipment_ids
from fourflows.app.handlers import Context
from fourflows.app.messagebus import CommandHandler, Policy
from fourflows.cash.ledger import Cause, ChartOfAccounts, JournalEntry, Ledger
from fourflows.cash.marketplace import (
    Marketplace,
    SellerStatement,
    Split,
    marketplace_capture_entries,
    marketplace_refund_entries,
    seller_of,
    seller_payable,
    seller_payout_entry,
    seller_statement,
)
from fourflows.cash.payment import Payment, PaymentCaptured, PaymentRefunded
from fourflows.commerce.order import Order
from fourflows.errors import IdempotencyConflict, InvalidInput, NotFound
from fourflows.events import DomainEvent
from fourflows.logistics.shipment import Shipment
from fourflows.money import Money, MoneyField, allocate, currency_code, sum_money
from fourflows.ports import UnitOfWork

__all__ = [
    "MarketplaceBooks",
    "PaySeller",
    "capture_entry_id",
    "payout_entry_id",
    "refund_entry_id",
]

_Key = Field(min_length=1, max_length=200)


class PaySeller(Command):
    """Pay seller ``seller_id`` ``amount`` of what the shop owes it (its payable).

    Posted as ``seller-payout/<idempotency key>``: the same key again returns
    the first payout; another seller or amount under it is refused.
    """

    idempotency_key: str = _Key
    seller_id: str = _Key
    amount: MoneyField


def capture_entry_id(payment_id: str, capture_id: str) -> str:
    """The id the split of a capture is posted under (each seller's entry adds ``/<seller>``)."""
    return f"{payment_id}/marketplace/capture/{capture_id}"


def refund_entry_id(payment_id: str, refund_id: str) -> str:
    """The id the split of a refund is posted under (each seller's entry adds ``/<seller>``)."""
    return f"{payment_id}/marketplace/refund/{refund_id}"


def payout_entry_id(idempotency_key: str) -> str:
    """The id of the payout entry a `PaySeller` with ``idempotency_key`` posts."""
    return f"seller-payout/{idempotency_key}"


def _posted_under(ledger: Ledger, base: str) -> bool:
    prefix = f"{base}/"
    return any(entry.id.startswith(prefix) for entry in ledger.entries)


def _shipment_units(uow: UnitOfWork, order: Order, capture_id: str) -> dict[int, int] | None:
    """The units (line index → count) of the shipment ``capture_id`` came from, if it did."""
    for shipment_id in _shipment_ids(uow, order.id):
        if capture_id.startswith(f"{shipment_id}:"):
            shipment = uow.repository(Shipment).get(shipment_id)
            units: dict[int, int] = {}
            for item in shipment.items:
                units[item.line] = units.get(item.line, 0) + item.quantity
            return units or None
    return None


class MarketplaceBooks:
    """The policies, command and reads that keep a marketplace's seller side in the ledger.

    ``chart`` is the chart the ledger opens with if nothing posted before
    (pass the shop's `Accounting.chart`, so a shop's own accounts are kept).
    """

    def __init__(self, marketplace: Marketplace, *, chart: ChartOfAccounts | None = None) -> None:
        if not isinstance(marketplace, Marketplace):
            raise InvalidInput(f"marketplace must be a Marketplace, not {marketplace!r}")
        if chart is not None and not isinstance(chart, ChartOfAccounts):
            raise InvalidInput(f"chart must be a ChartOfAccounts or None, not {chart!r}")
        self.marketplace = marketplace
        self.chart = chart

    def policies(self) -> Mapping[type[DomainEvent], Sequence[Policy]]:
        """The splitting policies by event type; merge them after accounting's."""
        return {
            PaymentCaptured: (self.split_capture,),
            PaymentRefunded: (self.split_refund,),
        }

    def handlers(self) -> dict[type[Command], CommandHandler]:
        """The `PaySeller` handler; add it to the bus's commands."""
        return {PaySeller: self.pay_seller}

    # --- splitting ----------------------------------------------------------------------------

    def split(
        self, order: Order, amount: Money, *, units: Mapping[int, int] | None = None
    ) -> Split | None:
        """The sellers' split of ``amount`` taken on ``order``; ``None`` if no seller has a part.

        Lines no seller sells keep their part (the platform's own sales);
        ``units`` (line index → units) weighs one shipment's units instead
        of the whole lines.
        """
        weights: list[tuple[int, int, Money, bool]] = []
        chosen = {line.index: line.quantity for line in order.lines} if units is None else units
        indexes = {line.index for line in order.lines}
        for index, count in chosen.items():
            if index not in indexes or type(count) is not int or count < 0:
                raise InvalidInput(
                    f"units must map the order's line indexes {sorted(indexes)} to unit "
                    f"counts of 0 or more, not {index!r}: {count!r}"
                )
        for line in order.lines:
            count = chosen.get(line.index, 0)
            if count <= 0:
                continue
            count = min(count, line.quantity)
            value = sum_money(line.unit_totals[:count], currency=order.currency)
            sold = line.sku in self.marketplace.sku_sellers
            weights.append((line.index, count, value, sold))
        seller_units = {index: count for index, count, _, sold in weights if sold}
        if not seller_units:
            return None
        zero = Money.zero(order.currency)
        sellers_value = sum_money((v for *_, v, s in weights if s), currency=order.currency)
        own_value = sum_money((v for *_, v, s in weights if not s), currency=order.currency)
        if own_value.amount:
            if not sellers_value.amount:
                return None
            seller_part, _ = allocate(amount, [sellers_value, own_value])
        else:
            seller_part = amount
        if seller_part <= zero:
            return None
        return self.marketplace.split(order, seller_part, units=seller_units)

    def split_capture(self, event: PaymentCaptured, ctx: Context) -> None:
        """Post each seller's share of a capture (its payable and the commission), once."""
        if event.amount.amount <= 0:
            return
        payment = ctx.uow.repository(Payment).get(event.aggregate_id)
        base = capture_entry_id(payment.id, event.capture_id)
        ledger = ledger_of(ctx.uow, self.chart)
        if _posted_under(ledger, base):
            return
        order = ctx.uow.repository(Order).get(payment.order_id)
        units = _shipment_units(ctx.uow, order, event.capture_id)
        split = self.split(order, event.amount, units=units)
        if split is None:
            return
        entries = marketplace_capture_entries(
            split, id=base, at=event.occurred_at, payment_id=payment.id, cause=Cause.of(event)
        )
        self._save(ctx, ledger, ledger.post_all(entries))

    def split_refund(self, event: PaymentRefunded, ctx: Context) -> None:
        """Take each seller's share of a refund back, commission given back to it, once."""
        if event.amount.amount <= 0:
            return
        payment = ctx.uow.repository(Payment).get(event.aggregate_id)
        base = refund_entry_id(payment.id, event.refund_id)
        ledger = ledger_of(ctx.uow, self.chart)
        if _posted_under(ledger, base):
            return
        order = ctx.uow.repository(Order).get(payment.order_id)
        split = self.split(order, event.amount)
        if split is None:
            return
        entries = marketplace_refund_entries(
            split, id=base, at=event.occurred_at, payment_id=payment.id, cause=Cause.of(event)
        )
        self._save(ctx, ledger, ledger.post_all(entries))

    @staticmethod
    def _save(ctx: Context, before: Ledger, after: Ledger) -> None:
        if after is not before:
            save_ledger(ctx.uow, after)
            ctx.uow.commit()

    # --- paying sellers -----------------------------------------------------------------------

    def pay_seller(self, command: PaySeller, ctx: Context) -> JournalEntry:
        """Post a payout to a seller; return the entry (the first one on a repeated key)."""
        seller = self.marketplace.seller(command.seller_id)
        ledger = ledger_of(ctx.uow, self.chart)
        entry_id = payout_entry_id(command.idempotency_key)
        try:
            known: JournalEntry | None = ledger.entry(entry_id)
        except NotFound:
            known = None
        if known is not None:
            tag = seller_of(known)
            lines = [(line.account, line.side, line.amount) for line in known.lines]
            if tag is None or tag[1] != seller.id or lines[0][2] != command.amount:
                raise IdempotencyConflict(
                    command.idempotency_key,
                    recorded=known.fingerprint(),
                    given=f"{seller.id}:{command.amount}",
                )
            return known
        entry = seller_payout_entry(
            ledger,
            self.marketplace,
            seller.id,
            command.amount,
            id=entry_id,
            at=ctx.clock.now(),
        )
        self._save(ctx, ledger, ledger.post(entry))
        return entry

    # --- reading ------------------------------------------------------------------------------

    def payable(self, uow: UnitOfWork, seller_id: str, currency: str) -> Money:
        """What the ledger says the shop owes ``seller_id`` in ``currency`` now."""
        seller = self.marketplace.seller(seller_id)
        return seller_payable(ledger_of(uow, self.chart), seller.id, currency)

    def statement(
        self,
        uow: UnitOfWork,
        seller_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        currency: str | None = None,
    ) -> SellerStatement:
        """The seller's statement for ``start <= at < end`` (open ends: all time).

        ``currency`` defaults to the one currency of the seller's entries (or
        of the marketplace's minimum, before any); with none known, or several,
        name it.
        """
        seller = self.marketplace.seller(seller_id)
        ledger = ledger_of(uow, self.chart)
        if currency is None:
            currency = self._currency_of(ledger, seller.id)
        return seller_statement(ledger, seller.id, currency_code(currency), start=start, end=end)

    def _currency_of(self, ledger: Ledger, seller_id: str) -> str:
        found: set[str] = set()
        for entry in ledger.entries:
            tag = seller_of(entry)
            if tag is not None and tag[1] == seller_id:
                found.update(entry.currencies)
        if not found and self.marketplace.minimum is not None:
            found.add(self.marketplace.minimum.code)
        if len(found) != 1:
            raise InvalidInput(
                f"seller {seller_id!r} has entries in {', '.join(sorted(found)) or 'no currency'}: "
                "name the statement's currency"
            )
        return found.pop()
