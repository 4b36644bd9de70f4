"""The double-entry ledger: every movement of money as a balanced journal entry.

**Accounts.** A `ChartOfAccounts` names each `Account` by a code, with a type
(`AccountType`) that fixes its normal balance side: assets and expenses grow
on the debit side, liabilities, equity and revenue on the credit side, and a
contra-revenue account (discounts, refunds) on the debit side, against
revenue. `ChartOfAccounts.default` holds the accounts of an online shop (the
codes are the module constants such as `GATEWAY_CLEARING`); a shop extends it
with `ChartOfAccounts.with_account` or `Ledger.with_account`. A code the chart
does not know raises `UnknownAccount`. An account marked ``never_negative``
(store credit, gift cards, points: money the shop owes its customers) refuses
any posting that would take its balance below zero with `InsufficientBalance`.

**Entries.** A `JournalEntry` has an id, an aware time, a description, a
``kind`` (``"sale"``, ``"capture"``, ...), its `JournalLine` s (an account, a
side and a positive amount in whole minor units) and its links: the order,
the payment and the `Cause` (the causing event's aggregate id and sequence).
It balances per currency (debits equal credits in each currency) or it
cannot be built: `UnbalancedEntry`.

**The ledger** is a value: every method that changes it returns a new
`Ledger` and leaves the old one as it was, so an operation that raises
posts nothing, and the application can keep the ledger as a keyed record in
its unit of work. Its rules:

* ``post`` is idempotent per entry id: the same entry again changes nothing;
  another entry under a used id raises `IdempotencyConflict`. ``post_all``
  posts several entries, all or none.
* Entries are never edited, only reversed: ``reverse`` posts an entry with
  every line on the other side, linked to the original (``reverses``). An
  entry is reversed at most once: reversing it again under the same reversal
  id changes nothing (it is the same entry), under another id raises
  `InvalidInput`; a reversal itself cannot be reversed (post the original
  again under a new id instead).
* Two-phase entries: ``hold`` records a pending entry (an authorisation: money
  promised, not moved). Pending entries count in no balance but are listed by
  ``pending_entries``. Each is settled exactly once: ``post_pending`` posts it
  in full, or partly (its lines scaled down to ``amount`` with `allocate`;
  the rest is released), or ``void_pending`` releases it all. Repeating the
  same settlement changes nothing (whatever its time: the first one's stands);
  a different one raises `InvalidInput`.
* Balances per account and currency (``balance``), restricted to an order or
  to a period (``start <= at < end``) when asked, and a ``trial_balance``
  whose debit and credit columns are equal in every currency.

**The posting scheme** (the rule functions below build the entries; the
application calls them on its events). Revenue is recognised when the order
is sold, against the customer's receivable; payments then settle the
receivable through the account of their tender (`tender_account`)::

    fact (rule)                      debit                        credit
    order sold (sale_entry)          customer receivable,         sales revenue (net of tax,
                                     discounts given              before discount), shipping
                                                                  revenue, tax payable
    authorisation                    tender account               customer receivable
    (authorization_hold: pending)
    capture, COD collection, store   tender account               customer receivable
    credit or points used
    (capture_entry)
    gateway fee (fee_entry)          gateway fees                 gateway clearing
    gateway payout                   cash                         gateway clearing
    (gateway_payout_entry)
    refund (refund_entry)            refunds                      tender account (cash for
                                                                  cash on delivery)
    COD remitted                     cash, gateway fees (the      COD in transit
    (cod_remittance_entry)           carrier's collection fee)
    store credit issued              refunds, or customer         store-credit liability
    (store_credit_issued_entry)      compensation for goodwill

The tender accounts: gateway clearing for card and e-wallet, cash for bank
transfer, COD in transit for cash on delivery, and the store-credit,
gift-card or points liability for the shop-held tenders.

Refunds are kept whole in the refunds account; the tax part of a refund is
for the credit note to split.

**Wiring it to the payment events.** `payment_event_entry` turns
``PaymentCaptured``, ``PaymentRefunded`` and ``PaymentRemitted`` into their
entries, with ids made from the payment and the capture or refund id, so a
redelivered event posts once. An authorisation (``PaymentAuthorized``) may be
held with `authorization_hold` under ``"<payment id>/authorization"`` (say): since
captures post their own entries, the hold is a memo of money held at the
provider, released with ``void_pending`` when the authorisation closes
(voided, expired or fully captured). A shop that captures once per
authorisation may instead settle the hold with ``post_pending`` (the amount
captured; the rest released) and skip the capture entry.

**Reconciliation.** `reconcile` compares, per payment, what the payments say
was captured and refunded with what the ledger says: captured is the net
credit to customer receivable, refunded the net debit to refunds, on the
entries linked to the payment.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Protocol

import attrs

from fourflows.cash.payment import (
    PaymentCaptured,
    PaymentMethod,
    PaymentRefunded,
    PaymentRemitted,
)
from fourflows.errors import IdempotencyConflict, InsufficientBalance, InvalidInput, NotFound
from fourflows.events import DomainEvent, require_aware
from fourflows.money import Money, Precision, allocate, currency_code, round_money

__all__ = [
    "CASH",
    "COD_IN_TRANSIT",
    "COMMISSION_REVENUE",
    "CUSTOMER_COMPENSATION",
    "CUSTOMER_RECEIVABLE",
    "DISCOUNTS_GIVEN",
    "GATEWAY_CLEARING",
    "GATEWAY_FEES",
    "GIFT_CARD_LIABILITY",
    "POINTS_LIABILITY",
    "REFUNDS",
    "SALES_REVENUE",
    "SELLER_PAYABLE",
    "SHIPPING_REVENUE",
    "STORE_CREDIT_LIABILITY",
    "TAX_PAYABLE",
    "Account",
    "AccountType",
    "CapturedAndRefunded",
    "Cause",
    "ChartOfAccounts",
    "Difference",
    "JournalEntry",
    "JournalLine",
    "Ledger",
    "Settlement",
    "SettlementKind",
    "Side",
    "TrialBalance",
    "TrialBalanceRow",
    "UnbalancedEntry",
    "UnknownAccount",
    "authorization_hold",
    "capture_entry",
    "cod_remittance_entry",
    "fee_entry",
    "gateway_payout_entry",
    "payment_event_entry",
    "reconcile",
    "refund_entry",
    "sale_entry",
    "store_credit_issued_entry",
    "tender_account",
]


# --- errors ------------------------------------------------------------------------------


class UnbalancedEntry(InvalidInput):
    """A journal entry whose debits and credits differ in some currency."""


class UnknownAccount(NotFound):
    """An account code that the ledger's chart of accounts does not hold."""

    def __init__(self, code: str, known: Iterable[str]) -> None:
        super().__init__("account", code, known)


# --- accounts ----------------------------------------------------------------------------


class Side(enum.Enum):
    """The side of a journal line: debit (left) or credit (right)."""

    DEBIT = "debit"
    CREDIT = "credit"

    @property
    def other(self) -> Side:
        """The opposite side."""
        return Side.CREDIT if self is Side.DEBIT else Side.DEBIT


class AccountType(enum.Enum):
    """What an account records, which fixes its normal balance side."""

    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    REVENUE = "revenue"
    EXPENSE = "expense"
    CONTRA_REVENUE = "contra_revenue"

    @property
    def normal_side(self) -> Side:
        """The side on which a balance of this type grows."""
        if self in (AccountType.ASSET, AccountType.EXPENSE, AccountType.CONTRA_REVENUE):
            return Side.DEBIT
        return Side.CREDIT


def _text(what: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must be a non-empty string, not {value!r}")
    return value


def _optional_text(what: str, value: object) -> str | None:
    return None if value is None else _text(what, value)


def _check_text(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _text(attribute.name.replace("_", " "), value)


def _check_optional_text(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _optional_text(attribute.name.replace("_", " "), value)


def _account_type(value: object) -> AccountType:
    if isinstance(value, AccountType):
        return value
    try:
        return AccountType(value)
    except ValueError:
        allowed = ", ".join(kind.value for kind in AccountType)
        raise InvalidInput(f"account type must be one of {allowed}, not {value!r}") from None


@attrs.frozen
class Account:
    """One account of the chart: its code, its name and its type.

    ``never_negative`` marks an account whose balance may not go below zero
    on its normal side (money owed to customers: store credit, points).
    """

    code: str = attrs.field(validator=_check_text)
    name: str = attrs.field(validator=_check_text)
    type: AccountType = attrs.field(converter=_account_type)
    never_negative: bool = attrs.field(default=False, kw_only=True)

    @never_negative.validator
    def _check_flag(self, _: object, value: object) -> None:
        if not isinstance(value, bool):
            raise InvalidInput(f"never_negative must be True or False, not {value!r}")

    @property
    def normal_side(self) -> Side:
        """The side on which the balance grows (debit for assets, credit for revenue)."""
        return self.type.normal_side


CUSTOMER_RECEIVABLE = "customer_receivable"
"""What customers owe for orders sold and not yet paid (asset)."""
GATEWAY_CLEARING = "gateway_clearing"
"""Money a payment gateway has taken for the shop and not yet paid out (asset)."""
CASH = "cash"
"""The shop's bank and cash (asset)."""
COD_IN_TRANSIT = "cod_in_transit"
"""Cash on delivery collected by carriers and not yet remitted (asset)."""
SALES_REVENUE = "sales_revenue"
"""Goods sold, net of tax, before discounts (revenue)."""
SHIPPING_REVENUE = "shipping_revenue"
"""Shipping charged to customers, net of tax (revenue)."""
COMMISSION_REVENUE = "commission_revenue"
"""A marketplace's commission on its sellers' sales (revenue)."""
DISCOUNTS_GIVEN = "discounts_given"
"""Discounts granted on orders (contra-revenue)."""
REFUNDS = "refunds"
"""Money given back to customers (contra-revenue)."""
TAX_PAYABLE = "tax_payable"
"""Tax collected and owed to the tax office (liability)."""
STORE_CREDIT_LIABILITY = "store_credit_liability"
"""Store credit (購物金) the shop owes its customers (liability, never negative)."""
GIFT_CARD_LIABILITY = "gift_card_liability"
"""Gift-card balances the shop owes their holders (liability, never negative)."""
POINTS_LIABILITY = "points_liability"
"""Loyalty points (紅利點數) valued in money (liability, never negative)."""
SELLER_PAYABLE = "seller_payable"
"""What a marketplace owes its sellers (liability)."""
GATEWAY_FEES = "gateway_fees"
"""Fees charged by payment gateways and carriers for collecting money (expense)."""
CUSTOMER_COMPENSATION = "customer_compensation"
"""Goodwill given to customers, e.g. as store credit (expense)."""

_DEFAULT_ACCOUNTS = (
    Account(CUSTOMER_RECEIVABLE, "Customer receivable", AccountType.ASSET),
    Account(GATEWAY_CLEARING, "Gateway clearing", AccountType.ASSET),
    Account(CASH, "Cash", AccountType.ASSET),
    Account(COD_IN_TRANSIT, "Cash on delivery in transit", AccountType.ASSET),
    Account(SALES_REVENUE, "Sales revenue", AccountType.REVENUE),
    Account(SHIPPING_REVENUE, "Shipping revenue", AccountType.REVENUE),
    Account(COMMISSION_REVENUE, "Commission revenue", AccountType.REVENUE),
    Account(DISCOUNTS_GIVEN, "Discounts given", AccountType.CONTRA_REVENUE),
    Account(REFUNDS, "Refunds", AccountType.CONTRA_REVENUE),
    Account(TAX_PAYABLE, "Tax payable", AccountType.LIABILITY),
    Account(
        STORE_CREDIT_LIABILITY,
        "Store-credit liability",
        AccountType.LIABILITY,
        never_negative=True,
    ),
    Account(GIFT_CARD_LIABILITY, "Gift-card liability", AccountType.LIABILITY, never_negative=True),
    Account(POINTS_LIABILITY, "Points liability", AccountType.LIABILITY, never_negative=True),
    Account(SELLER_PAYABLE, "Seller payable", AccountType.LIABILITY),
    Account(GATEWAY_FEES, "Gateway fees", AccountType.EXPENSE),
    Account(CUSTOMER_COMPENSATION, "Customer compensation", AccountType.EXPENSE),
)


def _frozen_accounts(value: Mapping[str, Account]) -> Mapping[str, Account]:
    return MappingProxyType(dict(value))


@attrs.frozen
class ChartOfAccounts:
    """The accounts a ledger may post to, by code."""

    accounts: Mapping[str, Account] = attrs.field(converter=_frozen_accounts)

    @accounts.validator
    def _check_accounts(self, _: object, value: Mapping[str, Account]) -> None:
        for code, account in value.items():
            if not isinstance(account, Account) or account.code != code:
                raise InvalidInput(f"chart entry {code!r} must be the Account {code!r}")

    @classmethod
    def default(cls) -> ChartOfAccounts:
        """The accounts of an online shop (see the module constants)."""
        return cls({account.code: account for account in _DEFAULT_ACCOUNTS})

    def with_account(self, account: Account) -> ChartOfAccounts:
        """Return this chart with ``account`` added; the same account again changes nothing.

        Another account under a code already used raises `InvalidInput`.
        """
        if not isinstance(account, Account):
            raise InvalidInput(f"a chart holds Account values, not {account!r}")
        known = self.accounts.get(account.code)
        if known == account:
            return self
        if known is not None:
            raise InvalidInput(
                f"account code {account.code!r} is already {known.name!r} ({known.type.value}); "
                "choose another code"
            )
        return ChartOfAccounts({**self.accounts, account.code: account})

    def get(self, code: str) -> Account:
        """The account ``code``; `UnknownAccount` if the chart does not hold it."""
        found = self.accounts.get(code) if isinstance(code, str) else None
        if found is None:
            raise UnknownAccount(str(code), self.accounts)
        return found

    def __contains__(self, code: object) -> bool:
        return code in self.accounts


# --- entries -----------------------------------------------------------------------------


def _whole_minor_units(value: Money, what: str) -> Money:
    if value.amount != value.amount.quantize(Precision.minor_unit(value.currency).quantum):
        raise InvalidInput(
            f"{what} {value} is not a whole number of {value.code} minor units; round it first"
        )
    return value


def _positive_money(what: str, value: object) -> Money:
    if not isinstance(value, Money):
        raise InvalidInput(f"{what} must be Money, not {value!r}")
    if value.amount <= 0:
        raise InvalidInput(f"{what} must be positive, not {value}")
    return _whole_minor_units(value, what)


def _side(value: object) -> Side:
    if isinstance(value, Side):
        return value
    try:
        return Side(value)
    except ValueError:
        raise InvalidInput(f"a line's side must be 'debit' or 'credit', not {value!r}") from None


@attrs.frozen
class JournalLine:
    """One line of an entry: ``amount`` (positive) on ``side`` of ``account``."""

    account: str = attrs.field(validator=_check_text)
    side: Side = attrs.field(converter=_side)
    amount: Money = attrs.field()

    @amount.validator
    def _check_amount(self, _: object, value: object) -> None:
        _positive_money(f"the amount of a line on {self.account!r}", value)

    @classmethod
    def debit(cls, account: str, amount: Money) -> JournalLine:
        """A debit of ``amount`` to ``account``."""
        return cls(account, Side.DEBIT, amount)

    @classmethod
    def credit(cls, account: str, amount: Money) -> JournalLine:
        """A credit of ``amount`` to ``account``."""
        return cls(account, Side.CREDIT, amount)

    @property
    def debit_amount(self) -> Money:
        """The amount if this is a debit, else zero."""
        return self.amount if self.side is Side.DEBIT else Money.zero(self.amount.currency)

    @property
    def credit_amount(self) -> Money:
        """The amount if this is a credit, else zero."""
        return self.amount if self.side is Side.CREDIT else Money.zero(self.amount.currency)


def _positive_int(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not int or value < 1:
        raise InvalidInput(f"{attribute.name} must be an int of at least 1, not {value!r}")


@attrs.frozen
class Cause:
    """The event that caused an entry: its aggregate's id and its sequence number."""

    aggregate_id: str = attrs.field(validator=_check_text)
    sequence: int = attrs.field(validator=_positive_int)

    @classmethod
    def of(cls, event: DomainEvent) -> Cause:
        """The cause pointing at ``event``."""
        if not isinstance(event, DomainEvent):
            raise InvalidInput(f"a cause is a DomainEvent, not {event!r}")
        return cls(event.aggregate_id, event.sequence)


def _lines(value: Iterable[JournalLine]) -> tuple[JournalLine, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidInput(f"lines must be a sequence of JournalLine, not {value!r}")
    return tuple(value)


def _check_cause(_: object, __: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, Cause):
        raise InvalidInput(f"cause must be a Cause or None, not {value!r}")


def _aware(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    require_aware(value, attribute.name)


def _per_currency(lines: Iterable[JournalLine], side: Side) -> dict[str, Decimal]:
    sums: dict[str, Decimal] = {}
    for line in lines:
        if line.side is side:
            code = line.amount.code
            sums[code] = sums.get(code, Decimal(0)) + line.amount.amount
    return sums


@attrs.frozen(kw_only=True)
class JournalEntry:
    """A balanced journal entry: lines whose debits equal their credits in each currency.

    ``kind`` says what the entry records (``"sale"``, ``"capture"``, ...).
    ``order_id``, ``payment_id`` and ``cause`` link it to what caused it;
    ``reverses`` names the entry it reverses, if it is a reversal. Building
    an unbalanced entry raises `UnbalancedEntry`.
    """

    id: str = attrs.field(validator=_check_text)
    at: datetime = attrs.field(validator=_aware)
    description: str = attrs.field(validator=_check_text)
    lines: tuple[JournalLine, ...] = attrs.field(converter=_lines)
    kind: str = attrs.field(default="general", validator=_check_text)
    order_id: str | None = attrs.field(default=None, validator=_check_optional_text)
    payment_id: str | None = attrs.field(default=None, validator=_check_optional_text)
    cause: Cause | None = attrs.field(default=None, validator=_check_cause)
    reverses: str | None = attrs.field(default=None, validator=_check_optional_text)

    @lines.validator
    def _check_lines(self, _: object, value: tuple[JournalLine, ...]) -> None:
        for line in value:
            if not isinstance(line, JournalLine):
                raise InvalidInput(f"entry {self.id!r}: a line must be a JournalLine, not {line!r}")
        if len(value) < 2:
            raise UnbalancedEntry(
                f"entry {self.id!r} has {len(value)} line(s); an entry needs at least a debit "
                "and a credit"
            )
        debits = _per_currency(value, Side.DEBIT)
        credits = _per_currency(value, Side.CREDIT)
        for code in sorted(set(debits) | set(credits)):
            debit, credit = debits.get(code, Decimal(0)), credits.get(code, Decimal(0))
            if debit != credit:
                raise UnbalancedEntry(
                    f"entry {self.id!r} does not balance in {code}: debits {debit}, "
                    f"credits {credit}; every currency's debits must equal its credits"
                )

    @property
    def currencies(self) -> tuple[str, ...]:
        """The currencies of the lines, sorted."""
        return tuple(sorted({line.amount.code for line in self.lines}))

    def total(self, currency: str | None = None) -> Money:
        """The sum of the debits (equal to the credits) in ``currency``.

        ``currency`` may be left out when the entry has only one.
        """
        code = self._currency(currency)
        return Money(_per_currency(self.lines, Side.DEBIT).get(code, Decimal(0)), code)

    def _currency(self, currency: str | None) -> str:
        if currency is not None:
            return currency_code(currency)
        if len(self.currencies) != 1:
            raise InvalidInput(
                f"entry {self.id!r} is in {', '.join(self.currencies)}; name the currency"
            )
        return self.currencies[0]

    def fingerprint(self) -> str:
        """A digest of everything in the entry: equal entries have equal fingerprints."""
        return hashlib.sha256(repr(self).encode("utf-8")).hexdigest()

    def reversed(self, *, id: str, at: datetime, description: str | None = None) -> JournalEntry:
        """The entry that undoes this one: each line on the other side, same links."""
        return JournalEntry(
            id=id,
            at=at,
            description=description or f"reversal of {self.id}: {self.description}",
            lines=[JournalLine(line.account, line.side.other, line.amount) for line in self.lines],
            kind=self.kind,
            order_id=self.order_id,
            payment_id=self.payment_id,
            cause=self.cause,
            reverses=self.id,
        )


class SettlementKind(enum.Enum):
    """How a pending entry was settled."""

    POSTED = "posted"
    VOIDED = "voided"


@attrs.frozen(kw_only=True)
class Settlement:
    """How a pending entry was settled: posted (in full or partly) under ``entry_id``, or voided.

    ``posted`` and ``released`` are per currency and add up to the pending entry's total.
    """

    pending_id: str
    kind: SettlementKind
    entry_id: str | None
    posted: tuple[Money, ...]
    released: tuple[Money, ...]
    at: datetime


# --- the ledger --------------------------------------------------------------------------

_Key = tuple[str, str]
"""(account code, currency code)."""


def _signed(line: JournalLine, normal: Side) -> Decimal:
    """The line's effect on its account's balance, positive on the normal side."""
    return line.amount.amount if line.side is normal else -line.amount.amount


def _in_period(at: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or at >= start) and (end is None or at < end)


@attrs.frozen(kw_only=True, eq=False)
class Ledger:
    """A journal of posted entries, pending entries and their settlements, over a chart.

    A value: every change returns a new ledger and leaves this one unchanged,
    so a change that raises posts nothing. Make one with `Ledger.open`.
    """

    chart: ChartOfAccounts
    _entries: tuple[JournalEntry, ...] = attrs.field(alias="entries", default=())
    _by_id: Mapping[str, JournalEntry] = attrs.field(alias="by_id", factory=dict)
    _pending: Mapping[str, JournalEntry] = attrs.field(alias="pending", factory=dict)
    _settlements: Mapping[str, Settlement] = attrs.field(alias="settlements", factory=dict)
    _reversed_by: Mapping[str, str] = attrs.field(alias="reversed_by", factory=dict)
    _totals: Mapping[_Key, Decimal] = attrs.field(alias="totals", factory=dict)

    @classmethod
    def open(cls, chart: ChartOfAccounts | None = None) -> Ledger:
        """An empty ledger over ``chart`` (default: `ChartOfAccounts.default`)."""
        if chart is None:
            chart = ChartOfAccounts.default()
        if not isinstance(chart, ChartOfAccounts):
            raise InvalidInput(f"chart must be a ChartOfAccounts, not {chart!r}")
        return cls(chart=chart)

    def with_account(self, account: Account) -> Ledger:
        """Return the ledger with ``account`` added to its chart."""
        chart = self.chart.with_account(account)
        return self if chart is self.chart else attrs.evolve(self, chart=chart)

    # --- reading ---

    @property
    def entries(self) -> tuple[JournalEntry, ...]:
        """The posted entries, in posting order."""
        return self._entries

    def entry(self, id: str) -> JournalEntry:
        """The posted or pending entry ``id``; `NotFound` if there is none."""
        found = self._by_id.get(id) or self._pending.get(id)
        if found is None:
            raise NotFound("journal entry", id)
        return found

    def pending_entries(self) -> tuple[JournalEntry, ...]:
        """The pending entries not settled yet, in the order they were held."""
        return tuple(e for key, e in self._pending.items() if key not in self._settlements)

    def settlement(self, pending_id: str) -> Settlement | None:
        """How the pending entry ``pending_id`` was settled, or ``None`` while it is open."""
        if pending_id not in self._pending:
            raise NotFound("pending entry", pending_id)
        return self._settlements.get(pending_id)

    def reversal_of(self, entry_id: str) -> JournalEntry | None:
        """The entry that reversed ``entry_id``, or ``None``."""
        self.entry(entry_id)
        found = self._reversed_by.get(entry_id)
        return None if found is None else self._by_id[found]

    def entries_for(
        self, *, order_id: str | None = None, payment_id: str | None = None
    ) -> tuple[JournalEntry, ...]:
        """The posted entries linked to ``order_id`` and/or ``payment_id``."""
        return tuple(
            e
            for e in self._entries
            if (order_id is None or e.order_id == order_id)
            and (payment_id is None or e.payment_id == payment_id)
        )

    def balance(
        self,
        account: str,
        currency: str,
        *,
        order_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Money:
        """The balance of ``account`` in ``currency``, positive on its normal side.

        Restricted to entries of ``order_id``, and to entries at or after
        ``start`` and before ``end``, when given. Pending entries never count.
        """
        normal = self.chart.get(account).normal_side
        code = currency_code(currency)
        if order_id is None and start is None and end is None:
            return round_money(Money(self._totals.get((account, code), Decimal(0)), code))
        self._check_period(start, end)
        total = Decimal(0)
        for entry in self._entries:
            if (order_id is None or entry.order_id == order_id) and _in_period(
                entry.at, start, end
            ):
                for line in entry.lines:
                    if line.account == account and line.amount.code == code:
                        total += _signed(line, normal)
        return round_money(Money(total, code))

    def trial_balance(
        self,
        *,
        order_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> TrialBalance:
        """Every account's balance per currency in its debit or credit column.

        Restricted like `balance`. Accounts with no postings are left out.
        """
        self._check_period(start, end)
        debits: dict[_Key, Decimal] = {}
        credits: dict[_Key, Decimal] = {}
        if order_id is None and start is None and end is None:
            for key, total in self._totals.items():  # the running balances: no scan
                normal = self.chart.get(key[0]).normal_side
                debits[key] = total if normal is Side.DEBIT else -total
        else:
            for entry in self._entries:
                if (order_id is None or entry.order_id == order_id) and _in_period(
                    entry.at, start, end
                ):
                    for line in entry.lines:
                        key = (line.account, line.amount.code)
                        into = debits if line.side is Side.DEBIT else credits
                        into[key] = into.get(key, Decimal(0)) + line.amount.amount
        order = {code: n for n, code in enumerate(self.chart.accounts)}
        rows = []
        for account, code in sorted(set(debits) | set(credits), key=lambda k: (k[1], order[k[0]])):
            net = debits.get((account, code), Decimal(0)) - credits.get((account, code), Decimal(0))
            rows.append(
                TrialBalanceRow(
                    account=self.chart.get(account),
                    debit=round_money(Money(max(net, Decimal(0)), code)),
                    credit=round_money(Money(max(-net, Decimal(0)), code)),
                )
            )
        return TrialBalance(rows=tuple(rows))

    @staticmethod
    def _check_period(start: datetime | None, end: datetime | None) -> None:
        if start is not None:
            require_aware(start, "start")
        if end is not None:
            require_aware(end, "end")
        if start is not None and end is not None and end < start:
            raise InvalidInput(f"a period's end {end.isoformat()} is before its start")

    # --- changing ---

    def post(self, entry: JournalEntry) -> Ledger:
        """Return the ledger with ``entry`` posted; the same entry again changes nothing.

        Raises `UnknownAccount` for an account outside the chart,
        `IdempotencyConflict` for another entry under a used id,
        `InsufficientBalance` if a never-negative account would go below zero.
        """
        return self.post_all([entry])

    def post_all(self, entries: Iterable[JournalEntry]) -> Ledger:
        """Return the ledger with every entry posted in order, or, if one is refused, none."""
        listed = list(entries)
        posted = list(self._entries)
        by_id = dict(self._by_id)
        reversed_by = dict(self._reversed_by)
        totals = dict(self._totals)
        added = False
        for entry in listed:
            if not isinstance(entry, JournalEntry):
                raise InvalidInput(f"a ledger posts JournalEntry values, not {entry!r}")
            if self._already(entry, by_id):
                continue
            if entry.reverses is not None:
                self._check_reversal(entry, by_id, reversed_by)
                reversed_by[entry.reverses] = entry.id
            self._apply(entry, totals)
            posted.append(entry)
            by_id[entry.id] = entry
            added = True
        if not added:
            return self
        return attrs.evolve(
            self, entries=tuple(posted), by_id=by_id, reversed_by=reversed_by, totals=totals
        )

    def _already(self, entry: JournalEntry, by_id: Mapping[str, JournalEntry]) -> bool:
        if entry.id in self._pending:
            raise InvalidInput(
                f"entry {entry.id!r} is pending; settle it with post_pending or void_pending"
            )
        known = by_id.get(entry.id)
        if known is None:
            return False
        if known == entry:
            return True
        raise IdempotencyConflict(entry.id, recorded=known.fingerprint(), given=entry.fingerprint())

    def _check_reversal(
        self,
        entry: JournalEntry,
        by_id: Mapping[str, JournalEntry],
        reversed_by: Mapping[str, str],
    ) -> None:
        target = entry.reverses
        assert target is not None
        original = by_id.get(target)
        if original is None:
            raise NotFound("journal entry", target)
        if original.reverses is not None:
            raise InvalidInput(
                f"entry {target!r} is itself a reversal and cannot be reversed; "
                f"post the entry {original.reverses!r} again under a new id instead"
            )
        if target in reversed_by:
            raise InvalidInput(
                f"entry {target!r} was already reversed by {reversed_by[target]!r}; "
                "an entry is reversed once"
            )
        if sorted(map(repr, entry.lines)) != sorted(
            repr(JournalLine(line.account, line.side.other, line.amount)) for line in original.lines
        ):
            raise UnbalancedEntry(
                f"entry {entry.id!r} does not mirror the lines of {target!r}, which it reverses"
            )

    def _apply(self, entry: JournalEntry, totals: dict[_Key, Decimal]) -> None:
        changes: dict[_Key, Decimal] = {}
        for line in entry.lines:
            account = self.chart.get(line.account)
            key = (line.account, line.amount.code)
            changes[key] = changes.get(key, Decimal(0)) + _signed(line, account.normal_side)
        for key in sorted(changes):
            before = totals.get(key, Decimal(0))
            if self.chart.get(key[0]).never_negative and before + changes[key] < 0:
                raise InsufficientBalance(
                    key[0],
                    requested=f"{-changes[key]} {key[1]}",
                    available=f"{before} {key[1]}",
                )
        for key, change in changes.items():
            totals[key] = totals.get(key, Decimal(0)) + change

    def reverse(
        self, entry_id: str, *, id: str, at: datetime, description: str | None = None
    ) -> Ledger:
        """Return the ledger with posted entry ``entry_id`` reversed by a new entry ``id``.

        Reversing again under the same ``id`` (and time) changes nothing; under
        another id, or reversing a reversal, raises `InvalidInput`.
        """
        original = self._by_id.get(entry_id)
        if original is None:
            if entry_id in self._pending:
                raise InvalidInput(
                    f"entry {entry_id!r} is pending; void it with void_pending instead"
                )
            raise NotFound("journal entry", entry_id)
        return self.post(original.reversed(id=id, at=at, description=description))

    def hold(self, entry: JournalEntry) -> Ledger:
        """Return the ledger with ``entry`` pending: listed, in no balance until posted.

        Idempotent per id like `post`; the accounts must be in the chart.
        """
        if not isinstance(entry, JournalEntry):
            raise InvalidInput(f"a ledger holds JournalEntry values, not {entry!r}")
        known = self._pending.get(entry.id) or self._by_id.get(entry.id)
        if known is not None:
            if known == entry and entry.id in self._pending:
                return self
            raise IdempotencyConflict(
                entry.id, recorded=known.fingerprint(), given=entry.fingerprint()
            )
        if entry.reverses is not None:
            raise InvalidInput(f"a reversal ({entry.id!r}) is posted, never held")
        for line in entry.lines:
            self.chart.get(line.account)
        return attrs.evolve(self, pending={**self._pending, entry.id: entry})

    def post_pending(
        self,
        pending_id: str,
        *,
        entry_id: str,
        at: datetime,
        amount: Money | None = None,
    ) -> Ledger:
        """Settle pending ``pending_id`` by posting it as ``entry_id``: all, or ``amount`` of it.

        With ``amount`` (in the pending entry's one currency, at most its
        total), each side's lines are scaled to it by `allocate` and the rest
        is released. A pending entry is settled once: the same call again
        changes nothing, any other settlement raises `InvalidInput`.
        """
        pending = self._open_pending(pending_id)
        require_aware(at, "at")
        _text("entry id", entry_id)
        if amount is None:
            lines = pending.lines
            posted = tuple(pending.total(code) for code in pending.currencies)
            released: tuple[Money, ...] = ()
        else:
            lines, posted, released = _scaled(pending, amount)
        settlement = Settlement(
            pending_id=pending_id,
            kind=SettlementKind.POSTED,
            entry_id=entry_id,
            posted=posted,
            released=released,
            at=at,
        )
        if self._settled_as(settlement):
            return self
        entry = JournalEntry(
            id=entry_id,
            at=at,
            description=pending.description,
            lines=lines,
            kind=pending.kind,
            order_id=pending.order_id,
            payment_id=pending.payment_id,
            cause=pending.cause,
        )
        after = self.post(entry)
        if after is self:  # the id was already posted with these very lines: not this pending's
            raise IdempotencyConflict(
                entry_id, recorded=entry.fingerprint(), given=f"settle {pending_id}"
            )
        return attrs.evolve(after, settlements={**self._settlements, pending_id: settlement})

    def void_pending(self, pending_id: str, *, at: datetime) -> Ledger:
        """Settle pending ``pending_id`` by releasing all of it; posts nothing.

        Voiding it again changes nothing; voiding a posted one raises `InvalidInput`.
        """
        pending = self._open_pending(pending_id)
        require_aware(at, "at")
        settlement = Settlement(
            pending_id=pending_id,
            kind=SettlementKind.VOIDED,
            entry_id=None,
            posted=(),
            released=tuple(pending.total(code) for code in pending.currencies),
            at=at,
        )
        if self._settled_as(settlement):
            return self
        return attrs.evolve(self, settlements={**self._settlements, pending_id: settlement})

    def _open_pending(self, pending_id: str) -> JournalEntry:
        found = self._pending.get(pending_id)
        if found is None:
            raise NotFound("pending entry", pending_id, self._pending)
        return found

    def _settled_as(self, settlement: Settlement) -> bool:
        """Whether the pending entry is settled already exactly so; raise if otherwise."""
        known = self._settlements.get(settlement.pending_id)
        if known is None:
            return False
        if attrs.evolve(known, at=settlement.at) == settlement:
            return True  # the first settlement's time stands
        how = f"posted as {known.entry_id!r}" if known.entry_id else "voided"
        raise InvalidInput(
            f"pending entry {settlement.pending_id!r} was already settled ({how} at "
            f"{known.at.isoformat()}); a pending entry is posted, partly posted or voided once"
        )


def _scaled(
    pending: JournalEntry, amount: Money
) -> tuple[tuple[JournalLine, ...], tuple[Money, ...], tuple[Money, ...]]:
    """The pending entry's lines scaled so each side sums to ``amount``; posted and released."""
    if len(pending.currencies) != 1:
        raise InvalidInput(
            f"pending entry {pending.id!r} is in {', '.join(pending.currencies)}; "
            "only a one-currency entry can be posted in part"
        )
    _positive_money("the amount to post", amount)
    total = pending.total()
    if amount.currency != total.currency:
        raise InvalidInput(f"pending entry {pending.id!r} is in {total.code}, not {amount.code}")
    if amount > total:
        raise InvalidInput(
            f"cannot post {amount} of pending entry {pending.id!r}: it holds only {total}"
        )
    lines: list[JournalLine] = []
    for side in (Side.DEBIT, Side.CREDIT):
        own = [line for line in pending.lines if line.side is side]
        parts = allocate(amount, [line.amount for line in own])
        lines.extend(
            JournalLine(line.account, side, part)
            for line, part in zip(own, parts, strict=True)
            if part.amount
        )
    rest = total - amount
    return tuple(lines), (amount,), ((rest,) if rest.amount else ())


# --- trial balance -----------------------------------------------------------------------


def _shown(value: Money) -> str:
    return str(round_money(value).amount)


@attrs.frozen(kw_only=True)
class TrialBalanceRow:
    """One account's balance in one currency, in its debit or its credit column."""

    account: Account
    debit: Money
    credit: Money

    @property
    def currency(self) -> str:
        """The currency of the row."""
        return self.debit.code

    @property
    def balance(self) -> Money:
        """The balance, positive on the account's normal side."""
        net = self.debit - self.credit
        return net if self.account.normal_side is Side.DEBIT else -net


@attrs.frozen(kw_only=True)
class TrialBalance:
    """Every account's balance, by currency; the two columns are equal in each currency."""

    rows: tuple[TrialBalanceRow, ...]

    @property
    def currencies(self) -> tuple[str, ...]:
        """The currencies with postings, sorted."""
        return tuple(sorted({row.currency for row in self.rows}))

    def totals(self, currency: str) -> tuple[Money, Money]:
        """The sums of the debit and the credit column in ``currency``."""
        code = currency_code(currency)
        mine = [row for row in self.rows if row.currency == code]
        return (
            sum((row.debit for row in mine), Money.zero(code)),
            sum((row.credit for row in mine), Money.zero(code)),
        )

    @property
    def is_balanced(self) -> bool:
        """Whether debits equal credits in every currency."""
        return all(debit == credit for debit, credit in map(self.totals, self.currencies))

    def balance(self, account: str, currency: str) -> Money:
        """The balance of ``account`` in ``currency`` (zero if it has no postings)."""
        code = currency_code(currency)
        for row in self.rows:
            if row.account.code == account and row.currency == code:
                return row.balance
        return Money.zero(code)

    def format(self) -> str:
        """The trial balance as a text table, one block per currency.

        Accounts whose postings net to zero are left out of the table (they
        stay in ``rows``).
        """
        lines: list[str] = []
        for code in self.currencies:
            lines.append(f"{'account (' + code + ')':<28}{'debit':>14}{'credit':>14}")
            for row in self.rows:
                if row.currency == code and (row.debit.amount or row.credit.amount):
                    debit = _shown(row.debit) if row.debit.amount else ""
                    credit = _shown(row.credit) if row.credit.amount else ""
                    lines.append(f"{row.account.code:<28}{debit:>14}{credit:>14}".rstrip())
            debit_total, credit_total = self.totals(code)
            lines.append(f"{'total':<28}{_shown(debit_total):>14}{_shown(credit_total):>14}")
        return "\n".join(lines)


# --- posting rules -----------------------------------------------------------------------

_TENDER_ACCOUNTS = {
    PaymentMethod.CARD: GATEWAY_CLEARING,
    PaymentMethod.E_WALLET: GATEWAY_CLEARING,
    PaymentMethod.BANK_TRANSFER: CASH,
    PaymentMethod.CASH_ON_DELIVERY: COD_IN_TRANSIT,
    PaymentMethod.STORE_CREDIT: STORE_CREDIT_LIABILITY,
    PaymentMethod.GIFT_CARD: GIFT_CARD_LIABILITY,
    PaymentMethod.LOYALTY_POINTS: POINTS_LIABILITY,
}
_REFUND_ACCOUNTS = {**_TENDER_ACCOUNTS, PaymentMethod.CASH_ON_DELIVERY: CASH}


def _method(value: object) -> PaymentMethod:
    if isinstance(value, PaymentMethod):
        return value
    try:
        return PaymentMethod(value)
    except ValueError:
        allowed = ", ".join(method.value for method in PaymentMethod)
        raise InvalidInput(f"payment method must be one of {allowed}, not {value!r}") from None


def tender_account(method: PaymentMethod | str, *, refund: bool = False) -> str:
    """The account a payment by ``method`` is received into (or, for ``refund``, paid back from).

    Card and e-wallet: gateway clearing; bank transfer: cash; cash on
    delivery: COD in transit (refunds of it are paid from cash); store
    credit, gift cards, points: their liability.
    """
    found = _method(method)
    return (_REFUND_ACCOUNTS if refund else _TENDER_ACCOUNTS)[found]


def _optional_money(what: str, value: object, currency: str) -> Money | None:
    if value is None:
        return None
    if not isinstance(value, Money):
        raise InvalidInput(f"{what} must be Money or None, not {value!r}")
    if value.code != currency:
        raise InvalidInput(f"{what} is in {value.code}, but the entry is in {currency}")
    if value.amount < 0:
        raise InvalidInput(f"{what} must be zero or more, not {value}")
    _whole_minor_units(value, what)
    return value if value.amount else None


def sale_entry(
    *,
    id: str,
    at: datetime,
    order_id: str,
    goods: Money,
    shipping: Money | None = None,
    tax: Money | None = None,
    discount: Money | None = None,
    cause: Cause | None = None,
    description: str | None = None,
) -> JournalEntry:
    """The entry of an order sold: the customer owes ``goods - discount + shipping + tax``.

    ``goods`` and ``shipping`` are net of tax; ``discount`` is what the order's
    promotions took off; ``tax`` is the tax charged. Debits customer
    receivable (and discounts given); credits sales revenue, shipping
    revenue and tax payable.
    """
    goods = _positive_money("goods", goods)
    code = goods.code
    ship = _optional_money("shipping", shipping, code)
    taxed = _optional_money("tax", tax, code)
    off = _optional_money("discount", discount, code)
    nothing = Money.zero(code)
    owed = goods + (ship or nothing) + (taxed or nothing) - (off or nothing)
    if owed.amount <= 0:
        raise InvalidInput(f"order {order_id!r}: the discount {off} leaves nothing owed")
    lines = [JournalLine.debit(CUSTOMER_RECEIVABLE, owed)]
    if off is not None:
        lines.append(JournalLine.debit(DISCOUNTS_GIVEN, off))
    lines.append(JournalLine.credit(SALES_REVENUE, goods))
    if ship is not None:
        lines.append(JournalLine.credit(SHIPPING_REVENUE, ship))
    if taxed is not None:
        lines.append(JournalLine.credit(TAX_PAYABLE, taxed))
    return JournalEntry(
        id=id,
        at=at,
        description=description or f"order {order_id} sold",
        lines=lines,
        kind="sale",
        order_id=order_id,
        cause=cause,
    )


def _payment_lines(method: PaymentMethod | str, amount: Money) -> list[JournalLine]:
    amount = _positive_money("the amount", amount)
    return [
        JournalLine.debit(tender_account(method), amount),
        JournalLine.credit(CUSTOMER_RECEIVABLE, amount),
    ]


def capture_entry(
    *,
    id: str,
    at: datetime,
    order_id: str,
    payment_id: str,
    method: PaymentMethod | str,
    amount: Money,
    cause: Cause | None = None,
    description: str | None = None,
) -> JournalEntry:
    """The entry of money taken for an order: debit the tender's account, credit receivable.

    Covers a card or e-wallet capture (gateway clearing), a bank transfer
    received (cash), a COD collection by the carrier (COD in transit) and a
    use of store credit, a gift card or points (their liability).
    """
    found = _method(method)
    return JournalEntry(
        id=id,
        at=at,
        description=description or f"{found.value} payment {payment_id} captured",
        lines=_payment_lines(found, amount),
        kind="capture",
        order_id=order_id,
        payment_id=payment_id,
        cause=cause,
    )


def authorization_hold(
    *,
    id: str,
    at: datetime,
    order_id: str,
    payment_id: str,
    method: PaymentMethod | str,
    amount: Money,
    cause: Cause | None = None,
) -> JournalEntry:
    """The pending entry of an authorisation: the capture it promises, to `Ledger.hold`.

    Post it with `Ledger.post_pending` (in full, or the amount captured) or
    release it with `Ledger.void_pending` when the authorisation is voided or expires.
    """
    found = _method(method)
    return JournalEntry(
        id=id,
        at=at,
        description=f"{found.value} payment {payment_id} authorised",
        lines=_payment_lines(found, amount),
        kind="capture",
        order_id=order_id,
        payment_id=payment_id,
        cause=cause,
    )


def fee_entry(
    *,
    id: str,
    at: datetime,
    amount: Money,
    order_id: str | None = None,
    payment_id: str | None = None,
    cause: Cause | None = None,
    description: str | None = None,
) -> JournalEntry:
    """A gateway's fee, kept back from what it holds: debit gateway fees, credit clearing."""
    amount = _positive_money("the fee", amount)
    return JournalEntry(
        id=id,
        at=at,
        description=description or "gateway fee",
        lines=[
            JournalLine.debit(GATEWAY_FEES, amount),
            JournalLine.credit(GATEWAY_CLEARING, amount),
        ],
        kind="fee",
        order_id=order_id,
        payment_id=payment_id,
        cause=cause,
    )


def gateway_payout_entry(
    *, id: str, at: datetime, amount: Money, description: str | None = None
) -> JournalEntry:
    """A gateway paying the shop what it holds: debit cash, credit gateway clearing."""
    amount = _positive_money("the payout", amount)
    return JournalEntry(
        id=id,
        at=at,
        description=description or "gateway payout",
        lines=[JournalLine.debit(CASH, amount), JournalLine.credit(GATEWAY_CLEARING, amount)],
        kind="payout",
    )


def refund_entry(
    *,
    id: str,
    at: datetime,
    order_id: str,
    payment_id: str,
    method: PaymentMethod | str,
    amount: Money,
    cause: Cause | None = None,
    description: str | None = None,
) -> JournalEntry:
    """Money given back on a payment: debit refunds, credit the account it is paid from.

    The account is `tender_account` of ``method`` with ``refund=True``: a
    card refund leaves through gateway clearing, a COD refund from cash, a
    store-credit refund goes back onto the store-credit liability.
    """
    found = _method(method)
    amount = _positive_money("the refund", amount)
    return JournalEntry(
        id=id,
        at=at,
        description=description or f"{found.value} payment {payment_id} refunded",
        lines=[
            JournalLine.debit(REFUNDS, amount),
            JournalLine.credit(tender_account(found, refund=True), amount),
        ],
        kind="refund",
        order_id=order_id,
        payment_id=payment_id,
        cause=cause,
    )


def cod_remittance_entry(
    *,
    id: str,
    at: datetime,
    order_id: str,
    payment_id: str,
    amount: Money,
    fee: Money | None = None,
    cause: Cause | None = None,
    description: str | None = None,
) -> JournalEntry:
    """A carrier paying over the ``amount`` it collected, less its collection ``fee``.

    Debits cash (``amount - fee``) and gateway fees (``fee``), credits COD in transit (``amount``).
    """
    amount = _positive_money("the remitted amount", amount)
    kept = _optional_money("the collection fee", fee, amount.code)
    if kept is not None and kept >= amount:
        raise InvalidInput(f"the collection fee {kept} must be less than the amount {amount}")
    lines = [JournalLine.debit(CASH, amount - (kept or Money.zero(amount.code)))]
    if kept is not None:
        lines.append(JournalLine.debit(GATEWAY_FEES, kept))
    lines.append(JournalLine.credit(COD_IN_TRANSIT, amount))
    return JournalEntry(
        id=id,
        at=at,
        description=description or f"cash on delivery {payment_id} remitted by the carrier",
        lines=lines,
        kind="remittance",
        order_id=order_id,
        payment_id=payment_id,
        cause=cause,
    )


def store_credit_issued_entry(
    *,
    id: str,
    at: datetime,
    amount: Money,
    debit_account: str = REFUNDS,
    order_id: str | None = None,
    cause: Cause | None = None,
    description: str | None = None,
) -> JournalEntry:
    """Store credit given to a customer: debit ``debit_account``, credit store-credit liability.

    ``debit_account`` is `REFUNDS` when a refund is paid as store credit,
    `CUSTOMER_COMPENSATION` for goodwill. Spending it is a `capture_entry`
    with the store-credit method.
    """
    amount = _positive_money("the store credit", amount)
    return JournalEntry(
        id=id,
        at=at,
        description=description or "store credit issued",
        lines=[
            JournalLine.debit(_text("debit account", debit_account), amount),
            JournalLine.credit(STORE_CREDIT_LIABILITY, amount),
        ],
        kind="store_credit",
        order_id=order_id,
        cause=cause,
    )


def payment_event_entry(
    event: DomainEvent, *, method: PaymentMethod | str, collection_fee: Money | None = None
) -> JournalEntry | None:
    """The entry a payment event posts, or ``None`` for an event that moves no money.

    ``PaymentCaptured`` gives a `capture_entry`, ``PaymentRefunded`` a
    `refund_entry` and ``PaymentRemitted`` a `cod_remittance_entry` (with
    ``collection_fee`` as the carrier's collection fee, if any). Ids are made
    from the payment id and the capture or refund id (``"p-1/capture/c-1"``),
    so an event delivered twice gives the same entry and posts once.
    ``method`` is the payment's method, which the events do not carry.
    """
    cause = Cause.of(event)
    if isinstance(event, PaymentCaptured):
        return capture_entry(
            id=f"{event.aggregate_id}/capture/{event.capture_id}",
            at=event.occurred_at,
            order_id=event.order_id,
            payment_id=event.aggregate_id,
            method=method,
            amount=event.amount,
            cause=cause,
        )
    if isinstance(event, PaymentRefunded):
        return refund_entry(
            id=f"{event.aggregate_id}/refund/{event.refund_id}",
            at=event.occurred_at,
            order_id=event.order_id,
            payment_id=event.aggregate_id,
            method=method,
            amount=event.amount,
            cause=cause,
        )
    if isinstance(event, PaymentRemitted):
        return cod_remittance_entry(
            id=f"{event.aggregate_id}/remittance/{event.capture_id}",
            at=event.occurred_at,
            order_id=event.order_id,
            payment_id=event.aggregate_id,
            amount=event.amount,
            fee=collection_fee,
            cause=cause,
        )
    return None


# --- reconciliation ----------------------------------------------------------------------


class CapturedAndRefunded(Protocol):
    """What reconciliation reads of a payment: `fourflows.cash.payment.PaymentTotals` has it."""

    @property
    def captured(self) -> Money:
        """Money captured so far."""

    @property
    def refunded(self) -> Money:
        """Money refunded so far."""


@attrs.frozen(kw_only=True)
class Difference:
    """A payment figure on which the payments and the ledger disagree."""

    payment_id: str
    figure: str
    """``"captured"`` or ``"refunded"``."""
    payments: Money
    ledger: Money

    @property
    def gap(self) -> Money:
        """What the ledger holds beyond the payments (negative when it holds less)."""
        return self.ledger - self.payments


def reconcile(
    ledger: Ledger, payments: Mapping[str, CapturedAndRefunded]
) -> tuple[Difference, ...]:
    """Each difference between ``payments`` (payment id → totals) and the ledger; empty if none.

    The ledger's captured amount of a payment is the net credit to customer
    receivable, and its refunded amount the net debit to refunds, on the
    posted entries linked to the payment. A payment the ledger knows and
    ``payments`` does not is compared with zero.
    """
    receivable = ledger.chart.get(CUSTOMER_RECEIVABLE).normal_side
    refunds = ledger.chart.get(REFUNDS).normal_side
    found: dict[tuple[str, str, str], Decimal] = {}
    for entry in ledger.entries:
        if entry.payment_id is None:
            continue
        for line in entry.lines:
            if line.account == CUSTOMER_RECEIVABLE:
                key = (entry.payment_id, "captured", line.amount.code)
                found[key] = found.get(key, Decimal(0)) - _signed(line, receivable)
            elif line.account == REFUNDS:
                key = (entry.payment_id, "refunded", line.amount.code)
                found[key] = found.get(key, Decimal(0)) + _signed(line, refunds)
    expected: dict[tuple[str, str, str], Decimal] = {}
    for payment_id, totals in payments.items():
        for figure, value in (("captured", totals.captured), ("refunded", totals.refunded)):
            expected[(payment_id, figure, value.code)] = value.amount
    differences = []
    for key in sorted(set(found) | set(expected)):
        payment_id, figure, code = key
        mine, theirs = found.get(key, Decimal(0)), expected.get(key, Decimal(0))
        if mine != theirs:
            differences.append(
                Difference(
                    payment_id=payment_id,
                    figure=figure,
                    payments=Money(theirs, code),
                    ledger=Money(mine, code),
                )
            )
    return tuple(differences)
