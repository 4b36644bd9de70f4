"""Payments: one tender's money for an order, driven through its own machine.

A `Payment` is what one tender (a card, a bank transfer, cash on delivery, a
wallet, store credit, a gift card, loyalty points) should cover of an order,
and what has happened to that money so far. It is pure domain: it never calls
a gateway. The application calls the gateway, then tells the payment what the
gateway said (``authorize``, ``capture_succeeded``, ``refund_failed``, ...), or
asks it first whether a command is allowed (``can``, ``capturable``).

**States.** ``pending`` (created, nothing asked yet), ``requires_action``
(3-D Secure or a wallet confirmation; or bank-transfer funds awaited in a
virtual account until a deadline), ``needs_reconciliation`` (the authorisation
or one-step charge timed out: the outcome is unknown), ``authorized``,
``partially_captured``, ``captured``, ``partially_refunded``,
``void_requested``, and the final ``refunded``, ``voided``, ``failed`` and
``expired``. ``captured`` is not final: refunds, disputes and a COD
remittance still come after it. A final state allows nothing; a notification
that repeats what a final state already says returns ``None``.

**Transitions** (``by amounts``: the destination is what `PaymentTotals.settled_state`
says after the move; ``(same)``: the state does not change)::

    event                   from                                   to
    (create)                -                                      pending
    require_authentication  pending, needs_reconciliation [card,   requires_action
                            e-wallet]
    await_funds             pending, needs_reconciliation [bank    requires_action
                            transfer]
    time_out                pending, requires_action               needs_reconciliation
    authorize               pending, requires_action,              authorized
                            needs_reconciliation
    authorize (late)        captured, partially_refunded           by amounts
                            [authorisation only implied]
    fail                    pending, requires_action,              failed
                            needs_reconciliation
    cancel                  pending, requires_action               voided
    request_capture         authorized, partially_captured,        (same)
                            partially_refunded
    capture_succeeded       pending, requires_action,              captured
                            needs_reconciliation
                            authorized, partially_captured,        by amounts
                            captured, partially_refunded
                            void_requested                         (same)
    capture_failed          authorized, partially_captured,        (same)
                            partially_refunded
    request_void            authorized, partially_captured,        void_requested
                            partially_refunded
    void_succeeded          void_requested, authorized,            voided, or by amounts
                            partially_captured, partially_refunded
    void_failed             void_requested                         by amounts
    expire                  requires_action                        expired
                            authorized, partially_captured,        expired, or by amounts
                            partially_refunded
    request_refund          partially_captured, captured,          (same)
                            partially_refunded, void_requested
    refund_succeeded        the same four                          by amounts (void_requested:
                                                                   same)
    refund_failed,          the same four                          (same)
    refund_canceled
    record_remittance       the same four [cash on delivery]       (same)

Each move records one event: ``PaymentCreated``,
``PaymentAuthenticationRequired``, ``PaymentFundsAwaited``,
``PaymentTimedOut``, ``PaymentAuthorized``, ``PaymentFailed``,
``PaymentCanceled``, ``PaymentCaptureRequested``, ``PaymentCaptured``,
``PaymentCaptureFailed``, ``PaymentVoidRequested``, ``PaymentVoided``,
``PaymentVoidFailed``, ``PaymentExpired``, ``PaymentRefundRequested``,
``PaymentRefunded``, ``PaymentRefundFailed``, ``PaymentRefundCanceled``,
``PaymentRemitted``. Every event names the order; those that move money
carry the `PaymentTotals` after the move, so the order's payment status and
the ledger need no lookup.

**Amounts.** The payment keeps ``amount`` (what it should cover), the
`Authorization`, one `CaptureRecord` per capture id and one `RefundRecord`
per refund id, and a `Release` when an uncaptured remainder was voided or
expired. `PaymentTotals` sums them (totals are derived, never stored apart,
so they cannot disagree with the records) and promises::

    0 <= captured + capture_pending + released <= authorized <= amount
    0 <= refunded + refund_pending <= captured
    remitted <= captured

The four "money states" follow from the totals (`PaymentTotals.settled_state`):
nothing captured is ``authorized``; some captured with more still capturable
(or a capture in flight) is ``partially_captured``; everything captured is
``captured``; once a refund succeeded it is ``partially_refunded``, and
``refunded`` when every captured unit went back and nothing more can be
captured. Every move that changes money is declared once per possible
destination, each guarded by ``lands_<state>``, so the machine, not the
method, decides where the amounts lead.

**Requested but unconfirmed.** Some providers only acknowledge a capture, a
void or a refund and confirm it later by notification; a call that timed out
is in the same position (asked, outcome unknown). Captures and refunds are
therefore *amounts*, not states: ``request_capture`` and ``request_refund``
record the request (``capture_pending``, ``refund_pending``) without moving the
state, and the later ``*_succeeded`` / ``*_failed`` moves the money. The
pending amounts count against the limits, so ``captured + capture_pending``
never passes the authorisation and ``refunded + refund_pending`` never passes
what was captured. A void ends what can be captured, so it *is* a state:
``void_requested``, in which no new capture is allowed (refunds of what was
already captured still are). A capture confirmed while the void is in flight
(the provider took it first) is recorded and shrinks what the void releases;
the void's answer then releases what is left, possibly nothing, and a failed
void returns to the state the amounts say.

Only the authorisation itself gets the explicit ``needs_reconciliation``
state, because only then is the payment's state itself unknown; a timed-out
capture, void or refund keeps the state it had (the money it certainly has)
and stays requested until the gateway's answer is applied.

**Methods of payment** (`PaymentMethod`):

* card: ``authorize``, then ``request_capture`` / ``capture_succeeded`` on
  shipment, partial captures for split shipments. The authorisation expires
  after ``authorization_window`` (default 7 days): a capture requested at or
  after ``authorization_expires_at`` is refused (guard
  ``authorization_current``, judged by the ``at`` passed in), and ``expire``
  releases what was not captured.
* bank transfer / ATM virtual account: ``await_funds`` (``requires_action``
  until ``deadline``), then ``capture_succeeded`` when the funds arrive
  (authorised and captured at once), or ``expire`` at the deadline.
* cash on delivery: ``authorize`` at placement (approved, no provider),
  ``capture_succeeded`` when the carrier collects the cash on delivery (the
  capture id names the parcel), ``record_remittance`` when the carrier pays
  the cash over (a `CaptureRecord.remittance_ref` and a ``PaymentRemitted``
  event for the ledger). Only a payment that is not final records a
  remittance: a COD payment
  refunded in full before the carrier pays over is ``refunded`` (final), and
  its remittance belongs to the carrier's settlement in the ledger.
* e-wallet, and the shop-held tenders (store credit, gift card, loyalty
  points: `PaymentMethod.is_shop_held`): ``capture_succeeded`` straight from
  ``pending`` authorises and captures in one step. The balances themselves
  are kept elsewhere.

**Out of order and twice.** A notification that repeats what the payment
already records (same capture id and amount, same refund outcome, same
authorisation) changes nothing and returns ``None``. A later-state
notification may arrive first: ``capture_succeeded`` from ``pending`` implies
an authorisation of what was captured (`Authorization.confirmed` is false),
and an ``authorize`` arriving afterwards widens it to the real amount, so
the same notifications in any order end in the same state and totals.
Refund outcomes name a refund the shop requested first (``NotFound``
otherwise: apply the notification again once the request is recorded).

**Errors.** Every method checks, then fires, then assigns: a call that
raises changes nothing. The style is:

* the value itself is wrong: `InvalidInput` (not `Money`, zero or negative,
  not whole minor units, an empty id or reason, a naive time) or
  `CurrencyMismatch` (another currency); a known capture or refund id
  repeated with another amount is `InvalidInput` too;
* the value is fine but the payment's present condition refuses it (a capture
  above what is capturable, a refund above what is refundable, a capture
  after the authorisation expired, an outcome for a capture that already
  failed): `GuardRejected`, naming the guard, its rule, the value and the
  limit, e.g. ``guard 'capture_fits' refused it (...): 600 TWD asked,
  400 TWD capturable``;
* the move does not exist from this state: `InvalidTransition`;
* an outcome for a capture or refund id the payment never recorded:
  `NotFound`.

The guards get the time of the move from the kernel, so the two moves judged
by time (``request_capture``, ``expire``) judge it by their ``at``.
"""

from __future__ import annotations

import enum
import operator
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Context, Decimal, InvalidOperation, Overflow
from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple

import attrs

from fourflows.aggregates import Aggregate
from fourflows.errors import CurrencyMismatch, InvalidInput, NotFound
from fourflows.events import DomainEvent, Flow, domain_event, require_aware
from fourflows.machines import Guard, MachineSpec, StateMachine, Transition, register_machine
from fourflows.money import Money, _exact

__all__ = [
    "DEFAULT_AUTHORIZATION_WINDOW",
    "PAYMENT_MACHINE",
    "ActionKind",
    "Authorization",
    "CaptureRecord",
    "OperationStatus",
    "Payment",
    "PaymentAuthenticationRequired",
    "PaymentAuthorized",
    "PaymentCanceled",
    "PaymentCaptureFailed",
    "PaymentCaptureRequested",
    "PaymentCaptured",
    "PaymentCreated",
    "PaymentEvent",
    "PaymentExpired",
    "PaymentFailed",
    "PaymentFundsAwaited",
    "PaymentMethod",
    "PaymentRefundCanceled",
    "PaymentRefundFailed",
    "PaymentRefundRequested",
    "PaymentRefunded",
    "PaymentRemitted",
    "PaymentTimedOut",
    "PaymentTotals",
    "PaymentVoidFailed",
    "PaymentVoidRequested",
    "PaymentVoided",
    "PendingAction",
    "RefundRecord",
    "Release",
    "ReleaseCause",
]

DEFAULT_AUTHORIZATION_WINDOW = timedelta(days=7)
"""How long a card authorisation can be captured (networks allow about 5–7 days)."""


class PaymentMethod(enum.Enum):
    """How the customer pays with one tender."""

    CARD = "card"
    BANK_TRANSFER = "bank_transfer"
    CASH_ON_DELIVERY = "cash_on_delivery"
    E_WALLET = "e_wallet"
    STORE_CREDIT = "store_credit"
    GIFT_CARD = "gift_card"
    LOYALTY_POINTS = "loyalty_points"

    @property
    def is_shop_held(self) -> bool:
        """Whether the shop itself holds the balance this tender draws on."""
        return self in _SHOP_HELD

    @property
    def has_authorization_window(self) -> bool:
        """Whether an authorisation lapses if not captured in time (cards)."""
        return self is PaymentMethod.CARD

    @property
    def collected_by_carrier(self) -> bool:
        """Whether a carrier collects the money and remits it later (cash on delivery)."""
        return self is PaymentMethod.CASH_ON_DELIVERY

    @property
    def chinese(self) -> str:
        """The method's name in Traditional Chinese, e.g. 貨到付款 for cash on delivery."""
        return _CHINESE[self]


_SHOP_HELD = frozenset(
    {PaymentMethod.STORE_CREDIT, PaymentMethod.GIFT_CARD, PaymentMethod.LOYALTY_POINTS}
)
_CHINESE = {
    PaymentMethod.CARD: "信用卡",
    PaymentMethod.BANK_TRANSFER: "ATM 轉帳／虛擬帳號",
    PaymentMethod.CASH_ON_DELIVERY: "貨到付款",
    PaymentMethod.E_WALLET: "電子錢包",
    PaymentMethod.STORE_CREDIT: "購物金",
    PaymentMethod.GIFT_CARD: "禮物卡",
    PaymentMethod.LOYALTY_POINTS: "紅利點數",
}


class OperationStatus(enum.Enum):
    """Where one capture or refund stands."""

    REQUESTED = "requested"
    """Asked for (acknowledged, or timed out): the outcome is not known yet."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    """Withdrawn by the shop before the provider acted (refunds only)."""


class ActionKind(enum.Enum):
    """What the customer must do in ``requires_action``."""

    AUTHENTICATE = "authenticate"
    """3-D Secure, or a wallet confirmation."""
    TRANSFER_FUNDS = "transfer_funds"
    """Pay into a virtual bank account before the deadline."""


class ReleaseCause(enum.Enum):
    """Why an uncaptured remainder of an authorisation was released."""

    VOID = "void"
    EXPIRY = "expiry"


@attrs.frozen
class Authorization:
    """The money held for the payment, with the provider's reference.

    ``confirmed`` is false while the authorisation is only implied by
    captures that arrived before it (a one-step charge, or an out-of-order
    notification); a later ``authorize`` confirms and may widen it.
    """

    amount: Money
    provider_ref: str | None = None
    confirmed: bool = True


@attrs.frozen
class CaptureRecord:
    """One capture of a payment (a card capture, a COD collection, a one-step charge)."""

    amount: Money
    status: OperationStatus
    provider_ref: str | None = None
    reason: str | None = None
    remittance_ref: str | None = None
    """For cash on delivery: the carrier's remittance that paid this collection over."""


@attrs.frozen
class RefundRecord:
    """What a payment knows about one refund, by the refund's id."""

    amount: Money
    status: OperationStatus
    provider_ref: str | None = None
    reason: str | None = None


@attrs.frozen
class Release:
    """An uncaptured remainder given up, by a void or by expiry."""

    amount: Money
    cause: ReleaseCause


@attrs.frozen
class PendingAction:
    """What the customer must do, under which reference, and by when."""

    kind: ActionKind
    reference: str
    deadline: datetime | None


_NOTHING = Decimal(0)
_EXACT = Context(prec=60, traps=[InvalidOperation, Overflow])
"""Sums never depend on the caller's `decimal.getcontext()`."""


def _zero(currency: str) -> Money:
    return Money.zero(currency)


def _settled(captured: Decimal, refunded: Decimal, open_: bool) -> str | None:
    """The money state of these amounts; ``None`` when nothing is or can be captured."""
    if captured == 0:
        return "authorized" if open_ else None
    if refunded == 0:
        return "partially_captured" if open_ else "captured"
    if refunded == captured and not open_:
        return "refunded"
    return "partially_refunded"


class _Sums(NamedTuple):
    """The totals as plain decimals: what guards and landings compute with (fast)."""

    amount: Decimal
    authorized: Decimal
    captured: Decimal
    capture_pending: Decimal
    refunded: Decimal
    refund_pending: Decimal
    released: Decimal
    remitted: Decimal

    @property
    def capturable(self) -> Decimal:
        left = _EXACT.subtract(self.authorized, self.captured)
        return _EXACT.subtract(_EXACT.subtract(left, self.capture_pending), self.released)

    @property
    def refundable(self) -> Decimal:
        return _EXACT.subtract(_EXACT.subtract(self.captured, self.refunded), self.refund_pending)

    @property
    def open(self) -> bool:
        return self.capturable > 0 or self.capture_pending > 0

    def settled_state(self) -> str | None:
        return _settled(self.captured, self.refunded, self.open)


@attrs.frozen(kw_only=True)
class PaymentTotals:
    """A payment's amounts, summed from its records.

    ``capture_pending`` and ``refund_pending`` are requested and not yet
    confirmed; ``released`` is authorisation given up by a void or expiry;
    ``remitted`` is cash on delivery paid over by the carrier.
    """

    amount: Money
    authorized: Money
    captured: Money
    capture_pending: Money
    refunded: Money
    refund_pending: Money
    released: Money
    remitted: Money

    @property
    def capturable(self) -> Money:
        """What may still be captured: authorized − captured − requested − released."""
        return self.authorized - self.captured - self.capture_pending - self.released

    @property
    def refundable(self) -> Money:
        """What may still be refunded: captured − refunded − refunds in flight."""
        return self.captured - self.refunded - self.refund_pending

    @property
    def held(self) -> Money:
        """Authorised and not captured nor released: capturable plus captures in flight."""
        authorized, captured, released = self.authorized, self.captured, self.released
        currency = authorized.currency
        if (
            type(authorized) is Money
            and type(captured) is Money
            and type(released) is Money
            and captured.currency is currency
            and released.currency is currency
        ):  # one currency, plain Money: the amounts subtract as decimals, into one new Money
            left = _EXACT.subtract(
                _EXACT.subtract(authorized.amount, captured.amount), released.amount
            )
            return _exact(left, currency)
        return authorized - captured - released

    @property
    def open(self) -> bool:
        """Whether more money may still be captured (capturable, or a capture in flight)."""
        return self.capturable.amount > 0 or self.capture_pending.amount > 0

    def settled_state(self) -> str | None:
        """The money state these totals mean; ``None`` when nothing is or can be captured."""
        return _settled(self.captured.amount, self.refunded.amount, self.open)


_totals_values = operator.attrgetter(*_Sums._fields)
"""A `PaymentTotals`' amounts in the order of `_Sums`."""


# --- events ------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class PaymentEvent(DomainEvent):
    """The base of a payment's events: ``order_id`` names the order the payment is for."""

    order_id: str


@domain_event(Flow.CASH)
@attrs.frozen(kw_only=True)
class PaymentCreated(PaymentEvent):
    """A payment of ``amount`` by ``method`` was opened for an order."""

    method: PaymentMethod
    amount: Money


@domain_event(Flow.CASH)
@attrs.frozen(kw_only=True)
class PaymentAuthenticationRequired(PaymentEvent):
    """The customer must pass 3-D Secure or confirm in the wallet (``reference``)."""

    reference: str
    deadline: datetime | None


@domain_event(Flow.CASH)
@attrs.frozen(kw_only=True)
class PaymentFundsAwaited(PaymentEvent):
    """The customer must pay into ``virtual_account`` before ``deadline``."""

    virtual_account: str
    deadline: datetime


@domain_event(Flow.CASH)
@attrs.frozen(kw_only=True)
class PaymentTimedOut(PaymentEvent):
    """The authorisation call timed out: its outcome is unknown until reconciled."""


@domain_event(Flow.CASH)
@attrs.frozen(kw_only=True)
class PaymentAuthorized(PaymentEvent):
    """``amount`` is held for the payment until ``expires_at`` (``None``: no window)."""

    amount: Money
    provider_ref: str | None
    expires_at: datetime | None
    totals: PaymentTotals


@domain_event(Flow.CASH)
@attrs.frozen(kw_only=True)
class PaymentFailed(PaymentEvent):
    """The payment was declined or otherwise ended without money; ``reason`` says why."""

    reason: str


@domain_event(Flow.CASH)
@attrs.frozen(kw_only=True)
class PaymentCanceled(PaymentEvent):
    """The shop abandoned the payment before anything was authorised."""

    reason: str


@domain_event(Flow.CASH)
@attrs.frozen(kw_only=True)
class PaymentCaptureRequested(PaymentEvent):
    """A capture of ``amount`` was asked for; the provider will confirm it later."""

    capture_id: str
    amount: Money
    totals: PaymentTotals


@domain_event(Flow.CASH)
@attrs.frozen(kw_only=True)
class PaymentCaptured(PaymentEvent):
    """``amount`` was taken (for cash on delivery: collected by the carrier)."""

    capture_id: str
    amount: Money
    provider_ref: str | None
    totals: PaymentTotals


@domain_event(Flow.CASH)
@attrs.frozen(kw_only=True)
class PaymentCaptureFailed(PaymentEvent):
    """A requested capture of ``amount`` did not happen; it may be captured again."""

    capture_id: str
    amount: Money
    reason: str
    totals: PaymentTotals


@domain_event(Flow.CASH)
@attrs.frozen(kw_only=True)
class PaymentVoidRequested(PaymentEvent):
    """Releasing the uncaptured ``amount`` was asked for; no capture may start now."""

    amount: Money
    reason: str


@domain_event(Flow.CASH)
@attrs.frozen(kw_only=True)
class PaymentVoided(PaymentEvent):
    """The uncaptured ``released`` amount was given up; it will never be taken."""

    released: Money
    totals: PaymentTotals


@domain_event(Flow.CASH)
@attrs.frozen(kw_only=True)
class PaymentVoidFailed(PaymentEvent):
    """The provider refused to void; the authorisation stands as before."""

    reason: str


@domain_event(Flow.CASH)
@attrs.frozen(kw_only=True)
class PaymentExpired(PaymentEvent):
    """A deadline passed: the uncaptured ``released`` amount can no longer be taken."""

    released: Money
    deadline: datetime | None
    by_provider: bool
    totals: PaymentTotals


@domain_event(Flow.CASH)
@attrs.frozen(kw_only=True)
class PaymentRefundRequested(PaymentEvent):
    """A refund of ``amount`` (refund ``refund_id``) was asked for."""

    refund_id: str
    amount: Money
    totals: PaymentTotals


@domain_event(Flow.CASH)
@attrs.frozen(kw_only=True)
class PaymentRefunded(PaymentEvent):
    """``amount`` went back to the customer (refund ``refund_id``)."""

    refund_id: str
    amount: Money
    provider_ref: str | None
    totals: PaymentTotals


@domain_event(Flow.CASH)
@attrs.frozen(kw_only=True)
class PaymentRefundFailed(PaymentEvent):
    """Refund ``refund_id`` of ``amount`` failed; the money stays captured."""

    refund_id: str
    amount: Money
    reason: str
    totals: PaymentTotals


@domain_event(Flow.CASH)
@attrs.frozen(kw_only=True)
class PaymentRefundCanceled(PaymentEvent):
    """Refund ``refund_id`` was withdrawn before the provider acted; the money stays captured."""

    refund_id: str
    amount: Money
    reason: str
    totals: PaymentTotals


@domain_event(Flow.CASH)
@attrs.frozen(kw_only=True)
class PaymentRemitted(PaymentEvent):
    """The carrier paid over the cash it collected for capture ``capture_id``."""

    capture_id: str
    amount: Money
    remittance_ref: str
    totals: PaymentTotals


# --- guards ------------------------------------------------------------------------------

_Why = Callable[["Payment", Mapping[str, Any], datetime], "str | None"]
"""Explains why a guard refuses: ``None`` when it passes, else the value and the limit."""


def _explained(name: str, rule: str, why: _Why) -> Guard[Payment]:
    """A guard that passes when ``why`` finds nothing wrong, and refuses with what it found."""

    def check(payment: Payment, data: Mapping[str, Any], at: datetime) -> bool | str:
        try:
            found = why(payment, data, at)
        except Exception:  # a guard never raises: odd data simply does not pass
            return False
        return True if found is None else found

    return Guard(name, check, rule)


def _same_currency(value: Money, other: Money) -> bool:
    return value.currency is other.currency or value.currency == other.currency


def _data_money(data: Mapping[str, Any], payment: Payment, key: str = "amount") -> Money:
    value = data.get(key)
    if not isinstance(value, Money) or not _same_currency(value, payment.amount):
        raise InvalidInput(f"no {key} in {payment.currency}")
    return value


def _only(*methods: PaymentMethod) -> _Why:
    def why(payment: Payment, _: Mapping[str, Any], __: datetime) -> str | None:
        if payment.method in methods:
            return None
        return f"this is a {payment.method.value} payment"

    return why


def _why_authorization_fits(payment: Payment, data: Mapping[str, Any], at: datetime) -> str | None:
    amount = _data_money(data, payment)
    if amount > payment.amount:
        return f"{amount} asked, the payment is for {payment.amount}"
    return None


def _why_late_authorization(payment: Payment, data: Mapping[str, Any], at: datetime) -> str | None:
    amount = _data_money(data, payment)
    held = payment.authorization
    if held is None or held.confirmed:
        ref = "" if held is None or held.provider_ref is None else f" under {held.provider_ref!r}"
        current = "nothing" if held is None else str(held.amount)
        return f"the payment is already authorised for {current}{ref}; {amount} asked"
    if amount < held.amount:
        return f"{amount} asked, but {held.amount} was already captured"
    if amount > payment.amount:
        return f"{amount} asked, the payment is for {payment.amount}"
    return None


def _why_capture_fits(payment: Payment, data: Mapping[str, Any], at: datetime) -> str | None:
    amount = _data_money(data, payment)
    capture_id = data.get("capture_id")
    if capture_id in payment._captures:
        return f"capture id {capture_id!r} is already used"
    capturable = payment._sums.capturable
    if amount.amount > capturable:
        return f"{amount} asked, {capturable} {amount.code} capturable"
    return None


def _why_authorization_current(
    payment: Payment, data: Mapping[str, Any], at: datetime
) -> str | None:
    expires = payment.authorization_expires_at
    if expires is None or at < expires:
        return None
    return f"the authorisation expired at {expires.isoformat()}; asked at {at.isoformat()}"


def _implied_limit(payment: Payment) -> Decimal:
    """What captures may reach while the authorisation is only implied: the payment's amount."""
    sums = payment._sums
    return _EXACT.subtract(_EXACT.subtract(sums.amount, sums.captured), sums.capture_pending)


def _why_capture_confirms(payment: Payment, data: Mapping[str, Any], at: datetime) -> str | None:
    amount = _data_money(data, payment)
    capture_id = data.get("capture_id")
    known = payment._captures.get(capture_id) if isinstance(capture_id, str) else None
    if known is not None:
        if known.status is not OperationStatus.REQUESTED:
            return f"capture {capture_id!r} already {known.status.value}"
        if known.amount != amount:
            return f"capture {capture_id!r} was requested for {known.amount}, not {amount}"
        return None
    held = payment.authorization
    if held is None or not held.confirmed:
        limit = _implied_limit(payment)
        if amount.amount > limit:
            return (
                f"{amount} captured, only {limit} {amount.code} of the payment's "
                f"{payment.amount} is left"
            )
        return None
    capturable = payment._sums.capturable
    if amount.amount > capturable:
        return f"{amount} captured, {capturable} {amount.code} capturable"
    return None


def _why_capture_in_flight(payment: Payment, data: Mapping[str, Any], at: datetime) -> str | None:
    capture_id = data.get("capture_id")
    known = payment._captures.get(capture_id) if isinstance(capture_id, str) else None
    if known is None:
        return f"no capture {capture_id!r}"
    if known.status is not OperationStatus.REQUESTED:
        return f"capture {capture_id!r} already {known.status.value}"
    return None


def _why_releasable(payment: Payment, _: Mapping[str, Any], at: datetime) -> str | None:
    sums = payment._sums
    if sums.capture_pending > 0:
        return f"a capture of {sums.capture_pending} {payment.currency} is in flight"
    if sums.capturable <= 0:
        return "nothing is left to release"
    return None


def _why_authorization_lapsed(
    payment: Payment, data: Mapping[str, Any], at: datetime
) -> str | None:
    if data.get("by_provider") is True:
        return None
    expires = payment.authorization_expires_at
    if expires is None:
        return f"a {payment.method.value} authorisation has no window to lapse"
    if at < expires:
        return f"the authorisation runs until {expires.isoformat()}; it is {at.isoformat()}"
    return None


def _why_action_lapsed(payment: Payment, data: Mapping[str, Any], at: datetime) -> str | None:
    if data.get("by_provider") is True:
        return None
    action = payment.action
    if action is None or action.deadline is None:
        return "the customer's action has no deadline"
    if at < action.deadline:
        return f"the deadline is {action.deadline.isoformat()}; it is {at.isoformat()}"
    return None


def _why_refund_fits(payment: Payment, data: Mapping[str, Any], at: datetime) -> str | None:
    amount = _data_money(data, payment)
    refund_id = data.get("refund_id")
    if refund_id in payment._refunds:
        return f"refund id {refund_id!r} is already used"
    sums = payment._sums
    if amount.amount > sums.refundable:
        code = amount.code
        return (
            f"{amount} asked, {sums.refundable} {code} refundable (captured {sums.captured} "
            f"{code}, refunded {sums.refunded} {code}, in flight {sums.refund_pending} {code})"
        )
    return None


def _why_refund_in_flight(payment: Payment, data: Mapping[str, Any], at: datetime) -> str | None:
    refund_id = data.get("refund_id")
    known = payment._refunds.get(refund_id) if isinstance(refund_id, str) else None
    if known is None:
        return f"no refund {refund_id!r}"
    if known.status is not OperationStatus.REQUESTED:
        return f"refund {refund_id!r} already {known.status.value}"
    return None


def _why_remittable(payment: Payment, data: Mapping[str, Any], at: datetime) -> str | None:
    capture_id = data.get("capture_id")
    known = payment._captures.get(capture_id) if isinstance(capture_id, str) else None
    if known is None or known.status is not OperationStatus.SUCCEEDED:
        return f"no collected capture {capture_id!r}"
    if known.remittance_ref is not None:
        return f"capture {capture_id!r} was already remitted under {known.remittance_ref!r}"
    return None


_ONLINE = _explained(
    "card_or_wallet",
    "only card and e-wallet payments ask the customer to authenticate",
    _only(PaymentMethod.CARD, PaymentMethod.E_WALLET),
)
_TRANSFER = _explained(
    "bank_transfer",
    "only a bank transfer awaits funds in a virtual account",
    _only(PaymentMethod.BANK_TRANSFER),
)
_COD = _explained(
    "cash_on_delivery",
    "only cash on delivery is remitted by a carrier",
    _only(PaymentMethod.CASH_ON_DELIVERY),
)
_AUTHORIZATION_FITS = _explained(
    "authorization_fits",
    "the authorised amount is at most the payment's amount",
    _why_authorization_fits,
)
_LATE_AUTHORIZATION = _explained(
    "authorization_implied",
    "a late authorisation confirms one implied by earlier captures, at least what was "
    "captured and at most the payment's amount",
    _why_late_authorization,
)
_CAPTURE_FITS = _explained(
    "capture_fits",
    "a new capture is at most what is capturable: authorized − captured − requested − released",
    _why_capture_fits,
)
_AUTHORIZATION_CURRENT = _explained(
    "authorization_current",
    "an authorisation with a window is captured before it expires",
    _why_authorization_current,
)
_CAPTURE_CONFIRMS = _explained(
    "capture_confirms",
    "a capture confirms a requested one of the same amount, or fits what is capturable, "
    "or, while no authorisation is confirmed, what is left of the payment's amount",
    _why_capture_confirms,
)
_CAPTURE_IN_FLIGHT = _explained(
    "capture_in_flight",
    "the capture was requested and has no outcome yet",
    _why_capture_in_flight,
)
_RELEASABLE = _explained(
    "remainder_releasable",
    "some authorisation is left uncaptured and no capture is in flight",
    _why_releasable,
)
_AUTHORIZATION_LAPSED = _explained(
    "authorization_lapsed",
    "the authorisation window has passed, or the provider reports it lapsed",
    _why_authorization_lapsed,
)
_ACTION_LAPSED = _explained(
    "deadline_passed",
    "the customer's deadline has passed, or the provider reports it lapsed",
    _why_action_lapsed,
)
_REFUND_FITS = _explained(
    "refund_fits",
    "a new refund is at most what is refundable: captured − refunded − refunds in flight",
    _why_refund_fits,
)
_REFUND_IN_FLIGHT = _explained(
    "refund_in_flight",
    "the refund was requested and has no outcome yet",
    _why_refund_in_flight,
)
_REMITTABLE = _explained(
    "collected_not_remitted",
    "the capture was collected and is not yet remitted",
    _why_remittable,
)

_Plan = Callable[["Payment", Mapping[str, Any]], dict[str, Any]]
"""The field changes an event's data leads to (money only; never depends on the time)."""


def _landing(sums: _Sums, empty: str) -> str:
    return sums.settled_state() or empty


def _lands(plan: _Plan, state: str, *, empty: str = "voided") -> Guard[Payment]:
    def check(payment: Payment, data: Mapping[str, Any], _: datetime) -> bool:
        planned = payment._planned
        if planned is not None and data.get("totals") is planned[2]:
            after = planned[1]  # the method summed these very changes for the event: reuse
        else:
            try:
                after = payment._sums_with(plan(payment, data))
            except Exception:  # a guard never raises
                return False
        return _landing(after, empty) == state

    return Guard(f"lands_{state}", check, f"the amounts afterwards make it {state}")


def _plan_authorize(payment: Payment, data: Mapping[str, Any]) -> dict[str, Any]:
    return {"_authorization": Authorization(data["amount"], data["provider_ref"], confirmed=True)}


def _plan_capture(payment: Payment, data: Mapping[str, Any]) -> dict[str, Any]:
    capture_id, amount = data["capture_id"], data["amount"]
    known = payment._captures.get(capture_id)
    ref = data["provider_ref"]
    if known is not None:
        record = attrs.evolve(known, status=OperationStatus.SUCCEEDED, provider_ref=ref)
    else:
        record = CaptureRecord(amount, OperationStatus.SUCCEEDED, provider_ref=ref)
    changes: dict[str, Any] = {"_captures": {**payment._captures, capture_id: record}}
    held = payment.authorization
    if known is None and (held is None or not held.confirmed):
        sums = payment._sums
        reached = _EXACT.add(_EXACT.add(sums.captured, sums.capture_pending), amount.amount)
        implied = (
            Money(reached, amount.currency)
            if held is None or held.amount.amount < reached
            else held.amount
        )
        changes["_authorization"] = Authorization(
            implied, None if held is None else held.provider_ref, confirmed=False
        )
    return changes


def _plan_capture_request(payment: Payment, data: Mapping[str, Any]) -> dict[str, Any]:
    record = CaptureRecord(data["amount"], OperationStatus.REQUESTED)
    return {"_captures": {**payment._captures, data["capture_id"]: record}}


def _plan_capture_failure(payment: Payment, data: Mapping[str, Any]) -> dict[str, Any]:
    capture_id = data["capture_id"]
    record = attrs.evolve(
        payment._captures[capture_id], status=OperationStatus.FAILED, reason=data["reason"]
    )
    return {"_captures": {**payment._captures, capture_id: record}}


def _release_plan(cause: ReleaseCause) -> _Plan:
    def plan(payment: Payment, _: Mapping[str, Any]) -> dict[str, Any]:
        return {"_release": Release(payment._as_money(payment._sums.capturable), cause)}

    return plan


_plan_void = _release_plan(ReleaseCause.VOID)
_plan_expiry = _release_plan(ReleaseCause.EXPIRY)


def _plan_nothing(payment: Payment, _: Mapping[str, Any]) -> dict[str, Any]:
    return {}


def _plan_refund_request(payment: Payment, data: Mapping[str, Any]) -> dict[str, Any]:
    record = RefundRecord(data["amount"], OperationStatus.REQUESTED)
    return {"_refunds": {**payment._refunds, data["refund_id"]: record}}


def _refund_outcome_plan(status: OperationStatus) -> _Plan:
    def plan(payment: Payment, data: Mapping[str, Any]) -> dict[str, Any]:
        refund_id = data["refund_id"]
        record = attrs.evolve(
            payment._refunds[refund_id],
            status=status,
            provider_ref=data.get("provider_ref"),
            reason=data.get("reason"),
        )
        return {"_refunds": {**payment._refunds, refund_id: record}}

    return plan


_plan_refund_success = _refund_outcome_plan(OperationStatus.SUCCEEDED)
_plan_refund_failure = _refund_outcome_plan(OperationStatus.FAILED)
_plan_refund_cancel = _refund_outcome_plan(OperationStatus.CANCELED)


def _plan_remittance(payment: Payment, data: Mapping[str, Any]) -> dict[str, Any]:
    capture_id = data["capture_id"]
    record = attrs.evolve(payment._captures[capture_id], remittance_ref=data["remittance_ref"])
    return {"_captures": {**payment._captures, capture_id: record}}


# --- the machine -------------------------------------------------------------------------

_BEFORE = ("pending", "requires_action", "needs_reconciliation")
_UNCAPTURED_LEFT = ("authorized", "partially_captured", "partially_refunded")
_REFUNDING = ("partially_captured", "captured", "partially_refunded", "void_requested")


def _loops(
    event: str, states: Iterable[str], records: type[DomainEvent], guards: tuple[Guard[Any], ...]
) -> tuple[Transition[Payment], ...]:
    """``event`` declared from each of ``states`` back to itself."""
    return tuple(Transition(event, state, state, records, guards) for state in states)


def _landing_moves(
    event: str,
    moves: Mapping[str, tuple[str, ...]],
    records: type[DomainEvent],
    guards: tuple[Guard[Any], ...],
    plan: _Plan,
    *,
    empty: str = "voided",
) -> tuple[Transition[Payment], ...]:
    """``event`` from each source to each destination the amounts may lead to."""
    return tuple(
        Transition(event, source, dest, records, (*guards, _lands(plan, dest, empty=empty)))
        for source, dests in moves.items()
        for dest in dests
    )


PAYMENT_MACHINE: StateMachine[Payment] = register_machine(
    StateMachine(
        MachineSpec(
            name="payment",
            description=(
                "One tender's money for an order: authorised, captured (in parts), "
                "refunded, voided or expired; requests wait for the provider's confirmation."
            ),
            states=(
                "pending",
                "requires_action",
                "needs_reconciliation",
                "authorized",
                "partially_captured",
                "captured",
                "partially_refunded",
                "void_requested",
                "refunded",
                "voided",
                "failed",
                "expired",
            ),
            initial="pending",
            final=("refunded", "voided", "failed", "expired"),
            created=PaymentCreated,
            transitions=(
                Transition(
                    "require_authentication",
                    ("pending", "needs_reconciliation"),
                    "requires_action",
                    PaymentAuthenticationRequired,
                    (_ONLINE,),
                ),
                Transition(
                    "await_funds",
                    ("pending", "needs_reconciliation"),
                    "requires_action",
                    PaymentFundsAwaited,
                    (_TRANSFER,),
                ),
                Transition(
                    "time_out",
                    ("pending", "requires_action"),
                    "needs_reconciliation",
                    PaymentTimedOut,
                ),
                Transition(
                    "authorize", _BEFORE, "authorized", PaymentAuthorized, (_AUTHORIZATION_FITS,)
                ),
                *_landing_moves(
                    "authorize",
                    {
                        "captured": ("captured", "partially_captured"),
                        "partially_refunded": ("partially_refunded",),
                    },
                    PaymentAuthorized,
                    (_LATE_AUTHORIZATION,),
                    _plan_authorize,
                ),
                Transition("fail", _BEFORE, "failed", PaymentFailed),
                Transition("cancel", ("pending", "requires_action"), "voided", PaymentCanceled),
                *_loops(
                    "request_capture",
                    _UNCAPTURED_LEFT,
                    PaymentCaptureRequested,
                    (_CAPTURE_FITS, _AUTHORIZATION_CURRENT),
                ),
                *_landing_moves(
                    "capture_succeeded",
                    {
                        **dict.fromkeys(_BEFORE, ("captured",)),
                        "authorized": ("partially_captured", "captured"),
                        "partially_captured": ("partially_captured", "captured"),
                        "captured": ("captured",),
                        "partially_refunded": ("partially_refunded",),
                    },
                    PaymentCaptured,
                    (_CAPTURE_CONFIRMS,),
                    _plan_capture,
                ),
                Transition(
                    "capture_succeeded",
                    "void_requested",
                    "void_requested",
                    PaymentCaptured,
                    (_CAPTURE_CONFIRMS,),
                ),
                *_loops(
                    "capture_failed", _UNCAPTURED_LEFT, PaymentCaptureFailed, (_CAPTURE_IN_FLIGHT,)
                ),
                Transition(
                    "request_void",
                    _UNCAPTURED_LEFT,
                    "void_requested",
                    PaymentVoidRequested,
                    (_RELEASABLE,),
                ),
                *_landing_moves(
                    "void_succeeded",
                    {"void_requested": ("voided", "captured", "partially_refunded", "refunded")},
                    PaymentVoided,
                    (),
                    _plan_void,
                ),
                *_landing_moves(
                    "void_succeeded",
                    {
                        "authorized": ("voided",),
                        "partially_captured": ("captured",),
                        "partially_refunded": ("partially_refunded", "refunded"),
                    },
                    PaymentVoided,
                    (_RELEASABLE,),
                    _plan_void,
                ),
                *_landing_moves(
                    "void_failed",
                    {"void_requested": (*_UNCAPTURED_LEFT, "captured", "refunded")},
                    PaymentVoidFailed,
                    (),
                    _plan_nothing,
                ),
                Transition(
                    "expire", "requires_action", "expired", PaymentExpired, (_ACTION_LAPSED,)
                ),
                *_landing_moves(
                    "expire",
                    {
                        "authorized": ("expired",),
                        "partially_captured": ("captured",),
                        "partially_refunded": ("partially_refunded", "refunded"),
                    },
                    PaymentExpired,
                    (_AUTHORIZATION_LAPSED, _RELEASABLE),
                    _plan_expiry,
                    empty="expired",
                ),
                *_loops("request_refund", _REFUNDING, PaymentRefundRequested, (_REFUND_FITS,)),
                *_landing_moves(
                    "refund_succeeded",
                    {
                        "partially_captured": ("partially_refunded",),
                        "captured": ("partially_refunded", "refunded"),
                        "partially_refunded": ("partially_refunded", "refunded"),
                    },
                    PaymentRefunded,
                    (_REFUND_IN_FLIGHT,),
                    _plan_refund_success,
                ),
                Transition(
                    "refund_succeeded",
                    "void_requested",
                    "void_requested",
                    PaymentRefunded,
                    (_REFUND_IN_FLIGHT,),
                ),
                *_loops("refund_failed", _REFUNDING, PaymentRefundFailed, (_REFUND_IN_FLIGHT,)),
                *_loops("refund_canceled", _REFUNDING, PaymentRefundCanceled, (_REFUND_IN_FLIGHT,)),
                *_loops("record_remittance", _REFUNDING, PaymentRemitted, (_COD, _REMITTABLE)),
            ),
        )
    )
)


# --- input checks ------------------------------------------------------------------------


def _text(what: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must be a non-empty string, not {value!r}")
    return value


def _optional_text(what: str, value: object) -> str | None:
    return None if value is None else _text(what, value)


def _method(value: object) -> PaymentMethod:
    if isinstance(value, PaymentMethod):
        return value
    for member in PaymentMethod:
        if member.value == value:
            return member
    allowed = ", ".join(repr(m.value) for m in PaymentMethod)
    raise InvalidInput(f"method must be a PaymentMethod ({allowed}), not {value!r}")


def _positive_money(what: str, value: object) -> Money:
    if not isinstance(value, Money):
        raise InvalidInput(f"{what} must be Money, not {value!r}")
    if value.amount <= 0:
        raise InvalidInput(f"{what} must be positive, not {value}")
    try:
        value.get_amount_in_sub_unit()
    except InvalidInput:
        raise InvalidInput(
            f"{what} {value} is not a whole number of {value.code} minor units; "
            "round it with round_money first"
        ) from None
    return value


# --- the aggregate -----------------------------------------------------------------------


@attrs.define(kw_only=True, eq=False)
class Payment(Aggregate):
    """What one tender should cover of an order, and what happened to that money.

    Build a new one with `Payment.create`; load a stored one with the
    constructor (``Payment(id=..., state=..., version=..., order_id=...,
    method=..., amount=..., authorization=..., captures=..., ...)``). Every
    field is read-only from outside: the methods below change them, each
    through one declared transition that records one event, and a method that
    raises changes nothing. Methods return the event recorded, or ``None``
    when the call repeats what the payment already records.
    """

    machine: ClassVar[StateMachine[Any]] = PAYMENT_MACHINE

    _order_id: str = attrs.field(alias="order_id")
    _method: PaymentMethod = attrs.field(alias="method")
    _amount: Money = attrs.field(alias="amount")
    _authorization_window: timedelta = attrs.field(
        alias="authorization_window", default=DEFAULT_AUTHORIZATION_WINDOW
    )
    _authorization: Authorization | None = attrs.field(alias="authorization", default=None)
    _authorized_at: datetime | None = attrs.field(alias="authorized_at", default=None)
    _action: PendingAction | None = attrs.field(alias="action", default=None)
    _captures: dict[str, CaptureRecord] = attrs.field(alias="captures", factory=dict)
    _refunds: dict[str, RefundRecord] = attrs.field(alias="refunds", factory=dict)
    _release: Release | None = attrs.field(alias="release", default=None)
    _void_reason: str | None = attrs.field(alias="void_reason", default=None)
    _void_failure: str | None = attrs.field(alias="void_failure", default=None)
    _closing_reason: str | None = attrs.field(alias="closing_reason", default=None)
    # Caches: Money arithmetic is slow, so totals are summed once per change.
    _summed: _Sums | None = attrs.field(default=None, init=False, repr=False)
    _shown: tuple[_Sums, PaymentTotals] | None = attrs.field(default=None, init=False, repr=False)
    _planned: tuple[Mapping[str, Any], _Sums, PaymentTotals] | None = attrs.field(
        default=None, init=False, repr=False
    )

    # --- reading ---

    @property
    def order_id(self) -> str:
        """The order this payment is for."""
        return self._order_id

    @property
    def method(self) -> PaymentMethod:
        """How the customer pays."""
        return self._method

    @property
    def amount(self) -> Money:
        """What this payment should cover."""
        return self._amount

    @property
    def currency(self) -> str:
        """The payment's currency; every amount given to it must be in it."""
        return self._amount.code

    @property
    def authorization_window(self) -> timedelta:
        """How long an authorisation can be captured, for methods with a window (cards)."""
        return self._authorization_window

    @property
    def authorization(self) -> Authorization | None:
        """The money held, or ``None`` before any authorisation or capture."""
        return self._authorization

    @property
    def authorized_at(self) -> datetime | None:
        """When the payment was first authorised (or first captured, if that came first)."""
        return self._authorized_at

    @property
    def authorization_expires_at(self) -> datetime | None:
        """When an uncaptured card authorisation lapses; ``None`` if it does not."""
        if self._authorized_at is None or not self._method.has_authorization_window:
            return None
        return self._authorized_at + self._authorization_window

    @property
    def action(self) -> PendingAction | None:
        """What the customer was last asked to do (3-D Secure, a bank transfer)."""
        return self._action

    @property
    def captures(self) -> Mapping[str, CaptureRecord]:
        """Every capture by its id, in the order they were first recorded (read-only)."""
        return MappingProxyType(self._captures)

    @property
    def refunds(self) -> Mapping[str, RefundRecord]:
        """Every refund by its id, in the order they were first recorded (read-only)."""
        return MappingProxyType(self._refunds)

    @property
    def release(self) -> Release | None:
        """The uncaptured remainder given up by a void or expiry, if any."""
        return self._release

    @property
    def closing_reason(self) -> str | None:
        """Why the payment failed or was canceled."""
        return self._closing_reason

    @property
    def void_reason(self) -> str | None:
        """Why a void was requested, while it waits for the provider."""
        return self._void_reason

    @property
    def void_failure(self) -> str | None:
        """Why the provider last refused a void."""
        return self._void_failure

    @property
    def totals(self) -> PaymentTotals:
        """The payment's amounts, summed from its records."""
        sums, shown = self._sums, self._shown
        if shown is None or shown[0] is not sums:
            shown = self._shown = (sums, self._totals_of(sums))
        return shown[1]

    @property
    def capturable(self) -> Money:
        """What may still be captured now (not judging the authorisation's expiry)."""
        return self._as_money(self._sums.capturable)

    @property
    def refundable(self) -> Money:
        """What may still be refunded now."""
        return self._as_money(self._sums.refundable)

    @property
    def _sums(self) -> _Sums:
        """The totals as decimals, summed once per change."""
        summed = self._summed
        if summed is None:
            summed = self._summed = self._sums_with({})
        return summed

    def _sums_with(self, changes: Mapping[str, Any]) -> _Sums:
        """The totals after ``changes`` (field name → new value), without applying them."""
        held: Authorization | None = changes.get("_authorization", self._authorization)
        captures: Mapping[str, CaptureRecord] = changes.get("_captures", self._captures)
        refunds: Mapping[str, RefundRecord] = changes.get("_refunds", self._refunds)
        release: Release | None = changes.get("_release", self._release)
        add = _EXACT.add
        captured = capture_pending = remitted = refunded = refund_pending = _NOTHING
        for capture in captures.values():
            if capture.status is OperationStatus.SUCCEEDED:
                captured = add(captured, capture.amount.amount)
                if capture.remittance_ref is not None:
                    remitted = add(remitted, capture.amount.amount)
            elif capture.status is OperationStatus.REQUESTED:
                capture_pending = add(capture_pending, capture.amount.amount)
        for refund in refunds.values():
            if refund.status is OperationStatus.SUCCEEDED:
                refunded = add(refunded, refund.amount.amount)
            elif refund.status is OperationStatus.REQUESTED:
                refund_pending = add(refund_pending, refund.amount.amount)
        return _Sums(
            amount=self._amount.amount,
            authorized=_NOTHING if held is None else held.amount.amount,
            captured=captured,
            capture_pending=capture_pending,
            refunded=refunded,
            refund_pending=refund_pending,
            released=_NOTHING if release is None else release.amount.amount,
            remitted=remitted,
        )

    def _totals_with(self, changes: Mapping[str, Any]) -> PaymentTotals:
        """The totals as money after ``changes``, without applying them.

        Remembered, so that `_assign` of the same ``changes`` need not sum again.
        """
        sums = self._sums_with(changes)
        totals = self._totals_of(sums)
        self._planned = (changes, sums, totals)
        return totals

    def _totals_of(self, sums: _Sums) -> PaymentTotals:
        """``sums`` as money, reusing the current totals' values where unchanged (Money is slow)."""
        currency = self._amount.currency
        shown = self._shown
        zero = _exact(_NOTHING, currency)  # most figures are nothing: one Money for them all
        # The sums are exact decimals of checked amounts in the payment's currency.
        if shown is None:
            values = [zero if value is _NOTHING else _exact(value, currency) for value in sums]
        else:
            values = [
                before
                if before.amount == value
                else zero
                if value is _NOTHING
                else _exact(value, currency)
                for value, before in zip(sums, _totals_values(shown[1]), strict=True)
            ]
        (
            amount,
            authorized,
            captured,
            capture_pending,
            refunded,
            refund_pending,
            released,
            remitted,
        ) = values
        return PaymentTotals(
            amount=amount,
            authorized=authorized,
            captured=captured,
            capture_pending=capture_pending,
            refunded=refunded,
            refund_pending=refund_pending,
            released=released,
            remitted=remitted,
        )

    def _as_money(self, value: Decimal) -> Money:
        return Money(value, self._amount.currency)

    # --- creating ---

    @classmethod
    def create(
        cls,
        *,
        id: str,
        order_id: str,
        method: PaymentMethod | str,
        amount: Money,
        at: datetime,
        authorization_window: timedelta = DEFAULT_AUTHORIZATION_WINDOW,
    ) -> Payment:
        """Open a payment of ``amount`` by ``method`` for order ``order_id``, in ``pending``.

        ``method`` is a `PaymentMethod` or its value (``"card"``, ``"cash_on_delivery"``, ...).
        """
        require_aware(at, "at")
        _text("id", id)
        _text("order_id", order_id)
        chosen = _method(method)
        _positive_money("the payment amount", amount)
        if not isinstance(authorization_window, timedelta) or authorization_window <= timedelta(0):
            raise InvalidInput(
                f"authorization_window must be a positive timedelta, not {authorization_window!r}"
            )
        payment = cls(
            id=id,
            order_id=order_id,
            method=chosen,
            amount=amount,
            authorization_window=authorization_window,
        )
        payment._start(at=at, order_id=order_id, method=chosen, amount=amount)
        return payment

    # --- before the money is held ---

    def require_authentication(
        self, *, reference: str, at: datetime, deadline: datetime | None = None
    ) -> DomainEvent | None:
        """The customer must pass 3-D Secure or confirm in the wallet (card, e-wallet)."""
        require_aware(at, "at")
        _text("reference", reference)
        if deadline is not None:
            require_aware(deadline, "deadline")
        action = PendingAction(ActionKind.AUTHENTICATE, reference, deadline)
        if self.state == "requires_action" and self._action == action:
            return None
        data = {"reference": reference, "deadline": deadline}
        event = self._record("require_authentication", at, data)
        self._action = action
        return event

    def await_funds(
        self, *, virtual_account: str, deadline: datetime, at: datetime
    ) -> DomainEvent | None:
        """The customer must pay into ``virtual_account`` before ``deadline`` (bank transfer)."""
        require_aware(at, "at")
        _text("virtual_account", virtual_account)
        require_aware(deadline, "deadline")
        if deadline <= at:
            raise InvalidInput(f"deadline {deadline.isoformat()} must be after at {at.isoformat()}")
        action = PendingAction(ActionKind.TRANSFER_FUNDS, virtual_account, deadline)
        if self.state == "requires_action" and self._action == action:
            return None
        data = {"virtual_account": virtual_account, "deadline": deadline}
        event = self._record("await_funds", at, data)
        self._action = action
        return event

    def time_out(self, *, at: datetime) -> DomainEvent | None:
        """The authorisation (or one-step charge) call timed out: the outcome is unknown."""
        require_aware(at, "at")
        if self.state == "needs_reconciliation":
            return None
        return self._record("time_out", at, {})

    def authorize(
        self, *, amount: Money, at: datetime, provider_ref: str | None = None
    ) -> DomainEvent | None:
        """``amount`` is held for the payment (for cash on delivery: approved at placement).

        Also resolves ``needs_reconciliation`` and ``requires_action``. Arriving
        after captures that implied an authorisation, it confirms and may widen it.
        """
        require_aware(at, "at")
        self._money(amount, "an authorisation")
        _optional_text("provider_ref", provider_ref)
        held = self._authorization
        if held is not None and held.confirmed:
            if amount == held.amount and provider_ref in (None, held.provider_ref):
                return None
            raise InvalidInput(
                f"payment {self.id!r} is already authorised for {held.amount} under "
                f"{held.provider_ref!r}, not {amount} under {provider_ref!r}"
            )
        if held is not None and amount == held.amount and provider_ref is None:
            return None  # what the captures implied, and nothing more
        data: dict[str, Any] = {"amount": amount, "provider_ref": provider_ref}
        authorized_at = self._authorized_at or at
        expires = (
            authorized_at + self._authorization_window
            if self._method.has_authorization_window
            else None
        )
        changes = _plan_authorize(self, data)
        data.update(expires_at=expires, totals=self._totals_with(changes))
        event = self._record("authorize", at, data)
        changes["_authorized_at"] = authorized_at
        self._assign(changes)
        return event

    def fail(self, *, reason: str, at: datetime) -> DomainEvent | None:
        """The provider declined, or reconciliation found the call failed."""
        return self._close("fail", "failed", reason, at)

    def cancel(self, *, reason: str, at: datetime) -> DomainEvent | None:
        """The shop abandons the payment before anything was authorised (ends ``voided``)."""
        return self._close("cancel", "voided", reason, at)

    def _close(self, event: str, state: str, reason: str, at: datetime) -> DomainEvent | None:
        require_aware(at, "at")
        _text("reason", reason)
        if self.state == state and self._closing_reason == reason:
            return None
        recorded = self._record(event, at, {"reason": reason})
        self._closing_reason = reason
        return recorded

    # --- captures ---

    def request_capture(
        self, *, capture_id: str, amount: Money, at: datetime
    ) -> DomainEvent | None:
        """The provider acknowledged (or timed out on) a capture; it confirms later.

        Refused at or after `authorization_expires_at` (judged by ``at``).
        """
        require_aware(at, "at")
        _text("capture_id", capture_id)
        self._money(amount, "a capture")
        known = self._captures.get(capture_id)
        if known is not None:
            self._same_amount("capture", capture_id, known.amount, amount)
            if known.status is not OperationStatus.FAILED:
                return None
        data: dict[str, Any] = {"capture_id": capture_id, "amount": amount}
        changes = _plan_capture_request(self, data)
        data["totals"] = self._totals_with(changes)
        event = self._record("request_capture", at, data)
        self._assign(changes)
        return event

    def capture_succeeded(
        self, *, capture_id: str, amount: Money, at: datetime, provider_ref: str | None = None
    ) -> DomainEvent | None:
        """``amount`` was taken under ``capture_id`` (a COD collection; a one-step charge).

        Confirms a requested capture of the same amount, or records one that
        was never requested; from ``pending``, ``requires_action`` or
        ``needs_reconciliation`` it authorises and captures in one step.
        """
        require_aware(at, "at")
        _text("capture_id", capture_id)
        self._money(amount, "a capture")
        _optional_text("provider_ref", provider_ref)
        known = self._captures.get(capture_id)
        if known is not None:
            self._same_amount("capture", capture_id, known.amount, amount)
            if known.status is OperationStatus.SUCCEEDED:
                return None
        data: dict[str, Any] = {
            "capture_id": capture_id,
            "amount": amount,
            "provider_ref": provider_ref,
        }
        changes = _plan_capture(self, data)
        data["totals"] = self._totals_with(changes)
        event = self._record("capture_succeeded", at, data)
        if self._authorized_at is None:
            changes["_authorized_at"] = at
        self._assign(changes)
        return event

    def capture_failed(self, *, capture_id: str, reason: str, at: datetime) -> DomainEvent | None:
        """A requested capture did not happen; its amount is capturable again."""
        require_aware(at, "at")
        _text("capture_id", capture_id)
        _text("reason", reason)
        known = self._known(self._captures, "capture", capture_id)
        if known.status is OperationStatus.FAILED and known.reason == reason:
            return None
        data: dict[str, Any] = {"capture_id": capture_id, "amount": known.amount, "reason": reason}
        changes = _plan_capture_failure(self, data)
        data["totals"] = self._totals_with(changes)
        event = self._record("capture_failed", at, data)
        self._assign(changes)
        return event

    # --- voids and expiry ---

    def request_void(self, *, reason: str, at: datetime) -> DomainEvent | None:
        """The provider acknowledged a void of the uncaptured remainder; it confirms later."""
        require_aware(at, "at")
        _text("reason", reason)
        if self.state == "void_requested" and self._void_reason == reason:
            return None
        data: dict[str, Any] = {"amount": self.capturable, "reason": reason}
        event = self._record("request_void", at, data)
        self._void_reason = reason
        return event

    def void_succeeded(self, *, at: datetime) -> DomainEvent | None:
        """The uncaptured remainder was released (requested first, or voided at once)."""
        require_aware(at, "at")
        if self._released_by(ReleaseCause.VOID):
            return None
        changes = _plan_void(self, {})
        released = self.capturable
        data: dict[str, Any] = {"released": released}
        data["totals"] = self._totals_with(changes)
        event = self._record("void_succeeded", at, data)
        changes["_void_reason"] = None
        self._assign(changes)
        return event

    def void_failed(self, *, reason: str, at: datetime) -> DomainEvent | None:
        """The provider refused the void; the authorisation stands as before."""
        require_aware(at, "at")
        _text("reason", reason)
        if self.state != "void_requested" and self._void_failure == reason:
            return None
        event = self._record("void_failed", at, {"reason": reason})
        self._assign({"_void_reason": None, "_void_failure": reason})
        return event

    def expire(self, *, at: datetime, by_provider: bool = False) -> DomainEvent | None:
        """A deadline passed: the customer's action, or the authorisation's window.

        The payment judges the deadline by ``at``; ``by_provider=True`` says the
        provider reported the lapse, which is accepted whatever the clock says.
        What was captured stays captured; only the uncaptured remainder goes.
        """
        require_aware(at, "at")
        if not isinstance(by_provider, bool):
            raise InvalidInput(f"by_provider must be True or False, not {by_provider!r}")
        if self.state == "expired" or self._released_by(ReleaseCause.EXPIRY):
            return None
        in_action = self.state == "requires_action"
        deadline = (
            (self._action.deadline if self._action is not None else None)
            if in_action
            else self.authorization_expires_at
        )
        changes = {} if in_action else _plan_expiry(self, {})
        data: dict[str, Any] = {
            "released": _zero(self.currency) if in_action else self.capturable,
            "deadline": deadline,
            "by_provider": by_provider,
        }
        data["totals"] = self._totals_with(changes)
        event = self._record("expire", at, data)
        self._assign(changes)
        return event

    def _released_by(self, cause: ReleaseCause) -> bool:
        """Whether ``cause`` already released the remainder and nothing is left to release."""
        done = self._release is not None and self._release.cause is cause
        return done and self._sums.capturable == 0

    # --- refunds ---

    def request_refund(self, *, refund_id: str, amount: Money, at: datetime) -> DomainEvent | None:
        """Ask for refund ``refund_id`` of ``amount``; at most what is refundable."""
        require_aware(at, "at")
        _text("refund_id", refund_id)
        self._money(amount, "a refund")
        known = self._refunds.get(refund_id)
        if known is not None:
            self._same_amount("refund", refund_id, known.amount, amount)
            return None
        data: dict[str, Any] = {"refund_id": refund_id, "amount": amount}
        changes = _plan_refund_request(self, data)
        data["totals"] = self._totals_with(changes)
        event = self._record("request_refund", at, data)
        self._assign(changes)
        return event

    def refund_succeeded(
        self, *, refund_id: str, at: datetime, provider_ref: str | None = None
    ) -> DomainEvent | None:
        """The provider confirmed refund ``refund_id``: its amount went back."""
        require_aware(at, "at")
        _text("refund_id", refund_id)
        _optional_text("provider_ref", provider_ref)
        known = self._known(self._refunds, "refund", refund_id)
        if known.status is OperationStatus.SUCCEEDED and known.provider_ref == provider_ref:
            return None
        data: dict[str, Any] = {
            "refund_id": refund_id,
            "amount": known.amount,
            "provider_ref": provider_ref,
        }
        changes = _plan_refund_success(self, data)
        data["totals"] = self._totals_with(changes)
        event = self._record("refund_succeeded", at, data)
        self._assign(changes)
        return event

    def refund_failed(self, *, refund_id: str, reason: str, at: datetime) -> DomainEvent | None:
        """Refund ``refund_id`` failed; its amount is refundable again."""
        return self._refund_ended("refund_failed", OperationStatus.FAILED, refund_id, reason, at)

    def refund_canceled(self, *, refund_id: str, reason: str, at: datetime) -> DomainEvent | None:
        """Refund ``refund_id`` was withdrawn before the provider acted."""
        return self._refund_ended(
            "refund_canceled", OperationStatus.CANCELED, refund_id, reason, at
        )

    def _refund_ended(
        self, event: str, status: OperationStatus, refund_id: str, reason: str, at: datetime
    ) -> DomainEvent | None:
        require_aware(at, "at")
        _text("refund_id", refund_id)
        _text("reason", reason)
        known = self._known(self._refunds, "refund", refund_id)
        if known.status is status and known.reason == reason:
            return None
        data: dict[str, Any] = {"refund_id": refund_id, "amount": known.amount, "reason": reason}
        plan = _plan_refund_failure if status is OperationStatus.FAILED else _plan_refund_cancel
        changes = plan(self, data)
        data["totals"] = self._totals_with(changes)
        recorded = self._record(event, at, data)
        self._assign(changes)
        return recorded

    # --- cash on delivery ---

    def record_remittance(
        self, *, capture_id: str, remittance_ref: str, at: datetime
    ) -> DomainEvent | None:
        """The carrier paid over the cash it collected for ``capture_id`` (cash on delivery)."""
        require_aware(at, "at")
        _text("capture_id", capture_id)
        _text("remittance_ref", remittance_ref)
        known = self._known(self._captures, "capture", capture_id)
        if known.remittance_ref == remittance_ref:
            return None
        data: dict[str, Any] = {
            "capture_id": capture_id,
            "amount": known.amount,
            "remittance_ref": remittance_ref,
        }
        changes = _plan_remittance(self, data)
        data["totals"] = self._totals_with(changes)
        event = self._record("record_remittance", at, data)
        self._assign(changes)
        return event

    # --- helpers ---

    def _money(self, value: object, what: str) -> Money:
        if isinstance(value, Money) and not _same_currency(value, self._amount):
            raise CurrencyMismatch(self.currency, value.code, f"take {what} of {value.amount}")
        return _positive_money(what, value)

    def _same_amount(self, kind: str, key: str, recorded: Money, given: Money) -> None:
        if recorded != given:
            raise InvalidInput(
                f"{kind} {key!r} was recorded for {recorded}, not {given}; "
                f"use a new {kind} id for a different amount"
            )

    def _known(self, records: Mapping[str, Any], kind: str, key: str) -> Any:
        try:
            return records[key]
        except KeyError:
            raise NotFound(f"{kind} on payment {self.id!r} with id", key, records) from None

    def _record(self, event: str, at: datetime, data: Mapping[str, Any]) -> DomainEvent:
        """Fire ``event``; a guard that refuses names the value and the limit itself."""
        return self.machine._move(self, event, at, {"order_id": self._order_id, **data})

    def _assign(self, changes: Mapping[str, Any]) -> None:
        for name, value in changes.items():
            setattr(self, name, value)
        planned, self._planned = self._planned, None
        if planned is not None and planned[0] is changes:
            self._summed = planned[1]
            self._shown = (planned[1], planned[2])
        else:
            self._summed = None
