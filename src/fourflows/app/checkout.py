"""Checkout: the commands, handlers and policies that take an order through payment.

The handlers live in `Checkout`, which holds what they need beyond a unit of
work: the catalog and pricing tables, the `PaymentGateway`, and an optional
``confirm`` hook. They follow one pattern:

1. **Idempotency.** Every command carries an ``idempotency_key``. Its
   fingerprint (`request_fingerprint` of the command) and its result are
   stored as a keyed record (`fourflows.ports.KeyedRecords`) in the same
   commit as the aggregates. The same key with the same command returns the
   first result and does nothing; with another command it raises
   `IdempotencyConflict`.
2. **Check first, call the gateway, then apply.** A command is first tried
   on copies of the aggregates (a dry run), so a refused command raises
   before anything is asked of the provider, and changes nothing. Gateway
   calls happen here, in the application layer, never inside a transition;
   their keys derive from the payment id or the command's key, so a retry
   is recognised by the provider. The result is then applied to the payment
   and the order and committed.
3. **Outcomes.** An authorisation approved → the payment is ``authorized``
   and the order paid (``awaiting_fulfilment``); declined → the payment
   ``failed`` and the order ``on_hold`` with the reason; requires action →
   ``requires_action`` (complete it by notification); pending → the payment
   stays ``pending`` (requested, unconfirmed) until a notification;
   `GatewayUnavailable` → ``needs_reconciliation``: `AuthorizePayment` looks
   the key up at the provider and applies what it finds, or asks again under
   the same key. Cash on delivery approves the order with no gateway call.
4. **Saga.** If the money was secured but completing the order then fails
   (the ``confirm`` hook raises, e.g. no stock), the authorisation is voided
   at the provider, the order canceled with the reason, the coupon
   reservation released, and the result's outcome is ``compensated``.
   Money is never left taken.
5. **Coupons.** Limited coupons are reserved at placement: a reservation
   counts against the limit when the next cart is priced, so two checkouts
   cannot overuse a coupon. The reservation becomes a use when the order is
   paid or approved, and is released when the order is canceled.

6. **Resuming.** `PlaceOrder` commits the order and payment (with a
   provisional ``placed`` result) before it calls the gateway. If the process
   dies in between, repeating the command resumes the authorisation under the
   payment's own gateway key (looked up first, so it is never made twice) and
   records the real outcome in place of the provisional one.
7. **Split tender.** `PlaceOrder.tenders` makes one payment per `Tender`.
   Shop-held tenders (store credit, gift card) are spent from their
   stored-value accounts and captured at placement, in the same commit as
   the order, so a checkout that is refused spends nothing
   (`InsufficientBalance` if an account holds too little). Then each gateway
   tender (card, e-wallet; there may be several) is authorised in turn. If
   one is declined, the others are given back (authorisations voided,
   balances restored, unanswered tenders canceled) and the order is held
   with the reason; a tender whose answer was lost is given back when its
   answer is found. The result names the first tender still waiting for
   something (the customer's action, then an unknown outcome, then the
   provider's confirmation), else the first gateway tender. `RefundOrder`
   spreads a refund over the payments, gateway tenders first and shop-held
   ones last, oldest first within each group.
8. **Stored value.** Gift cards (by code) and store credit (by customer id)
   are `fourflows.cash.balances.StoredValueAccount` records kept in the unit
   of work with the orders. `LoadGiftCard` and `IssueStoreCredit` add to
   them (idempotent by key, returning a `BalanceResult`). Every refund of a
   shop-held payment restores its account, and so do cancel, the saga's
   compensation and a sibling tender's decline.
9. **Bank transfer.** The gateway's required action is the virtual account
   and its deadline; the funds notification authorises the payment (the
   order is then paid by the policies). `ExpirePayments` expires overdue
   ones, cancels their orders and releases their coupon reservations; a
   provider's ``expired`` notification does the same.
10. **Cancel during a capture.** Canceling looks up each capture still in
    flight at the provider and records how it stands (one the provider
    never received has failed), so what was captured is refunded and the
    rest voided at once. A capture the provider cannot report yet is given
    back when its confirmation arrives. A canceled order's payments cannot
    be captured.

Notifications (`ApplyGatewayNotification`) are applied once per
``notification_id``; one that the payment already reflects changes nothing,
and a stale one (e.g. an ``authorized`` arriving after a void) is recorded
as ``ignored``. Money a notification says was authorised or captured for a
canceled order, or for one held because another tender failed, is given
back at once (outcome ``compensated``): voided or refunded through the
gateway under a key derived from the notification id; so is the remainder
of a canceled order's payment when its capture's outcome arrives. A failed
authorisation by notification, or a card's 3-D Secure left to expire, gives
back the order's other tenders and holds the order.
Policies (`POLICIES`) keep the order in step with payments changed by
notifications: a failed authorisation holds the order; an authorisation or
capture that covers the total marks it paid.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar, cast

import attrs
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PositiveInt, model_validator

from fourflows.app.commands import Command
from fourflows.app.handlers import Context
from fourflows.cash.balances import StoredValueAccount, gift_card_account, store_credit_account
from fourflows.cash.dispute import Dispute
from fourflows.cash.gateway import (
    AuthorizeRequest,
    CaptureRequest,
    GatewayNotification,
    GatewayOperation,
    GatewayOutcome,
    GatewayResult,
    NotificationKind,
    NotificationPayload,
    PaymentGateway,
    RefundRequest,
    VoidRequest,
    request_fingerprint,
)
from fourflows.cash.payment import (
    OperationStatus,
    Payment,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentFailed,
    PaymentMethod,
)
from fourflows.commerce.cart import Cart, Customer, PricingContext
from fourflows.commerce.catalog import Catalog
from fourflows.commerce.coupons import Coupon, CouponUsage
from fourflows.commerce.order import Order, PaymentFigures, PaymentPlan
from fourflows.commerce.pricing import price_cart
from fourflows.commerce.promotions import Promotion
from fourflows.errors import (
    CurrencyMismatch,
    GatewayUnavailable,
    GuardRejected,
    IdempotencyConflict,
    InvalidInput,
    InvalidTransition,
    NotFound,
)
from fourflows.events import DomainEvent
from fourflows.geo import Address
from fourflows.logistics.promise import Origin
from fourflows.logistics.shipping import ShippingTable
from fourflows.money import Money, MoneyField, sum_money
from fourflows.ports import KeyedRecords, UnitOfWork
from fourflows.tax import TaxProvider

__all__ = [
    "POLICIES",
    "ApplyGatewayNotification",
    "AuthorizePayment",
    "BalanceResult",
    "CancelOrder",
    "CapturePayment",
    "Checkout",
    "CouponLedger",
    "ExpirePayments",
    "IssueStoreCredit",
    "LoadGiftCard",
    "PlaceOrder",
    "RefundOrder",
    "RefundPayment",
    "ShipTo",
    "ShopResult",
    "Tender",
    "contested_amount",
    "disputes_of",
    "payment_figures",
    "pickup_point_of",
]

_Key = Field(min_length=1, max_length=200)
_Text = Field(min_length=1, max_length=500)


class ShipTo(BaseModel):
    """Where an order ships: the fields of `fourflows.geo.Address` a checkout form collects."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    country: str = Field(min_length=2, max_length=2)
    city: str = ""
    postal_code: str = ""
    region: str | None = None

    def address(self) -> Address:
        """The domain `Address`."""
        return Address(
            country=self.country,
            city=self.city,
            postal_code=self.postal_code,
            region=self.region,
        )


class Tender(BaseModel):
    """One part of a split payment: ``amount`` by ``method``.

    ``store_credit`` and ``gift_card`` are balances the shop holds
    (`fourflows.cash.balances`): they are spent at placement with no gateway
    call. A gift card names its ``account`` (the card's code); store credit is
    the order's customer's (``account``, if given, must be that customer id).
    ``card`` and ``e_wallet`` go through the gateway with ``token`` (the
    provider's token for the card or wallet); an order may have several.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    method: Literal["card", "e_wallet", "store_credit", "gift_card"]
    amount: MoneyField
    token: str = Field(default="card-token", min_length=1, max_length=200)
    account: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[^:]+$")

    def account_id(self, customer_id: str | None) -> str | None:
        """The stored-value account this tender spends (``None`` for gateway tenders)."""
        if self.method == "gift_card":
            assert self.account is not None  # PlaceOrder checks it
            return gift_card_account(self.account)
        if self.method == "store_credit":
            owner = self.account or customer_id
            assert owner is not None  # PlaceOrder checks it
            return store_credit_account(owner)
        return None


class PlaceOrder(Command):
    """Price ``items`` (sku → quantity), place the order and start paying for it.

    ``payment_method`` is a `PaymentMethod` value; ``payment_token`` is the
    provider's token for the customer's card or wallet (ignored for cash on
    delivery). ``tenders``, when given, split the payment instead (and
    ``payment_method`` and ``payment_token`` are not used): their amounts must
    sum to the order total. Several tenders may go through the gateway (two
    cards, a card and an e-wallet); shop-held tenders name their accounts
    (see `Tender`) and are spent at placement. ``pickup_point`` is where the
    customer collects: the shop's own stock location for a ``store`` pickup
    service (the order is then fulfilled from that store), or the
    convenience store chosen for a ``cvs`` one.
    """

    idempotency_key: str = _Key
    items: dict[str, PositiveInt] = Field(min_length=1)
    customer_id: str | None = Field(default=None, min_length=1, max_length=100)
    channel: Literal["web", "app", "store"] = "web"
    ship_to: ShipTo | None = None
    service: str | None = Field(default=None, min_length=1, max_length=100)
    coupon_codes: tuple[str, ...] = ()
    payment_method: Literal["card", "e_wallet", "cash_on_delivery", "bank_transfer"] = "card"
    payment_token: str = Field(default="card-token", min_length=1, max_length=200)
    tenders: tuple[Tender, ...] = ()
    pickup_point: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _tenders_name_their_accounts(self) -> PlaceOrder:
        if self.tenders and self.payment_method == "cash_on_delivery":
            raise ValueError("tenders cannot be combined with cash_on_delivery")
        for tender in self.tenders:
            if tender.method == "gift_card" and tender.account is None:
                raise ValueError("a gift_card tender needs its account: the gift card's code")
            if tender.method == "store_credit":
                if self.customer_id is None:
                    raise ValueError("a store_credit tender needs the order's customer_id")
                if tender.account not in (None, self.customer_id):
                    raise ValueError(
                        f"store credit of {tender.account!r} cannot pay an order of customer "
                        f"{self.customer_id!r}: only the customer's own credit may be spent"
                    )
            if tender.method in ("card", "e_wallet") and tender.account is not None:
                raise ValueError(f"a {tender.method} tender has no account, not {tender.account!r}")
        return self


class AuthorizePayment(Command):
    """Settle an authorisation whose outcome is unknown: look it up, or ask again.

    For a payment in ``needs_reconciliation`` (or still ``pending``), the
    provider is asked what became of the original request's key; if it never
    got it, the request is sent again under the same key.
    """

    idempotency_key: str = _Key
    payment_id: str = _Key


class CapturePayment(Command):
    """Capture ``amount`` of payment ``payment_id`` (at shipment; partial for split shipments)."""

    idempotency_key: str = _Key
    payment_id: str = _Key
    amount: MoneyField


class RefundPayment(Command):
    """Refund ``amount`` of what payment ``payment_id`` captured, for ``reason``."""

    idempotency_key: str = _Key
    payment_id: str = _Key
    amount: MoneyField
    reason: str = _Text


class RefundOrder(Command):
    """Refund ``amount`` of order ``order_id``, spread over its payments.

    The amount goes back to the tenders in this order: first the payments
    through the gateway (card, e-wallet), then those the shop holds (store
    credit, gift card), each up to what it has left to refund, oldest first
    within each group. Card money first, because it is the customer's own
    money that only the provider can return, and only within the provider's
    refund window; a shop-held balance can be restored at any time at no
    cost, so it takes what is left.
    """

    idempotency_key: str = _Key
    order_id: str = _Key
    amount: MoneyField
    reason: str = _Text


class CancelOrder(Command):
    """Cancel order ``order_id`` before shipment: void what is held, refund what was taken."""

    idempotency_key: str = _Key
    order_id: str = _Key
    reason: str = _Text


class ExpirePayments(Command):
    """Expire bank transfers whose funds did not arrive by their deadline, as of ``now``.

    Each overdue payment expires, its order is canceled and the order's
    coupon reservation released. Running it again finds nothing more to do.
    """

    now: AwareDatetime


class IssueStoreCredit(Command):
    """Add ``amount`` to customer ``customer_id``'s store credit, for ``reason``.

    The first issue opens the account in the amount's currency.
    """

    idempotency_key: str = _Key
    customer_id: str = Field(min_length=1, max_length=100, pattern=r"^[^:]+$")
    amount: MoneyField
    reason: str = _Text


class LoadGiftCard(Command):
    """Issue the gift card ``code`` with ``amount``, or top it up if it was issued before."""

    idempotency_key: str = _Key
    code: str = Field(min_length=1, max_length=100, pattern=r"^[^:]+$")
    amount: MoneyField


class ApplyGatewayNotification(Command):
    """A provider's webhook as received: its raw ``body`` and ``headers``.

    The notification's own id is its idempotency key.
    """

    body: str = Field(min_length=2)
    headers: dict[str, str] = Field(default_factory=dict)


@attrs.frozen(kw_only=True)
class ShopResult:
    """What a checkout command did: the order and payment and where they now stand.

    ``outcome`` names what happened (``authorized``, ``declined``,
    ``requires_action``, ``pending``, ``needs_reconciliation``, ``approved``
    for cash on delivery, ``compensated``, ``captured``, ``refunded``,
    ``canceled``, ``applied``, ``ignored``...); ``message`` explains it;
    ``action_url`` is where to send the customer for 3-D Secure; for a bank
    transfer, ``virtual_account`` is the account to pay into before
    ``deadline``.
    """

    order_id: str
    payment_id: str | None
    order_state: str
    payment_state: str | None
    outcome: str
    message: str = ""
    action_url: str | None = None
    virtual_account: str | None = None
    deadline: datetime | None = None


@attrs.frozen(kw_only=True)
class BalanceResult:
    """What a stored-value command did: the account, its balance now, and ``outcome``.

    ``outcome`` is ``issued`` (the account was opened) or ``loaded`` (topped up).
    """

    account: str
    balance: Money
    outcome: str
    message: str = ""


@attrs.frozen
class _KeyRecord:
    fingerprint: str
    result: ShopResult | BalanceResult


@attrs.frozen
class CouponLedger:
    """Coupon uses: ``used`` (paid or approved orders) and ``reserved`` by open orders.

    ``reserved`` maps an order id to its coupon codes and customer id.
    """

    used: CouponUsage = attrs.field(factory=CouponUsage)
    reserved: Mapping[str, tuple[tuple[str, ...], str | None]] = attrs.field(factory=dict)

    def snapshot(self) -> CouponUsage:
        """Uses and reservations together: what pricing must count against the limits."""
        usage = self.used
        for codes, customer_id in self.reserved.values():
            for code in codes:
                usage = usage.record(code, customer_id)
        return usage

    def reserve(self, order_id: str, codes: Sequence[str], customer_id: str | None) -> CouponLedger:
        """Reserve ``codes`` for ``order_id``."""
        if not codes:
            return self
        return attrs.evolve(self, reserved={**self.reserved, order_id: (tuple(codes), customer_id)})

    def commit(self, order_id: str) -> CouponLedger:
        """Turn ``order_id``'s reservation into uses (the order was paid or approved)."""
        held = self.reserved.get(order_id)
        if held is None:
            return self
        used = self.used
        for code in held[0]:
            used = used.record(code, held[1])
        rest = {key: value for key, value in self.reserved.items() if key != order_id}
        return CouponLedger(used=used, reserved=rest)

    def release(self, order_id: str) -> CouponLedger:
        """Drop ``order_id``'s reservation (the order was canceled)."""
        if order_id not in self.reserved:
            return self
        rest = {key: value for key, value in self.reserved.items() if key != order_id}
        return attrs.evolve(self, reserved=rest)


_IDEMPOTENCY = "idempotency"
_NOTIFICATIONS = "notification"
_ORDER_PAYMENTS = "order-payments"
_COUPONS = "coupons"
_TOKENS = "payment-token"
_AWAITING_FUNDS = "awaiting-funds"
_PICKUP_POINTS = "pickup-point"


def pickup_point_of(uow: UnitOfWork, order_id: str) -> str | None:
    """Where the customer of ``order_id`` collects: `PlaceOrder.pickup_point`, if given."""
    found = _records(uow).read_record(_PICKUP_POINTS, order_id)
    return found if isinstance(found, str) else None


_BALANCES = "stored-value"
_TENDER_ACCOUNTS = "tender-account"


def _records(uow: UnitOfWork) -> KeyedRecords:
    if not isinstance(uow, KeyedRecords):
        raise InvalidInput(
            f"checkout needs a unit of work that keeps keyed records, not {type(uow).__name__}"
        )
    return uow


def _ledger(uow: UnitOfWork) -> CouponLedger:
    found = _records(uow).read_record(_COUPONS, "ledger")
    return found if isinstance(found, CouponLedger) else CouponLedger()


def _set_ledger(uow: UnitOfWork, ledger: CouponLedger) -> None:
    _records(uow).write_record(_COUPONS, "ledger", ledger)


def _payment_ids(uow: UnitOfWork, order_id: str) -> tuple[str, ...]:
    found = _records(uow).read_record(_ORDER_PAYMENTS, order_id)
    return cast(tuple[str, ...], found) if found is not None else ()


def _payments(uow: UnitOfWork, order_id: str) -> list[Payment]:
    return [uow.repository(Payment).get(pid) for pid in _payment_ids(uow, order_id)]


def _account(uow: UnitOfWork, account_id: str) -> StoredValueAccount | None:
    found = _records(uow).read_record(_BALANCES, account_id)
    return found if isinstance(found, StoredValueAccount) else None


def _set_account(uow: UnitOfWork, before: StoredValueAccount, after: StoredValueAccount) -> None:
    if after != before:
        _records(uow).write_record(_BALANCES, after.id, after)


def _spend(uow: UnitOfWork, account_id: str, payment: Payment) -> None:
    """Take ``payment``'s amount from the account, under an entry named after the payment."""
    account = _account(uow, account_id)
    if account is None:
        raise NotFound("stored-value account", account_id)
    spent = account.spend(entry_id=f"{payment.id}:spend", amount=payment.amount)
    _set_account(uow, account, spent)
    _records(uow).write_record(_TENDER_ACCOUNTS, payment.id, account_id)


def _restore(uow: UnitOfWork, payment: Payment, entry_id: str, amount: Money) -> None:
    """Give ``amount`` of a shop-held ``payment`` back to the account it was spent from."""
    account_id = _records(uow).read_record(_TENDER_ACCOUNTS, payment.id)
    if not isinstance(account_id, str):
        return  # not drawn from an account (cash on delivery)
    account = _account(uow, account_id)
    assert account is not None  # spent from it at placement
    _set_account(uow, account, account.restore(entry_id=entry_id, amount=amount))


def _refund_held(uow: UnitOfWork, payment: Payment, key: str, amount: Money, at: datetime) -> None:
    """Refund ``amount`` of a payment the shop itself holds, restoring its account."""
    payment.request_refund(refund_id=key, amount=amount, at=at)
    payment.refund_succeeded(refund_id=key, at=at)
    _restore(uow, payment, key, amount)


_ORDER_DISPUTES = "order-disputes"  # order id → the ids of its disputes


def _dispute_ids(uow: UnitOfWork, order_id: str) -> tuple[str, ...]:
    found = _records(uow).read_record(_ORDER_DISPUTES, order_id)
    return cast(tuple[str, ...], found) if found is not None else ()


def disputes_of(uow: UnitOfWork, order_id: str) -> tuple[Dispute, ...]:
    """The disputes of order ``order_id`` in ``uow``, oldest first."""
    return tuple(uow.repository(Dispute).get(d) for d in _dispute_ids(uow, order_id))


def contested_amount(uow: UnitOfWork, payment: Payment) -> Money:
    """What disputes hold or took back of ``payment``: open and lost disputes, not won ones.

    This money cannot be refunded: it is before the bank, or already went
    back to the customer through it.
    """
    amounts = [
        dispute.amount
        for dispute in disputes_of(uow, payment.order_id)
        if dispute.payment_id == payment.id and dispute.state != "won"
    ]
    return sum_money([Money.zero(payment.amount.currency), *amounts])


def _refundable(uow: UnitOfWork, payment: Payment) -> Money:
    """What the shop may still refund of ``payment``: not what a dispute holds or took back."""
    return payment.refundable - contested_amount(uow, payment)


def _check_tenders(amounts: Sequence[Money], total: Money) -> None:
    paid = sum_money(amounts)
    if paid != total:
        listed = " + ".join(str(amount) for amount in amounts)
        raise InvalidInput(
            f"the tenders sum to {paid} ({listed}), but the order total is {total}; "
            "their amounts must sum to the total exactly"
        )


def _refund_plan(
    uow: UnitOfWork, payments: Sequence[Payment], amount: Money
) -> list[tuple[Payment, Money]]:
    """``amount`` spread over ``payments``: gateway tenders first, shop-held last, oldest first.

    Money a dispute holds or took back is not refundable: the bank returns it.
    """
    if amount.amount <= 0:
        raise InvalidInput(f"a refund amount must be positive, not {amount}")
    ordered = sorted(payments, key=lambda p: p.method.is_shop_held)  # stable: oldest first
    left = amount
    plan: list[tuple[Payment, Money]] = []
    for payment in ordered:
        if left.amount == 0:
            break
        refundable = _refundable(uow, payment)
        if refundable.code != left.code:
            raise CurrencyMismatch(refundable.code, left.code, "refund")
        if refundable.amount <= 0:
            continue
        part = min(refundable, left)
        plan.append((payment, part))
        left = left - part
    if left.amount > 0:
        can = amount - left
        raise InvalidInput(
            f"cannot refund {amount} of the order: its payments have only {can} left to refund"
        )
    return plan


def payment_figures(uow: UnitOfWork, order: Order) -> PaymentFigures:
    """The order's `PaymentFigures`, summed from its payments in ``uow``.

    What lost disputes took back counts as ``refunded``: the money went back
    to the customer, through the bank rather than by the shop's refund.
    """
    payments = [uow.repository(Payment).get(pid) for pid in _payment_ids(uow, order.id)]
    zero = [PaymentFigures.of(order.currency).captured]
    totals = [payment.totals for payment in payments]
    charged_back = [dispute.taken_back for dispute in disputes_of(uow, order.id)]
    return PaymentFigures(
        authorized=sum_money([*zero, *(t.held for t in totals)]),
        captured=sum_money([*zero, *(t.captured for t in totals)]),
        refunded=sum_money([*zero, *(t.refunded for t in totals), *charged_back]),
        credit_issued=zero[0],
    )


def _result(
    order: Order, payment: Payment | None, outcome: str, message: str = "", url: str | None = None
) -> ShopResult:
    return ShopResult(
        order_id=order.id,
        payment_id=None if payment is None else payment.id,
        order_state=order.state,
        payment_state=None if payment is None else payment.state,
        outcome=outcome,
        message=message,
        action_url=url,
    )


def _authorize_key(payment_id: str) -> str:
    return f"{payment_id}:authorize"


def _settle_order(ctx: Context, order: Order, at: datetime) -> None:
    """Mark ``order`` paid when its payments cover it, and turn its coupon reservation into uses."""
    if not order.awaiting_payment:
        return
    figures = payment_figures(ctx.uow, order)
    if figures.secured >= order.totals.total and figures.secured.amount > 0:
        order.mark_paid(figures, at=at)
        _set_ledger(ctx.uow, _ledger(ctx.uow).commit(order.id))


def _refuses_money(order: Order) -> bool:
    """Whether money secured now for ``order`` must be given back.

    So it is for a canceled order, and for one held before payment because
    one of its tenders failed: the other tenders were given back then.
    """
    return order.state == "canceled" or (order.state == "on_hold" and order.awaiting_payment)


def _refusal(order: Order) -> str:
    if order.state == "canceled":
        return f"order {order.id} was canceled: {order.cancel_reason}"
    return f"order {order.id} is on hold: {order.hold_reason}"


def _hold_for(order: Order, payment: Payment, reason: str, at: datetime) -> None:
    if order.awaiting_payment and order.state != "on_hold":
        order.hold(reason=f"payment {payment.id} failed: {reason}", at=at)


_R = TypeVar("_R", ShopResult, BalanceResult)

Confirm = Callable[[Order], None]
"""A hook run when an order's money is secured, before it is marked paid; raise to refuse."""

DisputeNotices = Callable[[GatewayNotification, Context], ShopResult]
"""Applies a dispute notification (`fourflows.app.disputes.apply_dispute_notice`)."""


class StockHold(Protocol):
    """Holds stock for an order while it is placed (`fourflows.app.fulfilment.Fulfilment`)."""

    def hold(self, order: Order, at: datetime) -> None:
        """Reserve the order's units, or raise (`InsufficientStock`) and hold nothing."""
        ...

    def free(self, order_id: str, reason: str, at: datetime) -> None:
        """Give back what is held for the order; nothing if nothing is held."""
        ...


class Checkout:
    """The checkout handlers, with the catalog, pricing tables and gateway they use."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        tax: TaxProvider,
        gateway: PaymentGateway,
        shipping: ShippingTable | None = None,
        promotions: Sequence[Promotion] = (),
        coupons: Sequence[Coupon] = (),
        confirm: Confirm | None = None,
        disputes: DisputeNotices | None = None,
        stock: StockHold | None = None,
        origin: Origin | None = None,
    ) -> None:
        self.catalog = catalog
        self.tax = tax
        self.gateway = gateway
        self.shipping = shipping
        self.promotions = tuple(promotions)
        self.coupons = tuple(coupons)
        self.confirm = confirm
        self.disputes = disputes
        self.stock = stock
        self.origin = origin

    def handlers(self) -> dict[type[Command], Callable[[Any, Context], Any]]:
        """Every checkout command with its handler."""
        return {
            PlaceOrder: self.place_order,
            AuthorizePayment: self.authorize_payment,
            CapturePayment: self.capture_payment,
            RefundPayment: self.refund_payment,
            RefundOrder: self.refund_order,
            CancelOrder: self.cancel_order,
            ApplyGatewayNotification: self.apply_notification,
            ExpirePayments: self.expire_payments,
            IssueStoreCredit: self.issue_store_credit,
            LoadGiftCard: self.load_gift_card,
        }

    # --- stored value ----------------------------------------------------------------------

    def issue_store_credit(self, command: IssueStoreCredit, ctx: Context) -> BalanceResult:
        """Add to a customer's store credit (opening the account on first issue)."""
        account_id = store_credit_account(command.customer_id)
        return self._load(ctx, command, account_id, command.amount, command.reason)

    def load_gift_card(self, command: LoadGiftCard, ctx: Context) -> BalanceResult:
        """Issue a gift card, or top it up."""
        account_id = gift_card_account(command.code)
        return self._load(ctx, command, account_id, command.amount, "gift card load")

    def _load(
        self,
        ctx: Context,
        command: IssueStoreCredit | LoadGiftCard,
        account_id: str,
        amount: Money,
        reason: str,
    ) -> BalanceResult:
        def run() -> BalanceResult:
            found = _account(ctx.uow, account_id)
            before = StoredValueAccount.open(account_id, amount.currency.code)
            account = before if found is None else found
            loaded = account.load(entry_id=command.idempotency_key, amount=amount)
            _set_account(ctx.uow, before if found is None else found, loaded)
            outcome = "issued" if found is None else "loaded"
            return BalanceResult(
                account=account_id, balance=loaded.balance, outcome=outcome, message=reason
            )

        return self._once(ctx, _IDEMPOTENCY, command.idempotency_key, command, run)

    # --- idempotency -----------------------------------------------------------------------

    @staticmethod
    def _once(
        ctx: Context, namespace: str, key: str, command: Command, run: Callable[[], _R]
    ) -> _R:
        records = _records(ctx.uow)
        fingerprint = request_fingerprint(command)
        found = records.read_record(namespace, key)
        if isinstance(found, _KeyRecord):
            if found.fingerprint != fingerprint:
                raise IdempotencyConflict(key, recorded=found.fingerprint, given=fingerprint)
            return cast(_R, found.result)
        result = run()
        _records(ctx.uow).write_record(namespace, key, _KeyRecord(fingerprint, result))
        ctx.uow.commit()
        return result

    @staticmethod
    def _remember(ctx: Context, command: Command, key: str, result: ShopResult) -> None:
        """Store a provisional result under ``key`` (committed with the placement)."""
        _records(ctx.uow).write_record(
            _IDEMPOTENCY, key, _KeyRecord(request_fingerprint(command), result)
        )

    # --- place -----------------------------------------------------------------------------

    def place_order(self, command: PlaceOrder, ctx: Context) -> ShopResult:
        """Price the cart, place the order, open its payment and authorise it."""
        key = command.idempotency_key
        found = _records(ctx.uow).read_record(_IDEMPOTENCY, key)
        if (
            isinstance(found, _KeyRecord)
            and isinstance(found.result, ShopResult)
            and found.result.outcome == "placed"
            and found.fingerprint == request_fingerprint(command)
        ):
            return self._resume(command, found.result, ctx)
        return self._once(ctx, _IDEMPOTENCY, key, command, lambda: self._place(command, ctx))

    def _resume(self, command: PlaceOrder, placed: ShopResult, ctx: Context) -> ShopResult:
        """Finish a checkout that died after placing the order but before the gateway answered.

        Only the provisional ``placed`` result was stored. Each gateway tender
        still ``pending`` is resumed under its own gateway key, so a request
        the provider did receive is found by `PaymentGateway.lookup` (or
        deduplicated), never made twice; the real outcome then replaces the
        provisional one.
        """
        assert placed.payment_id is not None
        at = ctx.clock.now()
        order = ctx.uow.repository(Order).get(placed.order_id)
        online = [p for p in _payments(ctx.uow, order.id) if not p.method.is_shop_held]
        if order.awaiting_payment and order.state != "on_hold":
            result = self._authorize_all(ctx, order, online, at, resume=True)
        else:  # a notification or another command has moved it on meanwhile
            payment = ctx.uow.repository(Payment).get(placed.payment_id)
            result = _result(order, payment, payment.state)
        self._remember(ctx, command, command.idempotency_key, result)
        ctx.uow.commit()
        return result

    def _place(self, command: PlaceOrder, ctx: Context) -> ShopResult:
        at = ctx.clock.now()
        products = [(self.catalog[sku], qty) for sku, qty in command.items.items()]
        cart = Cart(products[0][0].price.code)
        for product, qty in products:
            cart = cart.add(product, qty)
        cod = command.payment_method == "cash_on_delivery"
        context = PricingContext(
            at=at, customer=Customer(id=command.customer_id), channel=command.channel
        )
        ship_to = None if command.ship_to is None else command.ship_to.address()
        ledger = _ledger(ctx.uow)
        quote = price_cart(
            cart,
            context=context,
            tax=self.tax,
            promotions=self.promotions,
            coupon_codes=command.coupon_codes,
            coupons=self.coupons,
            usage=ledger.snapshot(),
            shipping=self.shipping if ship_to is not None else None,
            ship_to=ship_to,
            service=command.service,
            cod=cod,
            origin=self.origin if ship_to is not None else None,
        )
        order = Order.place(
            id=ctx.ids.next_id("order"),
            quote=quote,
            at=at,
            payment_plan=PaymentPlan.CASH_ON_DELIVERY if cod else PaymentPlan.PREPAID,
        )
        if self.stock is not None:
            self.stock.hold(order, at)  # InsufficientStock: nothing is held or saved
        try:
            opened = self._open_payments(command, ctx, order, ledger, at)
        except Exception:  # nothing was saved: the hold goes back too
            if self.stock is not None:
                self.stock.free(order.id, "the checkout failed", at)
            raise
        if isinstance(opened, ShopResult):
            return opened
        return self._authorize_all(ctx, order, opened, at, resume=False)

    def _open_payments(
        self, command: PlaceOrder, ctx: Context, order: Order, ledger: CouponLedger, at: datetime
    ) -> ShopResult | list[Payment]:
        """Open the order's payments and take the shop-held ones; the gateway tenders left.

        Cash on delivery and orders paid by shop-held balances alone are
        completed here; otherwise the order is committed with its payments,
        and the gateway tenders still to authorise are returned.
        """
        tenders: list[tuple[str, Money, str, str | None]] = [
            (t.method, t.amount, t.token, t.account_id(command.customer_id))
            for t in command.tenders
        ] or [(command.payment_method, order.totals.total, command.payment_token, None)]
        _check_tenders([amount for _, amount, _, _ in tenders], order.totals.total)
        payments = [
            Payment.create(
                id=ctx.ids.next_id("payment"),
                order_id=order.id,
                method=PaymentMethod(method),
                amount=amount,
                at=at,
            )
            for method, amount, _, _ in tenders
        ]
        ctx.uow.repository(Order).add(order)
        records = _records(ctx.uow)
        for made, (_, _, token, account_id) in zip(payments, tenders, strict=True):
            ctx.uow.repository(Payment).add(made)
            records.write_record(_TOKENS, made.id, token)
            if account_id is not None:  # the shop's own balance: taken at once
                _spend(ctx.uow, account_id, made)  # InsufficientBalance: nothing is saved
                made.authorize(amount=made.amount, at=at)
                made.capture_succeeded(capture_id=f"{made.id}:capture", amount=made.amount, at=at)
        records.write_record(_ORDER_PAYMENTS, order.id, tuple(p.id for p in payments))
        if command.pickup_point is not None:
            records.write_record(_PICKUP_POINTS, order.id, command.pickup_point)
        _set_ledger(ctx.uow, ledger.reserve(order.id, order.coupon_codes, command.customer_id))
        online = [p for p in payments if not p.method.is_shop_held]
        if order.payment_plan is PaymentPlan.CASH_ON_DELIVERY:
            payment = payments[0]
            payment.authorize(amount=payment.amount, at=at)
            return self._complete(ctx, order, payment, "approved", at)
        if not online:
            return self._complete(ctx, order, payments[0], "captured", at)
        self._remember(ctx, command, command.idempotency_key, _result(order, online[0], "placed"))
        ctx.uow.commit()
        return online

    def _authorize_all(
        self, ctx: Context, order: Order, online: Sequence[Payment], at: datetime, *, resume: bool
    ) -> ShopResult:
        """Authorise each gateway tender still ``pending``, in order, and report the upshot.

        A decline stops it: the tenders already secured are given back and
        the order held (see `_apply_authorization`). Otherwise the result is
        the first tender that still waits for something (the customer's
        action first, then an unknown outcome, then a provider's
        confirmation), or ``authorized`` once all are approved. When
        ``resume`` is true each key is looked up first, so an authorisation
        the provider already received is never asked for twice.
        """
        waiting: list[ShopResult] = []
        for payment in online:
            if payment.state != "pending":
                continue  # resumed: already answered, or moved on by a notification
            key = _authorize_key(payment.id)
            try:
                answer = self.gateway.lookup(key) if resume else None
                if answer is None:
                    answer = self.gateway.authorize(self._authorize_request(ctx, payment))
            except GatewayUnavailable as error:
                payment.time_out(at=at)
                waiting.append(_result(order, payment, "needs_reconciliation", str(error)))
                continue
            result = self._apply_authorization(ctx, order, payment, answer, at, complete=False)
            if result.outcome == "declined":
                return result
            if result.outcome != "authorized":
                waiting.append(result)
        rank = ("requires_action", "needs_reconciliation", "pending")
        for outcome in rank:
            for result in waiting:
                if result.outcome == outcome:
                    return attrs.evolve(result, order_state=order.state)
        first = online[0]
        if all(p.state == "authorized" for p in online) and order.awaiting_payment:
            return self._complete(ctx, order, first, "authorized", at)
        return _result(order, first, first.state)

    @staticmethod
    def _authorize_request(ctx: Context, payment: Payment) -> AuthorizeRequest:
        return AuthorizeRequest(
            idempotency_key=_authorize_key(payment.id),
            payment_id=payment.id,
            amount=payment.amount,
            payment_method=str(_records(ctx.uow).read_record(_TOKENS, payment.id)),
        )

    def _apply_authorization(
        self,
        ctx: Context,
        order: Order,
        payment: Payment,
        answer: GatewayResult,
        at: datetime,
        *,
        complete: bool = True,
    ) -> ShopResult:
        if answer.outcome is GatewayOutcome.APPROVED:
            payment.authorize(amount=answer.amount, at=at, provider_ref=answer.provider_ref)
            if complete or _refuses_money(order):
                return self._complete(ctx, order, payment, "authorized", at)
            return _result(order, payment, "authorized")
        if answer.outcome is GatewayOutcome.DECLINED:
            assert answer.decline is not None
            reason = f"{answer.decline.reason.value}: {answer.decline.message}"
            payment.fail(reason=reason, at=at)
            self._tender_failed(ctx, order, payment, reason, at)
            return _result(order, payment, "declined", reason)
        if answer.outcome is GatewayOutcome.REQUIRES_ACTION:
            assert answer.action is not None
            if payment.method is PaymentMethod.BANK_TRANSFER:
                account, deadline = answer.action.reference, answer.action.deadline
                payment.await_funds(virtual_account=account, deadline=deadline, at=at)
                records = _records(ctx.uow)
                waiting = cast(tuple[str, ...], records.read_record(_AWAITING_FUNDS, "open") or ())
                records.write_record(_AWAITING_FUNDS, "open", (*waiting, payment.id))
                return attrs.evolve(
                    _result(order, payment, "requires_action"),
                    virtual_account=account,
                    deadline=deadline,
                )
            payment.require_authentication(
                reference=answer.action.reference, deadline=answer.action.deadline, at=at
            )
            return _result(order, payment, "requires_action", url=answer.action.url)
        return _result(order, payment, "pending", "the provider confirms later")

    def _complete(
        self, ctx: Context, order: Order, payment: Payment, outcome: str, at: datetime
    ) -> ShopResult:
        """The money is secured: confirm the order, or compensate if that fails."""
        if _refuses_money(order):  # canceled, or another tender failed, meanwhile
            reason = _refusal(order)
            self._give_back(ctx, payment, f"{payment.id}:canceled-order", reason, at)
            return _result(order, payment, "compensated", reason)
        prepaid = order.payment_plan is not PaymentPlan.CASH_ON_DELIVERY
        if prepaid and payment_figures(ctx.uow, order).secured < order.totals.total:
            return _result(order, payment, outcome)  # other tenders still to come
        trial = copy.deepcopy(order)
        try:
            if self.confirm is not None:
                self.confirm(trial)
            if order.payment_plan is PaymentPlan.CASH_ON_DELIVERY:
                trial.approve(at=at, note="cash on delivery")
        except Exception as error:  # the saga: any failure here must give the money back
            return self._compensate(ctx, order, payment, f"{type(error).__name__}: {error}", at)
        if order.payment_plan is PaymentPlan.CASH_ON_DELIVERY:
            order.approve(at=at, note="cash on delivery")
            _set_ledger(ctx.uow, _ledger(ctx.uow).commit(order.id))
        else:
            _settle_order(ctx, order, at)
        return _result(order, payment, outcome)

    def _compensate(
        self, ctx: Context, order: Order, payment: Payment, problem: str, at: datetime
    ) -> ShopResult:
        reason = f"could not complete the order: {problem}"
        for each in _payments(ctx.uow, order.id):
            if not each.is_final and each.state != "needs_reconciliation":
                key = f"{order.id}:compensate"
                self._give_back(
                    ctx, each, key if each is payment else f"{key}:{each.id}", reason, at
                )
        order.cancel(reason=reason, figures=payment_figures(ctx.uow, order), at=at)
        _set_ledger(ctx.uow, _ledger(ctx.uow).release(order.id))
        return _result(order, payment, "compensated", reason)

    def _tender_failed(
        self, ctx: Context, order: Order, payment: Payment, reason: str, at: datetime
    ) -> None:
        """``payment`` failed: give the order's other tenders back and hold it with the reason.

        Tenders already authorised are voided, shop-held balances restored,
        tenders not yet answered canceled; one whose outcome is unknown
        (``needs_reconciliation``) is given back when its answer comes.
        """
        if not order.awaiting_payment or order.state == "on_hold":
            return
        for each in _payments(ctx.uow, order.id):
            unknown = each.state == "needs_reconciliation"
            if each.id != payment.id and not each.is_final and not unknown:
                key = f"{payment.id}:failed:{each.id}"
                self._give_back(ctx, each, key, f"payment {payment.id} failed", at)
        _hold_for(order, payment, reason, at)

    def _give_back(
        self, ctx: Context, payment: Payment, key: str, reason: str, at: datetime
    ) -> None:
        """Void what ``payment`` holds and refund what it captured, through the gateway.

        Shop-held balances are restored to their accounts. A capture still in
        flight is first looked up at the provider and settled as it stands
        (lost on the way: failed), so the rest can be voided at once.
        """
        if payment.state in ("pending", "requires_action"):
            payment.cancel(reason=reason, at=at)
            return
        ref = None if payment.authorization is None else payment.authorization.provider_ref
        if ref is not None and payment.totals.capture_pending.amount > 0:
            self._settle_captures(payment, at)
        if payment.capturable.amount > 0 and payment.can("request_void"):
            if ref is None:  # held by the shop (cash on delivery): nothing to ask anyone
                payment.void_succeeded(at=at)
            else:
                self._void(payment, ref, f"{key}:void", reason, at)
        refundable = payment.refundable
        if refundable.amount > 0:
            if ref is None:  # held by the shop: give the balance back here
                _refund_held(ctx.uow, payment, f"{key}:refund", refundable, at)
            else:
                self._refund(payment, ref, f"{key}:refund", refundable, reason, at)

    def _settle_captures(self, payment: Payment, at: datetime) -> None:
        """Ask the provider how each capture in flight stands, and record what it says.

        A capture the provider never received failed (nobody sends it again:
        its command's result is recorded); one it still has pending, or that
        cannot be looked up now, stays in flight until its notification comes.
        """
        in_flight = [
            (capture_id, record)
            for capture_id, record in payment.captures.items()
            if record.status is OperationStatus.REQUESTED
        ]
        for capture_id, record in in_flight:
            try:
                answer = self.gateway.lookup(capture_id)
            except GatewayUnavailable:
                return
            if answer is None:
                reason = "the provider never received it"
                payment.capture_failed(capture_id=capture_id, reason=reason, at=at)
            elif answer.outcome is GatewayOutcome.APPROVED:
                payment.capture_succeeded(
                    capture_id=capture_id,
                    amount=record.amount,
                    at=at,
                    provider_ref=answer.provider_ref,
                )
            elif answer.outcome is GatewayOutcome.DECLINED:
                payment.capture_failed(capture_id=capture_id, reason=str(answer.decline), at=at)

    def _void(self, payment: Payment, ref: str, key: str, reason: str, at: datetime) -> None:
        request = VoidRequest(
            idempotency_key=key,
            payment_id=payment.id,
            authorization_ref=ref,
            amount=payment.capturable,
        )
        try:
            answer = self.gateway.void(request)
        except GatewayUnavailable:
            payment.request_void(reason=reason, at=at)
            return
        if answer.outcome is GatewayOutcome.APPROVED:
            payment.void_succeeded(at=at)
        elif answer.outcome is GatewayOutcome.PENDING:
            payment.request_void(reason=reason, at=at)
        else:
            payment.request_void(reason=reason, at=at)
            payment.void_failed(reason=str(answer.decline), at=at)

    def _refund(
        self, payment: Payment, ref: str, key: str, amount: Any, reason: str, at: datetime
    ) -> str:
        trial = copy.deepcopy(payment)
        trial.request_refund(refund_id=key, amount=amount, at=at)
        request = RefundRequest(
            idempotency_key=key,
            payment_id=payment.id,
            authorization_ref=ref,
            amount=amount,
            reason=reason,
        )
        try:
            answer = self.gateway.refund(request)
        except GatewayUnavailable:
            payment.request_refund(refund_id=key, amount=amount, at=at)
            return "refund_requested"
        payment.request_refund(refund_id=key, amount=amount, at=at)
        if answer.outcome is GatewayOutcome.APPROVED:
            payment.refund_succeeded(refund_id=key, at=at, provider_ref=answer.provider_ref)
            return "refunded"
        if answer.outcome is GatewayOutcome.DECLINED:
            payment.refund_failed(refund_id=key, reason=str(answer.decline), at=at)
            return "refund_declined"
        return "refund_requested"

    # --- authorisation reconciliation ------------------------------------------------------

    def authorize_payment(self, command: AuthorizePayment, ctx: Context) -> ShopResult:
        """Look up an authorisation whose answer was lost, or ask again under the same key."""

        def run() -> ShopResult:
            at = ctx.clock.now()
            payment = ctx.uow.repository(Payment).get(command.payment_id)
            order = ctx.uow.repository(Order).get(payment.order_id)
            if payment.state not in ("pending", "needs_reconciliation"):
                return _result(order, payment, "unchanged", f"the payment is {payment.state}")
            return self._reconcile(ctx, order, payment, at)

        return self._once(ctx, _IDEMPOTENCY, command.idempotency_key, command, run)

    def _reconcile(self, ctx: Context, order: Order, payment: Payment, at: datetime) -> ShopResult:
        """Look the payment's authorisation key up at the provider; ask again if it is unknown."""
        key = _authorize_key(payment.id)
        try:
            answer = self.gateway.lookup(key)
            if answer is None:
                answer = self.gateway.authorize(
                    AuthorizeRequest(
                        idempotency_key=key,
                        payment_id=payment.id,
                        amount=payment.amount,
                        payment_method=str(_records(ctx.uow).read_record(_TOKENS, payment.id)),
                    )
                )
        except GatewayUnavailable as error:
            payment.time_out(at=at)
            return _result(order, payment, "needs_reconciliation", str(error))
        return self._apply_authorization(ctx, order, payment, answer, at)

    # --- capture, refund, cancel -------------------------------------------------------------

    def capture_payment(self, command: CapturePayment, ctx: Context) -> ShopResult:
        """Capture an explicit amount; the payment's guards refuse too much before any call."""

        def run() -> ShopResult:
            at = ctx.clock.now()
            payment = ctx.uow.repository(Payment).get(command.payment_id)
            order = ctx.uow.repository(Order).get(payment.order_id)
            if order.state == "canceled":
                raise InvalidInput(
                    f"order {order.id} was canceled: payment {payment.id} may not be captured"
                )
            key = f"{command.idempotency_key}:capture"
            copy.deepcopy(payment).request_capture(capture_id=key, amount=command.amount, at=at)
            ref = None if payment.authorization is None else payment.authorization.provider_ref
            if ref is None:  # collected by the shop or its carrier: no provider to ask
                payment.capture_succeeded(capture_id=key, amount=command.amount, at=at)
                _settle_order(ctx, order, at)
                return _result(order, payment, "captured")
            request = CaptureRequest(
                idempotency_key=key,
                payment_id=payment.id,
                authorization_ref=ref,
                amount=command.amount,
            )
            try:
                answer = self.gateway.capture(request)
            except GatewayUnavailable as error:
                payment.request_capture(capture_id=key, amount=command.amount, at=at)
                return _result(order, payment, "capture_requested", str(error))
            if answer.outcome is GatewayOutcome.APPROVED:
                payment.capture_succeeded(
                    capture_id=key, amount=command.amount, at=at, provider_ref=answer.provider_ref
                )
                return _result(order, payment, "captured")
            payment.request_capture(capture_id=key, amount=command.amount, at=at)
            if answer.outcome is GatewayOutcome.DECLINED:
                payment.capture_failed(capture_id=key, reason=str(answer.decline), at=at)
                return _result(order, payment, "capture_declined", str(answer.decline))
            return _result(order, payment, "capture_requested")

        return self._once(ctx, _IDEMPOTENCY, command.idempotency_key, command, run)

    def refund_payment(self, command: RefundPayment, ctx: Context) -> ShopResult:
        """Refund an explicit amount of what was captured."""

        def run() -> ShopResult:
            at = ctx.clock.now()
            payment = ctx.uow.repository(Payment).get(command.payment_id)
            order = ctx.uow.repository(Order).get(payment.order_id)
            key = f"{command.idempotency_key}:refund"
            contested = contested_amount(ctx.uow, payment)
            if contested.amount > 0 and command.amount > payment.refundable - contested:
                raise InvalidInput(
                    f"payment {payment.id} can refund at most {payment.refundable - contested}, "
                    f"not {command.amount}: disputes hold or took back {contested}, which the "
                    "bank returns"
                )
            ref = None if payment.authorization is None else payment.authorization.provider_ref
            if ref is None:
                copy.deepcopy(payment).request_refund(refund_id=key, amount=command.amount, at=at)
                _refund_held(ctx.uow, payment, key, command.amount, at)
                return _result(order, payment, "refunded")
            outcome = self._refund(payment, ref, key, command.amount, command.reason, at)
            return _result(order, payment, outcome)

        return self._once(ctx, _IDEMPOTENCY, command.idempotency_key, command, run)

    def refund_order(self, command: RefundOrder, ctx: Context) -> ShopResult:
        """Refund an explicit amount of an order, spread over its payments (see `RefundOrder`)."""

        def run() -> ShopResult:
            at = ctx.clock.now()
            order = ctx.uow.repository(Order).get(command.order_id)
            plan = _refund_plan(ctx.uow, _payments(ctx.uow, order.id), command.amount)
            for payment, part in plan:  # refused here, before any gateway call
                trial = copy.deepcopy(payment)
                trial.request_refund(refund_id="trial", amount=part, at=at)
            outcomes: list[str] = []
            for payment, part in plan:
                key = f"{command.idempotency_key}:{payment.id}:refund"
                ref = None if payment.authorization is None else payment.authorization.provider_ref
                if ref is None:
                    _refund_held(ctx.uow, payment, key, part, at)
                    outcomes.append("refunded")
                else:
                    outcomes.append(self._refund(payment, ref, key, part, command.reason, at))
            outcome = "refunded" if set(outcomes) == {"refunded"} else ", ".join(outcomes)
            spread = ", ".join(f"{payment.id}: {part}" for payment, part in plan)
            return _result(order, plan[0][0], outcome, spread)

        return self._once(ctx, _IDEMPOTENCY, command.idempotency_key, command, run)

    def cancel_order(self, command: CancelOrder, ctx: Context) -> ShopResult:
        """Cancel before shipment: void what is held, refund what was captured, free coupons."""

        def run() -> ShopResult:
            at = ctx.clock.now()
            order = ctx.uow.repository(Order).get(command.order_id)
            copy.deepcopy(order).cancel(
                reason=command.reason, figures=payment_figures(ctx.uow, order), at=at
            )
            payments = [ctx.uow.repository(Payment).get(p) for p in _payment_ids(ctx.uow, order.id)]
            for payment in payments:
                if not payment.is_final and payment.state != "needs_reconciliation":
                    self._give_back(
                        ctx, payment, f"{command.idempotency_key}:{payment.id}", command.reason, at
                    )
            order.cancel(reason=command.reason, figures=payment_figures(ctx.uow, order), at=at)
            _set_ledger(ctx.uow, _ledger(ctx.uow).release(order.id))
            first = payments[0] if payments else None
            return _result(order, first, "canceled", command.reason)

        return self._once(ctx, _IDEMPOTENCY, command.idempotency_key, command, run)

    def expire_payments(self, command: ExpirePayments, ctx: Context) -> tuple[ShopResult, ...]:
        """Expire overdue bank transfers, cancel their orders and release their coupons."""
        records = _records(ctx.uow)
        waiting = cast(tuple[str, ...], records.read_record(_AWAITING_FUNDS, "open") or ())
        results: list[ShopResult] = []
        still: list[str] = []
        for payment_id in waiting:
            payment = ctx.uow.repository(Payment).get(payment_id)
            if payment.state != "requires_action":
                continue  # paid, canceled or expired meanwhile: no longer awaited
            action = payment.action
            if action is None or action.deadline is None or action.deadline >= command.now:
                still.append(payment_id)
                continue
            order = ctx.uow.repository(Order).get(payment.order_id)
            payment.expire(at=command.now)
            reason = f"no funds in virtual account {action.reference} by {action.deadline}"
            self._cancel_unpaid(ctx, order, f"{payment.id}:expired", reason, command.now)
            results.append(_result(order, payment, "expired", reason))
        if tuple(still) != waiting:
            records.write_record(_AWAITING_FUNDS, "open", tuple(still))
        ctx.uow.commit()
        return tuple(results)

    def _cancel_unpaid(
        self, ctx: Context, order: Order, key: str, reason: str, at: datetime
    ) -> None:
        """Cancel an order whose payment can no longer come; give back its other tenders."""
        if not order.awaiting_payment:
            return
        for each in _payments(ctx.uow, order.id):
            if not each.is_final and each.state != "needs_reconciliation":
                self._give_back(ctx, each, f"{key}:{each.id}", reason, at)
        order.cancel(reason=reason, figures=payment_figures(ctx.uow, order), at=at)
        _set_ledger(ctx.uow, _ledger(ctx.uow).release(order.id))

    # --- notifications -----------------------------------------------------------------------

    def apply_notification(self, command: ApplyGatewayNotification, ctx: Context) -> ShopResult:
        """Apply a provider's notification once, whatever order it arrives in."""
        notice = self.gateway.parse_notification(NotificationPayload(command.body, command.headers))
        if notice.is_dispute:
            disputes = self.disputes
            if disputes is None:
                raise InvalidInput(
                    f"notification {notice.notification_id!r} is a {notice.kind.value} notice, "
                    "but this checkout handles no disputes; give it disputes="
                )
            key = notice.notification_id
            return self._once(ctx, _NOTIFICATIONS, key, command, lambda: disputes(notice, ctx))
        payment = ctx.uow.repository(Payment).find(notice.payment_id)
        if payment is None:
            raise NotFound("payment", notice.payment_id)

        def run() -> ShopResult:
            assert payment is not None
            at = ctx.clock.now()
            order = ctx.uow.repository(Order).get(payment.order_id)
            takes_money = notice.kind in (NotificationKind.AUTHORIZED, NotificationKind.CAPTURED)
            try:
                _apply_notice(payment, notice)
            except (InvalidTransition, GuardRejected) as stale:
                gone = payment.state in ("voided", "expired") and payment.authorization is None
                if takes_money and gone:
                    return self._give_back_unrecorded(order, payment, notice)
                return _result(order, payment, "ignored", str(stale))
            kind, operation = notice.kind, notice.operation
            if kind is NotificationKind.FAILED and payment.state == "failed":
                why = "failed" if notice.reason is None else notice.reason.value
                self._tender_failed(ctx, order, payment, why, at)
            transfer = payment.method is PaymentMethod.BANK_TRANSFER
            lapsed = kind is NotificationKind.EXPIRED and payment.state == "expired"
            if lapsed and transfer and order.awaiting_payment:
                reason = f"no funds arrived for payment {payment.id} by its deadline"
                self._cancel_unpaid(ctx, order, f"{notice.notification_id}:expired", reason, at)
                return _result(order, payment, "canceled", reason)
            if lapsed and payment.authorization is None:  # the customer never authenticated
                self._tender_failed(ctx, order, payment, "the customer did not act in time", at)
            settles_capture = takes_money or (
                kind is NotificationKind.FAILED and operation is GatewayOperation.CAPTURE
            )
            awaited = payment.state in ("needs_reconciliation", "void_requested")
            if settles_capture and _refuses_money(order) and not payment.is_final and not awaited:
                reason = _refusal(order)
                key = f"{notice.notification_id}:compensate"
                self._give_back(ctx, payment, key, reason, at)
                return _result(order, payment, "compensated", reason)
            return _result(order, payment, "applied", notice.kind.value)

        return self._once(ctx, _NOTIFICATIONS, notice.notification_id, command, run)

    def _give_back_unrecorded(
        self, order: Order, payment: Payment, notice: GatewayNotification
    ) -> ShopResult:
        """Money taken for a payment canceled before the provider answered: give it back.

        The payment was canceled while its authorisation was still pending, so
        it is final and cannot record the hold; the provider is asked directly
        to void (or refund, for a capture) exactly what the notification says,
        under a key derived from the notification id. If the provider cannot be
        reached, `GatewayUnavailable` propagates and nothing is recorded, so
        the redelivered notification tries again.
        """
        key = f"{notice.notification_id}:compensate"
        reason = f"payment {payment.id} was canceled before the provider answered"
        if notice.kind is NotificationKind.AUTHORIZED:
            answer = self.gateway.void(
                VoidRequest(
                    idempotency_key=f"{key}:void",
                    payment_id=payment.id,
                    authorization_ref=notice.provider_ref,
                    amount=notice.amount,
                )
            )
        else:
            answer = self.gateway.refund(
                RefundRequest(
                    idempotency_key=f"{key}:refund",
                    payment_id=payment.id,
                    authorization_ref=notice.provider_ref,
                    amount=notice.amount,
                    reason=reason,
                )
            )
        if answer.outcome is GatewayOutcome.DECLINED:
            return _result(order, payment, "compensation_declined", str(answer.decline))
        return _result(order, payment, "compensated", reason)


def _apply_notice(payment: Payment, notice: GatewayNotification) -> None:
    at = notice.occurred_at
    key = notice.idempotency_key or notice.provider_ref
    operation = notice.operation
    kind = notice.kind
    if kind is NotificationKind.AUTHORIZED:
        payment.authorize(amount=notice.amount, at=at, provider_ref=notice.provider_ref)
    elif kind is NotificationKind.CAPTURED:
        payment.capture_succeeded(
            capture_id=key, amount=notice.amount, at=at, provider_ref=notice.provider_ref
        )
    elif kind is NotificationKind.VOIDED:
        payment.void_succeeded(at=at)
    elif kind is NotificationKind.REFUNDED:
        if key in payment.refunds and payment.refunds[key].status.value == "succeeded":
            return
        payment.refund_succeeded(refund_id=key, at=at, provider_ref=notice.provider_ref)
    elif kind is NotificationKind.EXPIRED:
        payment.expire(at=at, by_provider=True)
    elif kind is NotificationKind.ACTION_REQUIRED:
        return  # the authorize answer already said so
    else:
        reason = "failed" if notice.reason is None else notice.reason.value
        if operation is GatewayOperation.AUTHORIZE:
            payment.fail(reason=reason, at=at)
        elif operation is GatewayOperation.CAPTURE:
            payment.capture_failed(capture_id=key, reason=reason, at=at)
        elif operation is GatewayOperation.VOID:
            payment.void_failed(reason=reason, at=at)
        else:
            payment.refund_failed(refund_id=key, reason=reason, at=at)


# --- policies ------------------------------------------------------------------------------


def hold_order_when_payment_fails(event: PaymentFailed, ctx: Context) -> None:
    """A failed authorisation (e.g. reported by notification) puts the unpaid order on hold."""
    payment = ctx.uow.repository(Payment).get(event.aggregate_id)
    order = ctx.uow.repository(Order).get(payment.order_id)
    before = order.version
    _hold_for(order, payment, event.reason, ctx.clock.now())
    if order.version != before:
        ctx.uow.commit()


def settle_order_when_money_secured(event: DomainEvent, ctx: Context) -> None:
    """An authorisation or capture (e.g. after 3-D Secure) that covers the total pays the order."""
    payment = ctx.uow.repository(Payment).get(event.aggregate_id)
    order = ctx.uow.repository(Order).get(payment.order_id)
    if order.state == "on_hold" or not order.awaiting_payment:
        return
    _settle_order(ctx, order, ctx.clock.now())
    ctx.uow.commit()


POLICIES: Mapping[type[DomainEvent], Sequence[Callable[[Any, Context], None]]] = {
    PaymentFailed: (hold_order_when_payment_fails,),
    PaymentAuthorized: (settle_order_when_money_secured,),
    PaymentCaptured: (settle_order_when_money_secured,),
}
"""The checkout policies by event type."""
