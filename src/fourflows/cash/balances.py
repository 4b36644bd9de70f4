"""Stored value the shop holds for its customers: gift cards and store credit.

A `StoredValueAccount` is one balance in one currency: a gift card, known by
its code, or a customer's store credit, known by the customer id. Their ids
are `gift_card_account` and `store_credit_account` of those keys, so the two
kinds never collide.

Every change is an `Entry` with its own id, and the account is a value: each
method returns a new account and leaves the old one as it was.

* ``load`` adds money (issuing a gift card, granting store credit);
* ``spend`` takes money for a payment, and never below zero: asking for more
  than the balance raises `InsufficientBalance` naming the account, the
  amount requested and the amount available;
* ``restore`` gives spent money back (a refund, a canceled order, a
  compensated checkout); the account never gets back more than was spent.

Each entry id is used once: repeating an entry (same id, same kind, same
amount) returns the account unchanged, so a retried command or a redelivered
notification never moves money twice; reusing an id for something else raises
`InvalidInput`. Amounts are positive `Money` in the account's currency;
another currency raises `CurrencyMismatch`.

The application keeps the accounts beside its orders, in the same unit of
work (`fourflows.app.checkout`), so a checkout that fails spends nothing.
"""

from __future__ import annotations

import enum
from decimal import Decimal

import attrs

from fourflows.errors import CurrencyMismatch, InsufficientBalance, InvalidInput
from fourflows.money import Money, currency_code

__all__ = [
    "AccountKind",
    "Entry",
    "EntryKind",
    "StoredValueAccount",
    "gift_card_account",
    "store_credit_account",
]


class AccountKind(enum.Enum):
    """What a stored-value account is: a gift card or a customer's store credit."""

    GIFT_CARD = "gift_card"
    STORE_CREDIT = "store_credit"


class EntryKind(enum.Enum):
    """What an entry did to the balance."""

    LOAD = "load"
    SPEND = "spend"
    RESTORE = "restore"


def _key(what: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip() or ":" in value:
        raise InvalidInput(f"{what} must be a non-empty string without ':', not {value!r}")
    return value.strip()


def gift_card_account(code: str) -> str:
    """The account id of the gift card ``code``."""
    return f"{AccountKind.GIFT_CARD.value}:{_key('a gift card code', code)}"


def store_credit_account(customer_id: str) -> str:
    """The account id of customer ``customer_id``'s store credit."""
    return f"{AccountKind.STORE_CREDIT.value}:{_key('a customer id', customer_id)}"


def _account_id(value: object) -> str:
    if isinstance(value, str):
        kind, _, key = value.partition(":")
        if kind in {k.value for k in AccountKind} and key.strip() and ":" not in key:
            return value
    raise InvalidInput(
        f"an account id must be 'gift_card:<code>' or 'store_credit:<customer id>', not {value!r}"
    )


def _entry_id(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"an entry id must be a non-empty string, not {value!r}")
    return value


def _positive(value: object) -> Money:
    if not isinstance(value, Money):
        raise InvalidInput(f"an entry amount must be Money, not {value!r}")
    if value.amount <= 0:
        raise InvalidInput(f"an entry amount must be positive, not {value}")
    return value


@attrs.frozen(kw_only=True)
class Entry:
    """One change to a balance: its id, its kind and its (positive) amount."""

    id: str = attrs.field(converter=_entry_id)
    kind: EntryKind = attrs.field(validator=attrs.validators.instance_of(EntryKind))
    amount: Money = attrs.field(converter=_positive)


def _entries(value: object) -> tuple[Entry, ...]:
    if not isinstance(value, tuple | list) or not all(isinstance(e, Entry) for e in value):
        raise InvalidInput(f"entries must be a sequence of Entry, not {value!r}")
    return tuple(value)


@attrs.frozen(kw_only=True)
class StoredValueAccount:
    """A balance the shop holds: its id, its currency and every entry that moved it."""

    id: str = attrs.field(converter=_account_id)
    currency: str = attrs.field(converter=currency_code)
    entries: tuple[Entry, ...] = attrs.field(default=(), converter=_entries)

    def __attrs_post_init__(self) -> None:
        for entry in self.entries:
            self._same_currency(entry.amount, entry.kind.value)

    @classmethod
    def open(cls, account_id: str, currency: str) -> StoredValueAccount:
        """A new, empty account."""
        return cls(id=account_id, currency=currency)

    @property
    def kind(self) -> AccountKind:
        """Gift card or store credit."""
        return AccountKind(self.id.partition(":")[0])

    def _total(self, kind: EntryKind) -> Money:
        amount = sum((e.amount.amount for e in self.entries if e.kind is kind), Decimal(0))
        return Money(amount, self.currency)

    @property
    def loaded(self) -> Money:
        """Everything loaded onto the account."""
        return self._total(EntryKind.LOAD)

    @property
    def spent(self) -> Money:
        """Everything spent from it."""
        return self._total(EntryKind.SPEND)

    @property
    def restored(self) -> Money:
        """Everything given back to it."""
        return self._total(EntryKind.RESTORE)

    @property
    def balance(self) -> Money:
        """What is left: loaded - spent + restored (never below zero)."""
        return self.loaded - self.spent + self.restored

    def entry(self, entry_id: str) -> Entry | None:
        """The entry with ``entry_id``, or ``None``."""
        for entry in self.entries:
            if entry.id == entry_id:
                return entry
        return None

    def _same_currency(self, amount: Money, operation: str) -> None:
        if amount.currency.code != self.currency:
            raise CurrencyMismatch(self.currency, amount.currency.code, operation)

    def _add(self, entry_id: str, kind: EntryKind, amount: Money) -> StoredValueAccount | None:
        """``None`` when the entry is a repeat; raise if the id was used for something else."""
        new = Entry(id=entry_id, kind=kind, amount=amount)
        self._same_currency(new.amount, kind.value)
        found = self.entry(new.id)
        if found is None:
            return attrs.evolve(self, entries=(*self.entries, new))
        if found == new:
            return None
        raise InvalidInput(
            f"entry {entry_id!r} of account {self.id!r} already {found.kind.value}s "
            f"{found.amount}; it cannot also {kind.value} {amount}: use a new entry id"
        )

    def load(self, *, entry_id: str, amount: Money) -> StoredValueAccount:
        """Add ``amount`` (issue or top up); a repeated ``entry_id`` changes nothing."""
        return self._add(entry_id, EntryKind.LOAD, amount) or self

    def spend(self, *, entry_id: str, amount: Money) -> StoredValueAccount:
        """Take ``amount``; `InsufficientBalance` if the balance is smaller."""
        added = self._add(entry_id, EntryKind.SPEND, amount)
        if added is None:
            return self
        if amount > self.balance:
            raise InsufficientBalance(self.id, requested=str(amount), available=str(self.balance))
        return added

    def restore(self, *, entry_id: str, amount: Money) -> StoredValueAccount:
        """Give back ``amount`` that was spent; never more than spent minus restored."""
        added = self._add(entry_id, EntryKind.RESTORE, amount)
        if added is None:
            return self
        owed = self.spent - self.restored
        if amount > owed:
            raise InvalidInput(
                f"account {self.id!r} cannot get back {amount}: only {owed} was spent "
                "and not yet restored"
            )
        return added
