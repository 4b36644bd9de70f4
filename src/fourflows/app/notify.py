"""Notification policies: the customer is told when an event concerns their order (資訊流).

`notification_policies` maps events to policies that render a
`fourflows.information.notifications.Notification` and hand it to a
`fourflows.ports.Notifier`:

| event | the customer is told |
| --- | --- |
| `OrderPlaced` | the order was received (訂單成立), its lines and total |
| `PaymentFailed` | the payment was declined: pay with another card or method |
| `PaymentFundsAwaited` | the virtual account to transfer to, the amount and the deadline |
| `OrderCanceled` | the order was canceled |
| `PaymentRefunded` | a refund was issued, and how much |
| `OrderShipped` | the order left, with what it holds |
| `OrderDelivered` | the order arrived |

The message bus runs each policy in its own unit of work after the event is
committed. A policy only reads (the order, the payment) and sends; it
changes nothing. If the notifier raises, the policy fails, the event stays in
the outbox and the next dispatch tries again; the notification id, derived
from the event, makes that retry harmless.

Guests (orders without a customer id) are told nothing. A policy also says
nothing that is no longer true when it runs late: no decline notice for an
order already canceled, no transfer instructions once the payment stopped
waiting for funds (paid, expired or canceled).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import tzinfo

from fourflows.app.handlers import Context
from fourflows.app.messagebus import Policy
from fourflows.cash.payment import Payment, PaymentFailed, PaymentFundsAwaited, PaymentRefunded
from fourflows.commerce.order import (
    Order,
    OrderCanceled,
    OrderDelivered,
    OrderPlaced,
    OrderShipped,
)
from fourflows.errors import InvalidInput
from fourflows.events import DomainEvent
from fourflows.information.notifications import (
    LOCALES,
    Notification,
    order_canceled,
    order_confirmed,
    order_delivered,
    order_shipped,
    payment_declined,
    refund_issued,
    transfer_instructions,
)
from fourflows.ports import Notifier

__all__ = ["merge_policies", "notification_policies"]


def notification_policies(
    notifier: Notifier, *, locale: str = "en", tz: tzinfo | None = None
) -> Mapping[type[DomainEvent], Sequence[Policy]]:
    """The policies that tell customers about their orders through ``notifier``.

    Notifications are written in ``locale`` (``en`` or ``zh_TW``); a transfer
    deadline is shown in ``tz`` (default: Taiwan time for ``zh_TW``, UTC for
    ``en``). Merge the result with the shop's other policies (`merge_policies`).
    """
    if not callable(getattr(notifier, "send", None)):
        raise InvalidInput(f"notifier must be a Notifier with a send method, not {notifier!r}")
    if not isinstance(locale, str) or locale not in LOCALES:
        raise InvalidInput(f"notifications are written in {', '.join(LOCALES)}, not {locale!r}")
    if tz is not None and not isinstance(tz, tzinfo):
        raise InvalidInput(f"tz must be a tzinfo such as TAIWAN_TIME or UTC, not {tz!r}")

    def send(notification: Notification | None) -> None:
        if notification is not None:
            notifier.send(notification)

    def tell_order_confirmed(event: OrderPlaced, ctx: Context) -> None:
        send(order_confirmed(event, locale=locale))

    def tell_payment_declined(event: PaymentFailed, ctx: Context) -> None:
        order = ctx.uow.repository(Order).get(event.order_id)
        if order.state == "canceled":
            return  # "pay another way" would be wrong now; the cancel notice says what happened
        send(payment_declined(event, order, locale=locale))

    def tell_transfer_instructions(event: PaymentFundsAwaited, ctx: Context) -> None:
        payment = ctx.uow.repository(Payment).get(event.aggregate_id)
        if payment.state != "requires_action":
            return  # the funds arrived, or the transfer expired or was canceled: too late
        order = ctx.uow.repository(Order).get(event.order_id)
        send(transfer_instructions(event, order, amount=payment.amount, locale=locale, tz=tz))

    def tell_order_canceled(event: OrderCanceled, ctx: Context) -> None:
        order = ctx.uow.repository(Order).get(event.aggregate_id)
        send(order_canceled(event, order, locale=locale))

    def tell_refund_issued(event: PaymentRefunded, ctx: Context) -> None:
        order = ctx.uow.repository(Order).get(event.order_id)
        send(refund_issued(event, order, locale=locale))

    def tell_order_shipped(event: OrderShipped, ctx: Context) -> None:
        order = ctx.uow.repository(Order).get(event.aggregate_id)
        send(order_shipped(event, order, locale=locale))

    def tell_order_delivered(event: OrderDelivered, ctx: Context) -> None:
        order = ctx.uow.repository(Order).get(event.aggregate_id)
        send(order_delivered(event, order, locale=locale))

    return {
        OrderPlaced: (tell_order_confirmed,),
        PaymentFailed: (tell_payment_declined,),
        PaymentFundsAwaited: (tell_transfer_instructions,),
        OrderCanceled: (tell_order_canceled,),
        PaymentRefunded: (tell_refund_issued,),
        OrderShipped: (tell_order_shipped,),
        OrderDelivered: (tell_order_delivered,),
    }


def merge_policies(
    *tables: Mapping[type[DomainEvent], Sequence[Policy]],
) -> dict[type[DomainEvent], tuple[Policy, ...]]:
    """Join policy tables: each event keeps every table's policies, in the order given.

    The bus tells an event's consumers apart by their module and qualified
    name, so two policies of the same name for one event (the same table
    merged twice, or two notifiers' tables on one bus) raise `InvalidInput`:
    the second would be taken for the first and never run.

    >>> from fourflows.app.checkout import POLICIES
    >>> from fourflows.adapters.fakes import RecordingNotifier
    >>> merged = merge_policies(POLICIES, notification_policies(RecordingNotifier()))
    >>> [p.__name__ for p in merged[PaymentFailed]]
    ['hold_order_when_payment_fails', 'tell_payment_declined']
    """
    merged: dict[type[DomainEvent], tuple[Policy, ...]] = {}
    for table in tables:
        if not isinstance(table, Mapping):
            raise InvalidInput(f"a policy table maps event types to policies, not {table!r}")
        for kind, policies in table.items():
            joined = (*merged.get(kind, ()), *policies)
            names = [_name(policy) for policy in joined]
            twice = sorted({name for name in names if names.count(name) > 1})
            if twice:
                raise InvalidInput(
                    f"{kind.__name__} would have two policies named {', '.join(twice)}; "
                    "the bus tells policies apart by name, so give each its own bus or name"
                )
            merged[kind] = joined
    return merged


def _name(policy: Policy) -> str:
    """The name the message bus knows a policy by."""
    module = getattr(policy, "__module__", "")
    name = getattr(policy, "__qualname__", type(policy).__qualname__)
    return f"{module}.{name}"
