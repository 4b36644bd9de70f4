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

Notifications (`ApplyGatewayNotification`) are applied once per
``notification_id``; one that the payment already reflects changes nothing,
and a stale one (e.g. an ``authorized`` arriving after a void) is recorded
as ``ignored``. Policies (`POLICIES`) keep the order in step with payments
changed by notifications: a failed authorisation holds the order; an
authorisation or capture that covers the total marks it paid.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, cast

import attrs
from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from fourflows.app.commands import Command
from fourflows.app.handlers import Context
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
    GatewayUnavailable,
    GuardRejected,
    IdempotencyConflict,
    InvalidInput,
    InvalidTransition,
    NotFound,
)
from fourflows.events import DomainEvent
from fourflows.geo import Address
from fourflows.logistics.shipping import ShippingTable
from fourflows.money import MoneyField, sum_money
from fourflows.ports import KeyedRecords, UnitOfWork
from fourflows.tax import TaxProvider

__all__ = [
    "POLICIES",
    "ApplyGatewayNotification",
    "AuthorizePayment",
    "CancelOrder",
    "CapturePayment",
    "Checkout",
    "CouponLedger",
    "PlaceOrder",
    "RefundPayment",
    "ShipTo",
    "ShopResult",
    "payment_figures",
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


class PlaceOrder(Command):
    """Price ``items`` (sku → quantity), place the order and start paying for it.

    ``payment_method`` is a `PaymentMethod` value; ``payment_token`` is the
    provider's token for the customer's card or wallet (ignored for cash on
    delivery).
    """

    idempotency_key: str = _Key
    items: dict[str, PositiveInt] = Field(min_length=1)
    customer_id: str | None = Field(default=None, min_length=1, max_length=100)
    channel: Literal["web", "app", "store"] = "web"
    ship_to: ShipTo | None = None
    service: str | None = Field(default=None, min_length=1, max_length=100)
    coupon_codes: tuple[str, ...] = ()
    payment_method: Literal["card", "e_wallet", "cash_on_delivery"] = "card"
    payment_token: str = Field(default="card-token", min_length=1, max_length=200)


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


class CancelOrder(Command):
    """Cancel order ``order_id`` before shipment: void what is held, refund what was taken."""

    idempotency_key: str = _Key
    order_id: str = _Key
    reason: str = _Text


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
    ``action_url`` is where to send the customer for 3-D Secure.
    """

    order_id: str
    payment_id: str | None
    order_state: str
    payment_state: str | None
    outcome: str
    message: str = ""
    action_url: str | None = None


@attrs.frozen
class _KeyRecord:
    fingerprint: str
    result: ShopResult


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


def payment_figures(uow: UnitOfWork, order: Order) -> PaymentFigures:
    """The order's `PaymentFigures`, summed from its payments in ``uow``."""
    payments = [uow.repository(Payment).get(pid) for pid in _payment_ids(uow, order.id)]
    zero = [PaymentFigures.of(order.currency).captured]
    totals = [payment.totals for payment in payments]
    return PaymentFigures(
        authorized=sum_money([*zero, *(t.held for t in totals)]),
        captured=sum_money([*zero, *(t.captured for t in totals)]),
        refunded=sum_money([*zero, *(t.refunded for t in totals)]),
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


def _hold_for(order: Order, payment: Payment, reason: str, at: datetime) -> None:
    if order.awaiting_payment and order.state != "on_hold":
        order.hold(reason=f"payment {payment.id} failed: {reason}", at=at)


Confirm = Callable[[Order], None]
"""A hook run when an order's money is secured, before it is marked paid; raise to refuse."""


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
    ) -> None:
        self.catalog = catalog
        self.tax = tax
        self.gateway = gateway
        self.shipping = shipping
        self.promotions = tuple(promotions)
        self.coupons = tuple(coupons)
        self.confirm = confirm

    def handlers(self) -> dict[type[Command], Callable[[Any, Context], Any]]:
        """Every checkout command with its handler."""
        return {
            PlaceOrder: self.place_order,
            AuthorizePayment: self.authorize_payment,
            CapturePayment: self.capture_payment,
            RefundPayment: self.refund_payment,
            CancelOrder: self.cancel_order,
            ApplyGatewayNotification: self.apply_notification,
        }

    # --- idempotency -----------------------------------------------------------------------

    @staticmethod
    def _once(
        ctx: Context, namespace: str, key: str, command: Command, run: Callable[[], ShopResult]
    ) -> ShopResult:
        records = _records(ctx.uow)
        fingerprint = request_fingerprint(command)
        found = records.read_record(namespace, key)
        if isinstance(found, _KeyRecord):
            if found.fingerprint != fingerprint:
                raise IdempotencyConflict(key, recorded=found.fingerprint, given=fingerprint)
            return found.result
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
        return self._once(ctx, _IDEMPOTENCY, key, command, lambda: self._place(command, ctx))

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
        )
        order = Order.place(
            id=ctx.ids.next_id("order"),
            quote=quote,
            at=at,
            payment_plan=PaymentPlan.CASH_ON_DELIVERY if cod else PaymentPlan.PREPAID,
        )
        payment = Payment.create(
            id=ctx.ids.next_id("payment"),
            order_id=order.id,
            method=PaymentMethod(command.payment_method),
            amount=order.totals.total,
            at=at,
        )
        ctx.uow.repository(Order).add(order)
        ctx.uow.repository(Payment).add(payment)
        records = _records(ctx.uow)
        records.write_record(_ORDER_PAYMENTS, order.id, (payment.id,))
        records.write_record(_TOKENS, payment.id, command.payment_token)
        _set_ledger(ctx.uow, ledger.reserve(order.id, order.coupon_codes, command.customer_id))
        if cod:
            payment.authorize(amount=payment.amount, at=at)
            return self._complete(ctx, order, payment, "approved", at)
        self._remember(ctx, command, command.idempotency_key, _result(order, payment, "placed"))
        ctx.uow.commit()
        request = AuthorizeRequest(
            idempotency_key=_authorize_key(payment.id),
            payment_id=payment.id,
            amount=payment.amount,
            payment_method=command.payment_token,
        )
        try:
            answer = self.gateway.authorize(request)
        except GatewayUnavailable as error:
            payment.time_out(at=at)
            return _result(order, payment, "needs_reconciliation", str(error))
        return self._apply_authorization(ctx, order, payment, answer, at)

    def _apply_authorization(
        self, ctx: Context, order: Order, payment: Payment, answer: GatewayResult, at: datetime
    ) -> ShopResult:
        if answer.outcome is GatewayOutcome.APPROVED:
            payment.authorize(amount=answer.amount, at=at, provider_ref=answer.provider_ref)
            return self._complete(ctx, order, payment, "authorized", at)
        if answer.outcome is GatewayOutcome.DECLINED:
            assert answer.decline is not None
            reason = f"{answer.decline.reason.value}: {answer.decline.message}"
            payment.fail(reason=reason, at=at)
            _hold_for(order, payment, reason, at)
            return _result(order, payment, "declined", reason)
        if answer.outcome is GatewayOutcome.REQUIRES_ACTION:
            assert answer.action is not None
            payment.require_authentication(
                reference=answer.action.reference, deadline=answer.action.deadline, at=at
            )
            return _result(order, payment, "requires_action", url=answer.action.url)
        return _result(order, payment, "pending", "the provider confirms later")

    def _complete(
        self, ctx: Context, order: Order, payment: Payment, outcome: str, at: datetime
    ) -> ShopResult:
        """The money is secured: confirm the order, or compensate if that fails."""
        if order.state == "canceled":  # canceled while the authorisation was unknown
            reason = f"order {order.id} was canceled: {order.cancel_reason}"
            self._give_back(ctx, payment, f"{payment.id}:canceled-order", reason, at)
            return _result(order, payment, "compensated", reason)
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
        self._give_back(ctx, payment, f"{order.id}:compensate", reason, at)
        order.cancel(reason=reason, figures=payment_figures(ctx.uow, order), at=at)
        _set_ledger(ctx.uow, _ledger(ctx.uow).release(order.id))
        return _result(order, payment, "compensated", reason)

    def _give_back(
        self, ctx: Context, payment: Payment, key: str, reason: str, at: datetime
    ) -> None:
        """Void what ``payment`` holds and refund what it captured, through the gateway."""
        if payment.state in ("pending", "requires_action"):
            payment.cancel(reason=reason, at=at)
            return
        ref = None if payment.authorization is None else payment.authorization.provider_ref
        if payment.capturable.amount > 0 and payment.can("request_void"):
            if ref is None:  # held by the shop (cash on delivery): nothing to ask anyone
                payment.void_succeeded(at=at)
            else:
                self._void(payment, ref, f"{key}:void", reason, at)
        refundable = payment.refundable
        if refundable.amount > 0 and ref is not None:
            self._refund(payment, ref, f"{key}:refund", refundable, reason, at)

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

        return self._once(ctx, _IDEMPOTENCY, command.idempotency_key, command, run)

    # --- capture, refund, cancel -------------------------------------------------------------

    def capture_payment(self, command: CapturePayment, ctx: Context) -> ShopResult:
        """Capture an explicit amount; the payment's guards refuse too much before any call."""

        def run() -> ShopResult:
            at = ctx.clock.now()
            payment = ctx.uow.repository(Payment).get(command.payment_id)
            order = ctx.uow.repository(Order).get(payment.order_id)
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
            ref = None if payment.authorization is None else payment.authorization.provider_ref
            if ref is None:
                copy.deepcopy(payment).request_refund(refund_id=key, amount=command.amount, at=at)
                payment.request_refund(refund_id=key, amount=command.amount, at=at)
                payment.refund_succeeded(refund_id=key, at=at)
                return _result(order, payment, "refunded")
            outcome = self._refund(payment, ref, key, command.amount, command.reason, at)
            return _result(order, payment, outcome)

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

    # --- notifications -----------------------------------------------------------------------

    def apply_notification(self, command: ApplyGatewayNotification, ctx: Context) -> ShopResult:
        """Apply a provider's notification once, whatever order it arrives in."""
        notice = self.gateway.parse_notification(NotificationPayload(command.body, command.headers))
        payment = ctx.uow.repository(Payment).find(notice.payment_id)
        if payment is None:
            raise NotFound("payment", notice.payment_id)

        def run() -> ShopResult:
            assert payment is not None
            order = ctx.uow.repository(Order).get(payment.order_id)
            try:
                _apply_notice(payment, notice)
            except (InvalidTransition, GuardRejected) as stale:
                return _result(order, payment, "ignored", str(stale))
            return _result(order, payment, "applied", notice.kind.value)

        return self._once(ctx, _NOTIFICATIONS, notice.notification_id, command, run)


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
