"""Settlement: selling in several presentment currencies, settling in one (金流, 外幣).

A shop gives `Settlement` an `fourflows.cash.fx.FxRates` source and the one
currency its provider pays it out in (say TWD). The shop keeps pricing,
selling and capturing in each order's own *presentment* currency (USD, JPY):
the sale, captures and refunds of a USD order are posted in USD by
`fourflows.app.accounting`. The settlement policies add, beside them, the
settlement-currency side:

* **The rate is frozen once per order**, when it is placed (``OrderPlaced``):
  ``rates.rate(order currency, settlement currency, placed_at)`` is kept as a
  keyed record (namespace ``"fx"``, key the order id; `frozen_rate` reads it).
  Every later conversion of the order uses it, refunds included: a refund
  months later gives back what the capture was worth then, not today.
  If the record is missing when a capture arrives (the shop was given its
  settlement after the order was placed), it is frozen then, at the order's
  placement time, which gives the same rate.
* **Each capture and refund** of a payment in a presentment currency (card,
  e-wallet, bank transfer, cash on delivery: the tenders a provider holds;
  store credit, gift cards and points are the shop's own and stay as they
  are) is converted at the frozen rate. The ledger balances each currency on
  its own, so the conversion goes through a pair of lines on a *currency
  exchange* account (``currency_exchange``), once in each currency::

      capture of 100.00 USD at 32.15   debit     credit    currency
      currency exchange                 100.00              USD
      gateway clearing                            100.00    USD
      settlement clearing              3215.00              TWD
      currency exchange                          3215.00    TWD

  The USD the gateway holds for the shop is exchanged into a TWD claim on it
  (``settlement_clearing``); the exchange account holds 100 USD against
  3215 TWD, the position at the frozen rate. A refund is the mirror image,
  at the same frozen rate. Amounts are rounded half-up to the settlement
  currency's minor unit *cumulatively* per payment: a capture (refund) is
  posted as convert(captured (refunded) so far) − convert(captured (refunded)
  before it), so a payment refunded in full in several parts gives back
  exactly what its captures were converted to.
* **When the provider settles** (`RecordSettlement`: payment, capture, the
  amount settled in the settlement currency, its fee if any, the time),
  the claim is cleared and the difference is an FX gain or loss
  (``fx_gain_loss``, revenue: a gain is a credit, a loss a debit)::

      settled 3240.00 TWD, fee 10.00 TWD   debit    credit   (TWD)
      cash                                 3240.00
      gateway fees                           10.00
      settlement clearing                           3215.00
      fx gain/loss                                    35.00

Entry ids: ``<payment>/fx/capture/<capture>``, ``<payment>/fx/refund/<refund>``
and ``<payment>/settlement/<capture>``; each links the order and payment, so a
redelivered event or a repeated command posts once. These entries never
touch customer receivable or refunds, so the ledger's reconciliation with
the payments is unchanged. The three accounts (`SETTLEMENT_ACCOUNTS`) are
added to the shop's chart when first needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from pydantic import AwareDatetime, Field

from fourflows.app.accounting import ledger_of, save_ledger
from fourflows.app.checkout import _records
from fourflows.app.commands import Command
from fourflows.app.handlers import Context
from fourflows.app.messagebus import CommandHandler, Policy
from fourflows.cash.fx import FxRate, FxRates
from fourflows.cash.ledger import (
    CASH,
    GATEWAY_FEES,
    Account,
    AccountType,
    Cause,
    ChartOfAccounts,
    JournalEntry,
    JournalLine,
    Ledger,
    tender_account,
)
from fourflows.cash.payment import Payment, PaymentCaptured, PaymentRefunded
from fourflows.commerce.order import Order, OrderPlaced
from fourflows.errors import CurrencyMismatch, IdempotencyConflict, InvalidInput, NotFound
from fourflows.events import DomainEvent
from fourflows.money import Money, MoneyField, currency_code
from fourflows.ports import UnitOfWork

__all__ = [
    "CURRENCY_EXCHANGE",
    "FX_GAIN_LOSS",
    "SETTLEMENT_ACCOUNTS",
    "SETTLEMENT_CLEARING",
    "RecordSettlement",
    "Settlement",
    "conversion_entry",
    "cumulative_value",
    "frozen_rate",
    "settlement_entry",
]

CURRENCY_EXCHANGE = "currency_exchange"
"""The exchange position: presentment money on one side, its settlement value on the other."""
SETTLEMENT_CLEARING = "settlement_clearing"
"""What providers owe the shop in the settlement currency for converted money (asset)."""
FX_GAIN_LOSS = "fx_gain_loss"
"""Settled amounts above (gain, credit) or below (loss, debit) their frozen-rate value."""

SETTLEMENT_ACCOUNTS = (
    Account(CURRENCY_EXCHANGE, "Currency exchange", AccountType.EQUITY),
    Account(SETTLEMENT_CLEARING, "Settlement clearing", AccountType.ASSET),
    Account(FX_GAIN_LOSS, "FX gain or loss", AccountType.REVENUE),
)
"""The accounts the settlement posts to, added to the shop's chart."""

_FX = "fx"
_Key = Field(min_length=1, max_length=200)


class RecordSettlement(Command):
    """The provider settled capture ``capture_id`` of ``payment_id``: ``amount`` paid out at ``at``.

    ``amount`` is what reached the shop, in the settlement currency, after
    the provider's ``fee`` (in the settlement currency too, if any).
    Repeating it with the same figures changes nothing; other figures for
    the same capture are refused.
    """

    payment_id: str = _Key
    capture_id: str = _Key
    amount: MoneyField
    fee: MoneyField | None = None
    at: AwareDatetime


def frozen_rate(uow: UnitOfWork, order_id: str) -> FxRate | None:
    """The rate frozen for ``order_id`` at placement, or ``None`` if none was frozen."""
    found = _records(uow).read_record(_FX, order_id)
    return found if isinstance(found, FxRate) else None


def _lines(*lines: tuple[str, bool, Money]) -> list[JournalLine]:
    """Journal lines from (account, is_debit, amount), leaving out zero amounts."""
    return [
        JournalLine.debit(account, amount) if debit else JournalLine.credit(account, amount)
        for account, debit, amount in lines
        if amount.amount
    ]


def cumulative_value(rate: FxRate, *, before: Money, amount: Money) -> Money:
    """The settlement value of ``amount`` added to ``before``, rounded cumulatively.

    ``rate.convert(before + amount) - rate.convert(before)``: each part is
    rounded so that the parts of a payment always add up to the converted
    whole, whatever the order and size of its captures (or refunds).

    >>> from datetime import UTC, datetime
    >>> rate = FxRate("USD", "TWD", "32.15", as_of=datetime(2026, 11, 20, tzinfo=UTC))
    >>> cumulative_value(rate, before=Money("19.99", "USD"), amount=Money("39.98", "USD"))
    Money('1285.36', 'TWD')
    """
    return rate.convert(before + amount) - rate.convert(before)


def conversion_entry(
    *,
    id: str,
    at: datetime,
    presentment: Money,
    settled: Money,
    account: str,
    refund: bool = False,
    order_id: str | None = None,
    payment_id: str | None = None,
    cause: Cause | None = None,
) -> JournalEntry:
    """The entry exchanging ``presentment`` money on ``account`` for ``settled`` (see module).

    For a capture: debit currency exchange and credit ``account`` with the
    presentment amount; debit settlement clearing and credit currency
    exchange with its settlement value. A ``refund`` is the mirror image.
    Each currency balances on its own; a settlement value that rounds to zero
    leaves its two lines out.
    """
    if not isinstance(presentment, Money) or presentment.amount <= 0:
        raise InvalidInput(f"the presentment amount must be positive Money, not {presentment!r}")
    if not isinstance(settled, Money) or settled.amount < 0:
        raise InvalidInput(f"the settled amount must be Money, zero or more, not {settled!r}")
    if settled.code == presentment.code:
        raise InvalidInput(
            f"a conversion exchanges two currencies; both amounts are in {settled.code}"
        )
    lines = _lines(
        (CURRENCY_EXCHANGE, not refund, presentment),
        (account, refund, presentment),
        (SETTLEMENT_CLEARING, not refund, settled),
        (CURRENCY_EXCHANGE, refund, settled),
    )
    what = "refund" if refund else "capture"
    return JournalEntry(
        id=id,
        at=at,
        description=f"{what} of {presentment} exchanged for {settled}",
        lines=lines,
        kind="fx",
        order_id=order_id,
        payment_id=payment_id,
        cause=cause,
    )


def settlement_entry(
    *,
    id: str,
    at: datetime,
    expected: Money,
    settled: Money,
    fee: Money | None = None,
    order_id: str | None = None,
    payment_id: str | None = None,
) -> JournalEntry:
    """The provider paying out ``settled`` (after ``fee``) for a claim of ``expected``.

    Debit cash ``settled`` and gateway fees ``fee``; credit settlement
    clearing ``expected``; the difference ``settled + fee - expected`` is
    credited (a gain) or debited (a loss) to FX gain or loss.
    """
    for what, value in (("expected amount", expected), ("settled amount", settled)):
        if not isinstance(value, Money) or value.amount <= 0:
            raise InvalidInput(f"the {what} must be positive Money, not {value!r}")
    if settled.code != expected.code:
        raise CurrencyMismatch(expected.code, settled.code, "settle")
    charged = Money.zero(settled.code) if fee is None else fee
    if not isinstance(charged, Money) or charged.amount < 0:
        raise InvalidInput(f"the fee must be Money, zero or more, not {fee!r}")
    if charged.code != settled.code:
        raise CurrencyMismatch(settled.code, charged.code, "charge a settlement fee")
    difference = settled + charged - expected
    lines = _lines(
        (CASH, True, settled),
        (GATEWAY_FEES, True, charged),
        (SETTLEMENT_CLEARING, False, expected),
        (FX_GAIN_LOSS, difference.amount < 0, abs(difference)),
    )
    return JournalEntry(
        id=id,
        at=at,
        description=f"settled {settled} for {expected} at the frozen rate",
        lines=lines,
        kind="settlement",
        order_id=order_id,
        payment_id=payment_id,
    )


def _with_accounts(ledger: Ledger) -> Ledger:
    for account in SETTLEMENT_ACCOUNTS:
        ledger = ledger.with_account(account)
    return ledger


def _known(ledger: Ledger, entry_id: str) -> JournalEntry | None:
    try:
        return ledger.entry(entry_id)
    except NotFound:
        return None


def _settlement_line(entry: JournalEntry, code: str) -> Money | None:
    for line in entry.lines:
        if line.account == SETTLEMENT_CLEARING and line.amount.code == code:
            return line.amount
    return None


class Settlement:
    """Presentment currencies settled in ``currency`` at rates from ``rates`` (see the module).

    ``chart`` is the chart of accounts the shop's ledger opens with (default:
    `ChartOfAccounts.default`); the settlement accounts are added to it and
    the result is `chart`, which the shop's `fourflows.app.accounting.Accounting`
    must open the ledger with too (`for_chart` rebinds a settlement to a
    shop's chart). Merge `policies` with the shop's policy tables and add
    `handlers` to its commands.
    """

    def __init__(
        self, rates: FxRates, currency: str, *, chart: ChartOfAccounts | None = None
    ) -> None:
        if not callable(getattr(rates, "rate", None)):
            raise InvalidInput(f"rates must be an FxRates source with a rate method, not {rates!r}")
        if chart is not None and not isinstance(chart, ChartOfAccounts):
            raise InvalidInput(f"chart must be a ChartOfAccounts or None, not {chart!r}")
        self.rates = rates
        self.currency = currency_code(currency)
        found = ChartOfAccounts.default() if chart is None else chart
        for account in SETTLEMENT_ACCOUNTS:
            found = found.with_account(account)
        self.chart: ChartOfAccounts = found

    def for_chart(self, chart: ChartOfAccounts | None) -> Settlement:
        """The same settlement over ``chart`` (the settlement accounts added to it)."""
        return Settlement(self.rates, self.currency, chart=chart)

    def _ledger(self, uow: UnitOfWork) -> Ledger:
        return _with_accounts(ledger_of(uow, self.chart))

    def policies(self) -> Mapping[type[DomainEvent], Sequence[Policy]]:
        """The settlement policies by event type; merge them with the shop's other policies."""
        return {
            OrderPlaced: (self.freeze_rate,),
            PaymentCaptured: (self.convert_capture,),
            PaymentRefunded: (self.convert_refund,),
        }

    def handlers(self) -> dict[type[Command], CommandHandler]:
        """The settlement command's handler; add it to the bus's commands."""
        return {RecordSettlement: self.record_settlement}

    # --- the frozen rate ----------------------------------------------------------------------

    def _rate_for(self, uow: UnitOfWork, order_id: str) -> FxRate | None:
        """The order's frozen rate, frozen now (staged, not committed) if it was not yet."""
        known = frozen_rate(uow, order_id)
        if known is not None:
            return known
        order = uow.repository(Order).get(order_id)
        if order.currency == self.currency:
            return None
        rate = self.rates.rate(order.currency, self.currency, order.placed_at)
        if (rate.base, rate.quote) != (order.currency, self.currency):
            raise InvalidInput(
                f"the rate source answered {rate.pair} when asked for "
                f"{order.currency}/{self.currency}"
            )
        _records(uow).write_record(_FX, order_id, rate)
        return rate

    def freeze_rate(self, event: OrderPlaced, ctx: Context) -> None:
        """Freeze the rate from the order's currency to the settlement currency, once."""
        if event.currency == self.currency or frozen_rate(ctx.uow, event.aggregate_id) is not None:
            return
        self._rate_for(ctx.uow, event.aggregate_id)
        ctx.uow.commit()

    # --- conversions --------------------------------------------------------------------------

    def convert_capture(self, event: PaymentCaptured, ctx: Context) -> None:
        """Post the capture's settlement-currency value at the order's frozen rate."""
        self._convert(event, ctx, refund=False)

    def convert_refund(self, event: PaymentRefunded, ctx: Context) -> None:
        """Post the refund's settlement-currency value at the order's original frozen rate."""
        self._convert(event, ctx, refund=True)

    def _convert(
        self, event: PaymentCaptured | PaymentRefunded, ctx: Context, *, refund: bool
    ) -> None:
        if event.amount.code == self.currency:
            return
        payment = ctx.uow.repository(Payment).get(event.aggregate_id)
        if payment.method.is_shop_held:
            return
        if isinstance(event, PaymentRefunded):
            entry_id = f"{payment.id}/fx/refund/{event.refund_id}"
            so_far = event.totals.refunded
        else:
            entry_id = f"{payment.id}/fx/capture/{event.capture_id}"
            so_far = event.totals.captured
        ledger = self._ledger(ctx.uow)
        if _known(ledger, entry_id) is not None:
            return
        rate = self._rate_for(ctx.uow, event.order_id)
        if rate is None:  # pragma: no cover - an order in the settlement currency
            return
        settled = cumulative_value(rate, before=so_far - event.amount, amount=event.amount)
        entry = conversion_entry(
            id=entry_id,
            at=event.occurred_at,
            presentment=event.amount,
            settled=settled,
            account=tender_account(payment.method, refund=refund),
            refund=refund,
            order_id=event.order_id,
            payment_id=payment.id,
            cause=Cause.of(event),
        )
        save_ledger(ctx.uow, ledger.post(entry))
        ctx.uow.commit()

    # --- the provider's settlement ------------------------------------------------------------

    def record_settlement(self, command: RecordSettlement, ctx: Context) -> JournalEntry:
        """Post the provider's settlement of a capture; return the entry (the first on a repeat).

        Refused, changing nothing: an amount or fee outside the settlement
        currency (`CurrencyMismatch`), a payment in the settlement currency
        itself, an unknown payment or capture, or a capture whose conversion
        is not posted yet (`NotFound`), other figures for a capture already
        settled (`IdempotencyConflict`).
        """
        if command.amount.code != self.currency:
            raise CurrencyMismatch(self.currency, command.amount.code, "record a settlement")
        if command.fee is not None and command.fee.code != self.currency:
            raise CurrencyMismatch(self.currency, command.fee.code, "record a settlement fee")
        payment = ctx.uow.repository(Payment).get(command.payment_id)
        if payment.currency == self.currency:
            raise InvalidInput(
                f"payment {payment.id} is in {self.currency}, the settlement currency: "
                "there is nothing to convert; post its payout as a gateway payout"
            )
        if command.capture_id not in payment.captures:
            raise NotFound(
                f"capture on payment {payment.id!r} with id", command.capture_id, payment.captures
            )
        ledger = self._ledger(ctx.uow)
        conversion = _known(ledger, f"{payment.id}/fx/capture/{command.capture_id}")
        expected = None if conversion is None else _settlement_line(conversion, self.currency)
        if expected is None:
            raise NotFound(
                "settlement-currency conversion of capture",
                f"{payment.id}/{command.capture_id}",
            )
        entry = settlement_entry(
            id=f"{payment.id}/settlement/{command.capture_id}",
            at=command.at,
            expected=expected,
            settled=command.amount,
            fee=command.fee,
            order_id=payment.order_id,
            payment_id=payment.id,
        )
        known = _known(ledger, entry.id)
        if known is not None:
            if known.lines != entry.lines:
                raise IdempotencyConflict(
                    entry.id, recorded=known.fingerprint(), given=entry.fingerprint()
                )
            return known
        save_ledger(ctx.uow, ledger.post(entry))
        ctx.uow.commit()
        return entry
