"""Order changes through the shop: preview, propose, confirm or decline, and move the money.

The domain side is `fourflows.commerce.order.Order.preview_change` and its
siblings; this module adds the commands, prices the changed cart and makes
the payments follow. The handlers live in `OrderChanges` (built like
`fourflows.app.checkout.Checkout`, or from one with `OrderChanges.for_checkout`).

**The steps.** `PreviewOrderChange` works the change out and returns a
`ChangeEffect` (new total, difference, the skus whose quantities change, what
to collect or give back); it changes nothing. `ProposeOrderChange` keeps the
change pending on the order. `ConfirmOrderChange` moves the money and applies
the change; `DeclineOrderChange` drops it. Propose, confirm and decline carry
an ``idempotency_key``: the same key with the same command returns the first
`ShopResult` and does nothing twice.

**Pricing.** Before payment the changed cart is priced again with
``price_cart`` (the order's customer, channel and coupon codes, the new
quantities, address and service, at the time of the change; the order's own
coupon reservation does not count against the coupon's limit). After payment
the prices paid stand: quantities only go down (a rule of the order), and a
new quote is made only when the address or the service changes, for its
shipping fee; a quantity change alone keeps the shipping fee paid.

**Money, before payment** (order ``pending_payment``). A payment's amount
cannot change, so the pending gateway payment (``pending`` or
``requires_action``) is replaced: a new payment of the same method and token
is opened for what is still to pay and authorised at once; when the provider
answers anything but a decline, the old payment is canceled (a late
authorisation of it is given back by the checkout's notification handling)
and the change applied. A declined authorisation declines the change and
leaves the old payment as it was. A payment whose outcome is unknown
(``needs_reconciliation``) must be settled first (`AuthorizePayment`).

**Money, after payment.**

* *The total goes up* (a dearer service, an address on the islands): an extra
  payment for the difference is authorised through the gateway with the
  token given in the command, or else the token of the order's gateway
  payment. Approved: it joins the order's payments and the change is
  applied. Declined: the change is declined and nothing else moves. An
  answer that needs the customer or comes later: the extra payment is
  canceled (a late authorisation is given back) and the change stays
  proposed (outcome ``payment_not_approved``); confirm again with a new key
  and another token, or decline.
* *The total goes down*: the difference goes back. The gateway port voids
  only *all* of what is left of an authorisation (`PaymentGateway.void`), so
  a hold larger than the difference is settled by capturing what the order
  still costs of it and voiding the rest; a hold no larger than what is left
  to give back is voided whole (newest holds first). What remains is
  refunded from captured money in the order of
  `fourflows.app.checkout.RefundOrder` (gateway tenders first, shop-held
  last, oldest first). A declined capture, void or refund is recorded on its
  payment and the change is still applied (outcome ``confirmed_money_owed``:
  the order's payment status then says what is owed).
* *Cash on delivery*: nothing goes through the gateway. What is left of the
  COD payment is voided and a new COD payment is opened for what the carrier
  must now collect.

**Failures.** Bad input raises before anything moves: `NotFound` for an
unknown order, `InvalidInput` for a line or sku not on the order, a quantity
below what has shipped or above what was paid for, a change id already used,
an ``expected_total`` the change does not reach, `CurrencyMismatch` for an
``expected_total`` in another currency, and the order's own
`fourflows.errors.InvalidTransition` (``GuardRejected``) for a change that is
not pending. `GatewayUnavailable` propagates with nothing recorded: the
change stays proposed; repeat the command with the same key (every gateway
call's key derives from it, so nothing is done twice).
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, cast

import attrs
from pydantic import Field, NonNegativeInt, model_validator

from fourflows.app.checkout import (
    _AWAITING_FUNDS,
    _ORDER_PAYMENTS,
    _TOKENS,
    Checkout,
    Confirm,
    ShipTo,
    ShopResult,
    _ledger,
    _payment_ids,
    _payments,
    _records,
    _refund_held,
    _result,
    payment_figures,
)
from fourflows.app.commands import Command
from fourflows.app.handlers import Context
from fourflows.cash.gateway import (
    AuthorizeRequest,
    CaptureRequest,
    GatewayOutcome,
    GatewayResult,
    PaymentGateway,
    RefundRequest,
    VoidRequest,
)
from fourflows.cash.payment import Payment, PaymentMethod
from fourflows.commerce.cart import Cart, Customer, PricingContext
from fourflows.commerce.catalog import Catalog
from fourflows.commerce.coupons import Coupon
from fourflows.commerce.order import ChangePreview, Order, OrderChange, OrderLine, PaymentPlan
from fourflows.commerce.pricing import Quote, price_cart
from fourflows.commerce.promotions import Promotion
from fourflows.errors import CurrencyMismatch, InvalidInput, NotFound
from fourflows.geo import Address
from fourflows.logistics.shipping import ShippingTable
from fourflows.money import Money, MoneyField
from fourflows.ports import UnitOfWork
from fourflows.tax import TaxProvider

__all__ = [
    "ChangeEffect",
    "ConfirmOrderChange",
    "DeclineOrderChange",
    "OrderChanges",
    "PreviewOrderChange",
    "ProposeOrderChange",
    "SkuChange",
]

_CHANGES = "order-change"
_Id = Field(min_length=1, max_length=200)


class PreviewOrderChange(Command):
    """Work out change ``change_id`` of order ``order_id`` without recording anything.

    ``quantities`` maps a sku on the order to its new quantity (0 takes it
    off); ``ship_to`` and ``service`` ask for a new shipping address or
    shipping service. At least one of the three must be given.
    """

    order_id: str = _Id
    change_id: str = _Id
    quantities: dict[str, NonNegativeInt] = Field(default_factory=dict)
    ship_to: ShipTo | None = None
    service: str | None = Field(default=None, min_length=1, max_length=100)
    reason: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _asks_for_something(self) -> PreviewOrderChange:
        if not self.quantities and self.ship_to is None and self.service is None:
            raise ValueError("a change needs quantities, ship_to or service")
        return self

    def change(self) -> OrderChange:
        """The domain `OrderChange`."""
        return OrderChange(
            id=self.change_id,
            quantities=dict(self.quantities),
            shipping_address=None if self.ship_to is None else self.ship_to.address(),
            shipping_service=self.service,
            reason=self.reason,
        )


class ProposeOrderChange(PreviewOrderChange):
    """Propose the change: it stays pending on the order until confirmed or declined."""

    idempotency_key: str = _Id


class ConfirmOrderChange(Command):
    """Confirm the pending change ``change_id``: move the money, then apply it.

    ``payment_token`` pays an extra payment when the total goes up (default:
    the token of the order's gateway payment). ``expected_total``, when given,
    is the new total the customer agreed to: the change is refused if it
    would now come to anything else.
    """

    idempotency_key: str = _Id
    order_id: str = _Id
    change_id: str = _Id
    payment_token: str | None = Field(default=None, min_length=1, max_length=200)
    expected_total: MoneyField | None = None


class DeclineOrderChange(Command):
    """Decline the pending change ``change_id`` for ``reason``; the order stays as it was."""

    idempotency_key: str = _Id
    order_id: str = _Id
    change_id: str = _Id
    reason: str = Field(default="declined", min_length=1, max_length=500)


@attrs.frozen(kw_only=True)
class SkuChange:
    """The open units of ``sku`` before and after a change."""

    sku: str
    before: int
    after: int


@attrs.frozen(kw_only=True)
class ChangeEffect:
    """What a change would do to an order and its money.

    ``difference`` is ``new_total - previous_total``; ``to_collect`` is what
    the payments do not cover yet, ``to_refund`` what the shop would hold
    beyond the new total (see `fourflows.commerce.order.ChangePreview`, kept
    whole in ``preview``). ``skus`` lists only the skus whose open quantity
    changes.
    """

    order_id: str
    change_id: str
    repriced: bool
    previous_total: Money
    new_total: Money
    difference: Money
    to_collect: Money
    to_refund: Money
    skus: tuple[SkuChange, ...]
    shipping_service: str | None
    shipping_fee: Money
    shipping_address: Address | None
    preview: ChangePreview

    def describe(self) -> str:
        """One line: the totals, the difference and the quantities that change."""
        sign = "+" if self.difference.amount >= 0 else "-"
        text = (
            f"total {self.previous_total} -> {self.new_total} "
            f"({sign}{abs(self.difference.amount)} {self.difference.currency})"
        )
        if self.skus:
            moved = ", ".join(f"{s.sku} {s.before} -> {s.after}" for s in self.skus)
            text += f"; {moved}"
        return text


def _open_by_sku(lines: Iterable[OrderLine]) -> Counter[str]:
    units: Counter[str] = Counter()
    for line in lines:
        units[line.sku] += line.counts.open
    return units


def _effect(order: Order, preview: ChangePreview) -> ChangeEffect:
    before = _open_by_sku(order.lines)
    after = _open_by_sku(preview.lines)
    skus = tuple(
        SkuChange(sku=sku, before=before[sku], after=after[sku])
        for sku in sorted(set(before) | set(after))
        if before[sku] != after[sku]
    )
    return ChangeEffect(
        order_id=order.id,
        change_id=preview.change.id,
        repriced=preview.repriced,
        previous_total=preview.previous.total,
        new_total=preview.totals.total,
        difference=preview.difference,
        to_collect=preview.to_collect,
        to_refund=preview.to_refund,
        skus=skus,
        shipping_service=None if preview.shipping is None else preview.shipping.service_id,
        shipping_fee=preview.totals.shipping,
        shipping_address=preview.shipping_address,
        preview=preview,
    )


def _first(payments: list[Payment]) -> Payment | None:
    return payments[0] if payments else None


def _ref(payment: Payment) -> str | None:
    return None if payment.authorization is None else payment.authorization.provider_ref


def _decline_text(answer: GatewayResult) -> str:
    if answer.decline is None:
        return answer.outcome.value
    return f"{answer.decline.reason.value}: {answer.decline.message}"


class OrderChanges:
    """The order-change handlers, with the catalog, pricing tables and gateway they use."""

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
        if not isinstance(catalog, Catalog):
            raise InvalidInput(f"catalog must be a Catalog, not {catalog!r}")
        self.checkout = Checkout(
            catalog=catalog,
            tax=tax,
            gateway=gateway,
            shipping=shipping,
            promotions=promotions,
            coupons=coupons,
            confirm=confirm,
        )

    @classmethod
    def for_checkout(cls, checkout: Checkout) -> OrderChanges:
        """The order changes of a shop whose checkout is ``checkout`` (same tables, gateway)."""
        return cls(
            catalog=checkout.catalog,
            tax=checkout.tax,
            gateway=checkout.gateway,
            shipping=checkout.shipping,
            promotions=checkout.promotions,
            coupons=checkout.coupons,
            confirm=checkout.confirm,
        )

    @property
    def gateway(self) -> PaymentGateway:
        """The payment gateway the handlers call."""
        return self.checkout.gateway

    def handlers(self) -> dict[type[Command], Callable[[Any, Context], Any]]:
        """Every order-change command with its handler."""
        return {
            PreviewOrderChange: self.preview_change,
            ProposeOrderChange: self.propose_change,
            ConfirmOrderChange: self.confirm_change,
            DeclineOrderChange: self.decline_change,
        }

    # --- pricing ---------------------------------------------------------------------------

    def _quote(self, ctx: Context, order: Order, change: OrderChange, at: datetime) -> Quote | None:
        """The changed cart priced again, or ``None`` when the domain keeps the prices paid."""
        address = change.shipping_address
        new_address = address is not None and address != order.shipping_address
        new_service = change.shipping_service is not None and (
            order.shipping is None or change.shipping_service != order.shipping.service_id
        )
        if not order.awaiting_payment and not new_address and not new_service:
            return None
        wanted: dict[str, int] = {}
        asked = {str(key): quantity for key, quantity in change.quantities}
        for key in asked:
            order.line(key)  # an unknown sku raises here, listing the order's lines
        for line in order.lines:
            quantity = asked.get(line.sku, line.counts.open)
            if quantity:
                wanted[line.sku] = wanted.get(line.sku, 0) + quantity
        if not wanted:
            raise InvalidInput(
                f"change {change.id!r} would leave no unit in the order; cancel it instead"
            )
        cart = Cart(order.currency)
        for sku, quantity in wanted.items():
            cart = cart.add(self.checkout.catalog[sku], quantity)
        ship_to = address if address is not None else order.shipping_address
        if order.shipping is None:
            service, ship_to = None, None
        else:
            service = change.shipping_service or order.shipping.service_id
        return price_cart(
            cart,
            context=PricingContext(
                at=at, customer=Customer(id=order.customer_id), channel=order.channel
            ),
            tax=self.checkout.tax,
            promotions=self.checkout.promotions,
            coupon_codes=order.coupon_codes,
            coupons=self.checkout.coupons,
            usage=_ledger(ctx.uow).release(order.id).snapshot(),
            shipping=self.checkout.shipping if ship_to is not None else None,
            ship_to=ship_to,
            service=service,
            cod=order.payment_plan is PaymentPlan.CASH_ON_DELIVERY,
        )

    def _preview(self, command: PreviewOrderChange, ctx: Context) -> tuple[Order, ChangePreview]:
        at = ctx.clock.now()
        order = ctx.uow.repository(Order).get(command.order_id)
        change = command.change()
        quote = self._quote(ctx, order, change, at)
        figures = payment_figures(ctx.uow, order)
        return order, order.preview_change(change, quote, figures=figures)

    # --- preview, propose, decline ---------------------------------------------------------

    def preview_change(self, command: PreviewOrderChange, ctx: Context) -> ChangeEffect:
        """Work a change out: its money effect, with nothing recorded."""
        if isinstance(command, ProposeOrderChange):
            raise InvalidInput("preview_change takes a PreviewOrderChange, not a proposal")
        order, preview = self._preview(command, ctx)
        return _effect(order, preview)

    def propose_change(self, command: ProposeOrderChange, ctx: Context) -> ShopResult:
        """Keep a change pending on the order, with its money effect in the message."""

        def run() -> ShopResult:
            at = ctx.clock.now()
            order = ctx.uow.repository(Order).get(command.order_id)
            change = command.change()
            quote = self._quote(ctx, order, change, at)
            figures = payment_figures(ctx.uow, order)
            preview = order.propose_change(change, quote, figures=figures, at=at)
            payments = _payments(ctx.uow, order.id)
            return _result(order, _first(payments), "proposed", _effect(order, preview).describe())

        return Checkout._once(ctx, _CHANGES, command.idempotency_key, command, run)

    def decline_change(self, command: DeclineOrderChange, ctx: Context) -> ShopResult:
        """Drop a pending change; the order and its payments stay as they were."""

        def run() -> ShopResult:
            at = ctx.clock.now()
            order = ctx.uow.repository(Order).get(command.order_id)
            first = _first(_payments(ctx.uow, order.id))
            decided = order.decided_changes.get(command.change_id)
            if decided == "confirmed":
                raise InvalidInput(
                    f"change {command.change_id!r} of order {order.id!r} was already "
                    "confirmed; it cannot be declined"
                )
            if decided is None:
                _pending(order, command.change_id)
            order.decline_change(command.change_id, at=at, reason=command.reason)
            return _result(order, first, "declined", command.reason)

        return Checkout._once(ctx, _CHANGES, command.idempotency_key, command, run)

    # --- confirm ---------------------------------------------------------------------------

    def confirm_change(self, command: ConfirmOrderChange, ctx: Context) -> ShopResult:
        """Move the money the pending change asks for, then apply it (see the module docs)."""

        def run() -> ShopResult:
            at = ctx.clock.now()
            order = ctx.uow.repository(Order).get(command.order_id)
            payments = _payments(ctx.uow, order.id)
            decided = order.decided_changes.get(command.change_id)
            if decided == "declined":
                raise InvalidInput(
                    f"change {command.change_id!r} of order {order.id!r} was declined; "
                    "propose it again under a new change id"
                )
            if decided is not None:
                return _result(order, _first(payments), "unchanged", "the change was confirmed")
            pending = _pending(order, command.change_id)
            expected = command.expected_total
            total = pending.totals.total
            if expected is not None:
                if expected.currency != total.currency:
                    raise CurrencyMismatch(total.code, expected.code, "compare the totals")
                if expected != total:
                    raise InvalidInput(
                        f"change {command.change_id!r} now comes to {total}, not the "
                        f"{expected} expected; preview it again"
                    )
            copy.deepcopy(order).confirm_change(command.change_id, at=at)  # refuses first
            if order.awaiting_payment:
                return self._before_payment(ctx, command, order, pending, payments, at)
            if order.payment_plan is PaymentPlan.CASH_ON_DELIVERY:
                return self._cash_on_delivery(ctx, command, order, pending, payments, at)
            return self._after_payment(ctx, command, order, pending, payments, at)

        return Checkout._once(ctx, _CHANGES, command.idempotency_key, command, run)

    def _before_payment(
        self,
        ctx: Context,
        command: ConfirmOrderChange,
        order: Order,
        pending: ChangePreview,
        payments: list[Payment],
        at: datetime,
    ) -> ShopResult:
        """Replace the pending gateway payment by one for the new amount still to pay."""
        unknown = [p.id for p in payments if p.state == "needs_reconciliation"]
        if unknown:
            raise InvalidInput(
                f"the outcome of payment {unknown[0]!r} is unknown; settle it with "
                "AuthorizePayment before changing the order"
            )
        waiting = [p for p in payments if p.state in ("pending", "requires_action")]
        figures = payment_figures(ctx.uow, order)
        still = pending.totals.total - figures.secured
        if not waiting:
            order.confirm_change(command.change_id, at=at)
            return _result(order, _first(payments), "confirmed", f"{still} still to pay")
        old = waiting[0]
        reason = f"replaced for change {command.change_id!r} of order {order.id!r}"
        if still.amount <= 0:  # shop-held tenders already cover the new total
            for payment in waiting:
                payment.cancel(reason=reason, at=at)
            notes, owed = self._give_back(ctx, command, order, figures.kept - pending.totals.total)
            order.confirm_change(command.change_id, at=at)
            return _result(order, old, "confirmed_money_owed" if owed else "confirmed", notes)
        token = command.payment_token or self._token(ctx, old)
        made, answer = self._authorize(ctx, command, order, old.method, still, token, at)
        if answer.outcome is GatewayOutcome.DECLINED:
            why = f"the payment of {still} was declined ({_decline_text(answer)})"
            order.decline_change(command.change_id, at=at, reason=why)
            return _result(order, old, "payment_declined", why)
        for payment in waiting:
            payment.cancel(reason=reason, at=at)
        self._record(ctx, order, made, token, answer, at)
        order.confirm_change(command.change_id, at=at)
        result = _result(
            order, made, "confirmed", f"payment {made.id} of {still} replaces {old.id}"
        )
        action = answer.action
        if action is None:
            return result
        if made.method is PaymentMethod.BANK_TRANSFER:
            return attrs.evolve(result, virtual_account=action.reference, deadline=action.deadline)
        return attrs.evolve(result, action_url=action.url)

    def _after_payment(
        self,
        ctx: Context,
        command: ConfirmOrderChange,
        order: Order,
        pending: ChangePreview,
        payments: list[Payment],
        at: datetime,
    ) -> ShopResult:
        figures = payment_figures(ctx.uow, order)
        total = pending.totals.total
        if total == figures.secured:
            order.confirm_change(command.change_id, at=at)
            return _result(order, _first(payments), "confirmed", "no money moves")
        if total < figures.secured:
            notes, owed = self._give_back(ctx, command, order, figures.secured - total)
            order.confirm_change(command.change_id, at=at)
            return _result(
                order, _first(payments), "confirmed_money_owed" if owed else "confirmed", notes
            )
        extra = total - figures.secured
        # The card or wallet that already pays for the order (not one abandoned before).
        online = [p for p in payments if not p.method.is_shop_held and p.authorization]
        token = command.payment_token
        if token is None:
            if not online:
                raise InvalidInput(
                    f"the change needs {extra} more and the order has no card or wallet "
                    "payment to take it from; give a payment_token"
                )
            token = self._token(ctx, online[-1])
        method = online[-1].method if online else PaymentMethod.CARD
        made, answer = self._authorize(ctx, command, order, method, extra, token, at)
        if answer.outcome is GatewayOutcome.DECLINED:
            why = f"the extra payment of {extra} was declined ({_decline_text(answer)})"
            order.decline_change(command.change_id, at=at, reason=why)
            return _result(order, _first(payments), "payment_declined", why)
        if answer.outcome is not GatewayOutcome.APPROVED:
            self._add(ctx, order, made, token)
            made.cancel(reason=f"change {command.change_id!r} needs an approval at once", at=at)
            why = (
                f"the extra payment of {extra} was not approved at once ({answer.outcome.value}); "
                "the change stays proposed: confirm it with another payment_token, or decline it"
            )
            return _result(order, made, "payment_not_approved", why)
        self._record(ctx, order, made, token, answer, at)
        order.confirm_change(command.change_id, at=at)
        return _result(order, made, "confirmed", f"payment {made.id} collects {extra}")

    def _cash_on_delivery(
        self,
        ctx: Context,
        command: ConfirmOrderChange,
        order: Order,
        pending: ChangePreview,
        payments: list[Payment],
        at: datetime,
    ) -> ShopResult:
        """Void what is left of the COD payment and open one for what the carrier now collects."""
        figures = payment_figures(ctx.uow, order)
        total = pending.totals.total
        open_ = [
            p
            for p in payments
            if p.method is PaymentMethod.CASH_ON_DELIVERY
            and p.can("void_succeeded")
            and p.capturable.amount > 0
        ]
        if total == figures.secured or not open_:
            order.confirm_change(command.change_id, at=at)
            return _result(order, _first(payments), "confirmed", "no money moves")
        for payment in open_:
            payment.void_succeeded(at=at)
        notes = ""
        made: Payment | None = None
        collect = total - figures.kept
        if collect.amount > 0:
            made = Payment.create(
                id=self._payment_id(order, command),
                order_id=order.id,
                method=PaymentMethod.CASH_ON_DELIVERY,
                amount=collect,
                at=at,
            )
            made.authorize(amount=collect, at=at)
            self._add(ctx, order, made, "cash-on-delivery")
            notes = f"the carrier collects {collect} (payment {made.id})"
        elif collect.amount < 0:
            notes, _ = self._give_back(ctx, command, order, -collect)
        order.confirm_change(command.change_id, at=at)
        return _result(order, made or _first(payments), "confirmed", notes)

    # --- payments --------------------------------------------------------------------------

    @staticmethod
    def _payment_id(order: Order, command: ConfirmOrderChange) -> str:
        """A new payment's id, derived from the key so a repeated command asks for the same."""
        return f"{order.id}:{command.change_id}:{command.idempotency_key}"

    @staticmethod
    def _token(ctx: Context, payment: Payment) -> str:
        token = _records(ctx.uow).read_record(_TOKENS, payment.id)
        if not isinstance(token, str):
            raise InvalidInput(f"payment {payment.id!r} has no token on record; give one")
        return token

    def _authorize(
        self,
        ctx: Context,
        command: ConfirmOrderChange,
        order: Order,
        method: PaymentMethod,
        amount: Money,
        token: str,
        at: datetime,
    ) -> tuple[Payment, GatewayResult]:
        """Open a payment (not stored yet) and ask the gateway to authorise it."""
        made = Payment.create(
            id=self._payment_id(order, command),
            order_id=order.id,
            method=method,
            amount=amount,
            at=at,
        )
        answer = self.gateway.authorize(
            AuthorizeRequest(
                idempotency_key=f"{made.id}:authorize",
                payment_id=made.id,
                amount=amount,
                payment_method=token,
            )
        )
        return made, answer

    @staticmethod
    def _add(ctx: Context, order: Order, payment: Payment, token: str) -> None:
        records = _records(ctx.uow)
        ctx.uow.repository(Payment).add(payment)
        records.write_record(_TOKENS, payment.id, token)
        known = _payment_ids(ctx.uow, order.id)
        records.write_record(_ORDER_PAYMENTS, order.id, (*known, payment.id))

    def _record(
        self,
        ctx: Context,
        order: Order,
        payment: Payment,
        token: str,
        answer: GatewayResult,
        at: datetime,
    ) -> None:
        """Store ``payment`` with what the gateway answered (approved, action, or pending)."""
        self._add(ctx, order, payment, token)
        action = answer.action
        if answer.outcome is GatewayOutcome.APPROVED:
            payment.authorize(amount=answer.amount, at=at, provider_ref=answer.provider_ref)
        elif action is not None and payment.method is PaymentMethod.BANK_TRANSFER:
            payment.await_funds(virtual_account=action.reference, deadline=action.deadline, at=at)
            records = _records(ctx.uow)
            waiting = cast(tuple[str, ...], records.read_record(_AWAITING_FUNDS, "open") or ())
            records.write_record(_AWAITING_FUNDS, "open", (*waiting, payment.id))
        elif action is not None:
            payment.require_authentication(
                reference=action.reference, deadline=action.deadline, at=at
            )

    def _give_back(
        self, ctx: Context, command: ConfirmOrderChange, order: Order, amount: Money
    ) -> tuple[str, bool]:
        """Give ``amount`` back: holds first (newest first), then refunds in refund order.

        Returns what was done, in words, and whether any call was declined.
        """
        at = ctx.clock.now()
        key = command.idempotency_key
        payments = _payments(ctx.uow, order.id)
        left = amount
        notes: list[str] = []
        owed = False
        zero = Money(0, amount.currency)
        holds = [p for p in reversed(payments) if p.capturable.amount > 0 and p.can("request_void")]
        for payment in holds:
            if left <= zero:
                break
            ref = _ref(payment)
            held = payment.capturable
            if ref is None:  # held by the shop: nothing to ask anyone
                if held > left:
                    continue  # cash on delivery is replaced by its own handler
                payment.void_succeeded(at=at)
                notes.append(f"released {held} of {payment.id}")
                left = left - held
                continue
            if held > left:
                keep = held - left
                if not self._capture(payment, ref, f"{key}:{payment.id}:capture", keep, at):
                    notes.append(f"capture of {keep} of {payment.id} declined")
                    owed = True
                    continue
                notes.append(f"captured {keep} of {payment.id}")
            released = payment.capturable
            ok = self._void(payment, ref, f"{key}:{payment.id}:void", at)
            notes.append(f"{'voided' if ok else 'void declined for'} {released} of {payment.id}")
            owed = owed or not ok
            left = left - released if ok else left
        if left > zero:
            refundable = [p for p in payments if p.refundable.amount > 0]
            ordered = sorted(refundable, key=lambda p: p.method.is_shop_held)
            for payment in ordered:
                if left <= zero:
                    break
                part = min(payment.refundable, left)
                ok = self._refund(ctx.uow, payment, f"{key}:{payment.id}:refund", part, at)
                notes.append(
                    f"{'refunded' if ok else 'refund declined for'} {part} of {payment.id}"
                )
                owed = owed or not ok
                left = left - part
        if left > zero:
            notes.append(f"{left} could not be given back through the payments")
            owed = True
        return "; ".join(notes), owed

    def _capture(self, payment: Payment, ref: str, key: str, amount: Money, at: datetime) -> bool:
        copy.deepcopy(payment).request_capture(capture_id=key, amount=amount, at=at)
        answer = self.gateway.capture(
            CaptureRequest(
                idempotency_key=key, payment_id=payment.id, authorization_ref=ref, amount=amount
            )
        )
        if answer.outcome is GatewayOutcome.APPROVED:
            payment.capture_succeeded(
                capture_id=key, amount=amount, at=at, provider_ref=answer.provider_ref
            )
            return True
        payment.request_capture(capture_id=key, amount=amount, at=at)
        if answer.outcome is GatewayOutcome.DECLINED:
            payment.capture_failed(capture_id=key, reason=_decline_text(answer), at=at)
            return False
        return True

    def _void(self, payment: Payment, ref: str, key: str, at: datetime) -> bool:
        reason = "an order change gives the rest back"
        answer = self.gateway.void(
            VoidRequest(
                idempotency_key=key,
                payment_id=payment.id,
                authorization_ref=ref,
                amount=payment.capturable,
            )
        )
        if answer.outcome is GatewayOutcome.APPROVED:
            payment.void_succeeded(at=at)
            return True
        payment.request_void(reason=reason, at=at)
        if answer.outcome is GatewayOutcome.DECLINED:
            payment.void_failed(reason=_decline_text(answer), at=at)
            return False
        return True

    def _refund(
        self, uow: UnitOfWork, payment: Payment, key: str, amount: Money, at: datetime
    ) -> bool:
        ref = _ref(payment)
        copy.deepcopy(payment).request_refund(refund_id=key, amount=amount, at=at)
        if ref is None:  # a balance the shop holds: given back here, and to its account
            _refund_held(uow, payment, key, amount, at)
            return True
        answer = self.gateway.refund(
            RefundRequest(
                idempotency_key=key,
                payment_id=payment.id,
                authorization_ref=ref,
                amount=amount,
                reason="an order change lowered the total",
            )
        )
        payment.request_refund(refund_id=key, amount=amount, at=at)
        if answer.outcome is GatewayOutcome.APPROVED:
            payment.refund_succeeded(refund_id=key, at=at, provider_ref=answer.provider_ref)
            return True
        if answer.outcome is GatewayOutcome.DECLINED:
            payment.refund_failed(refund_id=key, reason=_decline_text(answer), at=at)
            return False
        return True


def _pending(order: Order, change_id: str) -> ChangePreview:
    """The order's pending change ``change_id``; `NotFound` names what is pending."""
    pending = order.pending_change
    if pending is None or pending.change.id != change_id:
        known = () if pending is None else (pending.change.id,)
        raise NotFound(f"pending change of order {order.id!r}", change_id, known)
    return pending
