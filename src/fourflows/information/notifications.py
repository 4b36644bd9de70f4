"""Customer notifications: what a customer is told when something happens to their order.

Each renderer turns one domain event into a `Notification` in one locale
(English ``en`` or Traditional Chinese ``zh_TW``): a subject, a body, and the
structured data a channel may want (the amount, a virtual account and its
deadline, a shipment id). Renderers are pure: they read only what they are
given. When the event does not carry enough (a payment event names only its
order), they also take the order.

| kind | rendered from | by |
| --- | --- | --- |
| order_confirmed | `OrderPlaced` | `order_confirmed` |
| payment_declined | `PaymentFailed` | `payment_declined` (and the order) |
| transfer_instructions | `PaymentFundsAwaited` | `transfer_instructions` (and the order) |
| order_canceled | `OrderCanceled` | `order_canceled` (and the order) |
| refund_issued | `PaymentRefunded` | `refund_issued` (and the order) |
| order_shipped | `OrderShipped` | `order_shipped` (and the order) |
| order_delivered | `OrderDelivered` | `order_delivered` (and the order) |

**Guests are not told.** An order placed without a customer id (guest
checkout) has nobody to address: every renderer returns ``None`` for it.

**One event, one notification.** A notification's id is
``<kind>:<aggregate id>:<sequence>`` of the event it tells about
(`notification_id`), the same however often the event is delivered, so a
`fourflows.ports.Notifier` that sends each id once never tells a customer
twice.

**Money** is shown with `fourflows.money.format_money` in the locale, in whole
units when the amount has no smaller part at the currency's cash precision
(``$1,280``, not ``$1,280.00``), else to the minor unit, so an amount is never
shown rounded. **Times** (a transfer deadline) are shown in ``tz``; by
default Taiwan time (GMT+8, no daylight saving) for ``zh_TW`` and UTC for
``en``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

import attrs

from fourflows.cash.gateway import DeclineReason
from fourflows.cash.payment import PaymentFailed, PaymentFundsAwaited, PaymentRefunded
from fourflows.commerce.order import (
    LineQuantity,
    Order,
    OrderCanceled,
    OrderDelivered,
    OrderPlaced,
    OrderShipped,
)
from fourflows.errors import CurrencyMismatch, InvalidInput
from fourflows.events import DomainEvent, aware, require_aware
from fourflows.money import Money, Precision, format_money, round_money

__all__ = [
    "LOCALES",
    "TAIWAN_TIME",
    "Notification",
    "NotificationKind",
    "notification_id",
    "order_canceled",
    "order_confirmed",
    "order_delivered",
    "order_shipped",
    "payment_declined",
    "refund_issued",
    "transfer_instructions",
]

LOCALES = ("en", "zh_TW")
"""The locales notifications are written in."""

TAIWAN_TIME = timezone(timedelta(hours=8), "GMT+8")
"""Taiwan's time zone (UTC+8 all year): the default for ``zh_TW`` notifications."""

_DEFAULT_TZ: dict[str, tzinfo] = {"en": UTC, "zh_TW": TAIWAN_TIME}


class NotificationKind(enum.Enum):
    """What a notification tells the customer."""

    ORDER_CONFIRMED = "order_confirmed"
    """The order was received (訂單成立)."""
    PAYMENT_DECLINED = "payment_declined"
    """The payment was declined: pay with another card or method."""
    TRANSFER_INSTRUCTIONS = "transfer_instructions"
    """Pay into this virtual account before the deadline (ATM 轉帳)."""
    ORDER_CANCELED = "order_canceled"
    """The order was canceled."""
    REFUND_ISSUED = "refund_issued"
    """Money went back to the payment method."""
    ORDER_SHIPPED = "order_shipped"
    """The last units of the order left the warehouse."""
    ORDER_DELIVERED = "order_delivered"
    """The last units of the order arrived."""


# --- validation --------------------------------------------------------------------------------


def _kind(value: object) -> NotificationKind:
    try:
        return NotificationKind(value)
    except ValueError:
        allowed = ", ".join(kind.value for kind in NotificationKind)
        raise InvalidInput(f"unknown notification kind {value!r}; allowed: {allowed}") from None


def _check_locale(value: object) -> str:
    if not isinstance(value, str) or value not in LOCALES:
        raise InvalidInput(f"notifications are written in {', '.join(LOCALES)}, not {value!r}")
    return value


def _locale(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _check_locale(value)


def _check_tz(value: object, locale: str) -> tzinfo:
    if value is None:
        return _DEFAULT_TZ[locale]
    if not isinstance(value, tzinfo):
        raise InvalidInput(f"tz must be a tzinfo such as TAIWAN_TIME or UTC, not {value!r}")
    return value


def _text(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{attribute.name} must be a non-empty string, not {value!r}")


def _optional_text(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _text(instance, attribute, value)


def _optional_money(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, Money):
        raise InvalidInput(f"{attribute.name} must be Money or None, not {value!r}")


def _optional_aware(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        aware(instance, attribute, value)  # type: ignore[arg-type]


def _items(value: Iterable[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    items = tuple(value)
    for item in items:
        ok = isinstance(item, tuple) and len(item) == 2
        if not ok or not isinstance(item[0], str) or not item[0].strip():
            raise InvalidInput(f"an item is a (name, quantity) pair, not {item!r}")
        quantity = item[1]
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise InvalidInput(f"the quantity of {item[0]!r} must be an int of at least 1")
    return items


@attrs.frozen(kw_only=True)
class Notification:
    """A message for one customer about one event, ready for a channel to send.

    ``id`` is the idempotency key (see `notification_id`); ``subject`` and
    ``body`` are the text in ``locale``. The other fields are the structured
    data a channel may need (an SMS template, a LINE message with a button):
    ``amount`` (the order total, the sum to transfer, the refund),
    ``virtual_account`` and ``deadline`` for a bank transfer, ``shipment_id``,
    ``reason`` (the decline code, e.g. ``insufficient_funds``) and ``items``
    as (name, quantity) pairs. ``occurred_at`` is when the event happened.
    """

    id: str = attrs.field(validator=_text)
    kind: NotificationKind = attrs.field(converter=_kind)
    customer_id: str = attrs.field(validator=_text)
    order_id: str = attrs.field(validator=_text)
    locale: str = attrs.field(validator=_locale)
    subject: str = attrs.field(validator=_text)
    body: str = attrs.field(validator=_text)
    occurred_at: datetime = attrs.field(validator=aware)
    amount: Money | None = attrs.field(default=None, validator=_optional_money)
    virtual_account: str | None = attrs.field(default=None, validator=_optional_text)
    deadline: datetime | None = attrs.field(default=None, validator=_optional_aware)
    shipment_id: str | None = attrs.field(default=None, validator=_optional_text)
    reason: str | None = attrs.field(default=None, validator=_optional_text)
    items: tuple[tuple[str, int], ...] = attrs.field(default=(), converter=_items)


def notification_id(event: DomainEvent, kind: NotificationKind | str) -> str:
    """The id of the notification of ``kind`` about ``event``: ``kind:aggregate_id:sequence``.

    >>> from datetime import datetime, timezone
    >>> from fourflows.cash.payment import PaymentFailed
    >>> failed = PaymentFailed(aggregate_id="payment-1", sequence=2, order_id="order-1",
    ...     occurred_at=datetime(2026, 11, 20, tzinfo=timezone.utc), reason="declined")
    >>> notification_id(failed, "payment_declined")
    'payment_declined:payment-1:2'
    """
    if not isinstance(event, DomainEvent):
        raise InvalidInput(f"a notification id is derived from a DomainEvent, not {event!r}")
    return f"{_kind(kind).value}:{event.aggregate_id}:{event.sequence}"


# --- showing values ----------------------------------------------------------------------------


def _show(value: Money, locale: str) -> str:
    """``value`` in ``locale``: in whole cash units when that loses nothing, else minor units."""
    exact = round_money(value, Precision.cash(value.currency)) == value
    return format_money(value, locale, cash=exact)


def _when(at: datetime, locale: str, tz: tzinfo) -> str:
    local = at.astimezone(tz)
    label = local.tzname() or "UTC"
    if locale == "zh_TW":
        return f"{local:%Y/%m/%d %H:%M}（{label}）"
    return f"{local:%Y-%m-%d %H:%M} {label}"


def _listing(items: Iterable[tuple[str, int]], locale: str) -> str:
    if locale == "zh_TW":
        return "\n".join(f"・{name} × {quantity}" for name, quantity in items)
    return "\n".join(f"- {quantity} × {name}" for name, quantity in items)


def _check_event(event: object, kind: type[DomainEvent]) -> None:
    if not isinstance(event, kind):
        raise InvalidInput(f"expected a {kind.__name__} event, not {event!r}")


def _check_order(order: object, order_id: str) -> Order:
    if not isinstance(order, Order):
        raise InvalidInput(f"expected the Order {order_id!r}, not {order!r}")
    if order.id != order_id:
        raise InvalidInput(f"the event is about order {order_id!r}, not {order.id!r}")
    return order


def _named(order: Order, items: Iterable[LineQuantity]) -> tuple[tuple[str, int], ...]:
    return tuple((order.lines[item.line].name, item.quantity) for item in items)


def _made(
    event: DomainEvent,
    kind: NotificationKind,
    *,
    customer_id: str,
    order_id: str,
    locale: str,
    subject: str,
    body: str,
    **data: Any,
) -> Notification:
    return Notification(
        id=notification_id(event, kind),
        kind=kind,
        customer_id=customer_id,
        order_id=order_id,
        locale=locale,
        subject=subject,
        body=body,
        occurred_at=event.occurred_at,
        **data,
    )


# --- the renderers -----------------------------------------------------------------------------


def order_confirmed(event: OrderPlaced, *, locale: str = "en") -> Notification | None:
    """The order was received: its lines and total (cash on delivery: have the cash ready)."""
    locale = _check_locale(locale)
    _check_event(event, OrderPlaced)
    if event.customer_id is None:
        return None
    order_id = event.aggregate_id
    total = _show(event.total, locale)
    items = tuple((line.name, line.quantity) for line in event.lines)
    cod = event.payment_plan == "cash_on_delivery"
    if locale == "zh_TW":
        lines = "\n".join(
            f"・{line.name} × {line.quantity}　{_show(line.total, locale)}" for line in event.lines
        )
        subject = f"訂單成立通知：{order_id}"
        body = f"感謝您的訂購！訂單 {order_id} 已成立。\n\n{lines}\n訂單金額：{total}\n\n"
        body += f"本訂單為貨到付款，收貨時請準備 {total}。\n" if cod else ""
        body += "商品出貨時會再通知您。"
    else:
        lines = "\n".join(
            f"- {line.quantity} × {line.name}: {_show(line.total, locale)}" for line in event.lines
        )
        subject = f"We received your order {order_id}"
        body = f"Thank you for your order {order_id}.\n\n{lines}\nTotal: {total}\n\n"
        body += f"You pay {total} in cash on delivery.\n" if cod else ""
        body += "We will tell you when it ships."
    return _made(
        event,
        NotificationKind.ORDER_CONFIRMED,
        customer_id=event.customer_id,
        order_id=order_id,
        locale=locale,
        subject=subject,
        body=body,
        amount=event.total,
        items=items,
    )


_DECLINE_TEXT: dict[DeclineReason, tuple[str, str]] = {
    DeclineReason.INSUFFICIENT_FUNDS: (
        "the card has not enough funds or credit left",
        "卡片餘額或信用額度不足",
    ),
    DeclineReason.EXPIRED_CARD: ("the card has expired", "卡片已過期"),
    DeclineReason.INVALID_DETAILS: ("the card details were not accepted", "卡片資料有誤"),
    DeclineReason.AUTHENTICATION_FAILED: (
        "the card verification (3-D Secure) was not completed",
        "未完成 3D 驗證",
    ),
}
_DECLINED = ("your bank or payment provider declined it", "發卡銀行或支付業者拒絕了這筆交易")


def _decline(reason: str) -> DeclineReason:
    """The decline code at the start of ``reason`` (``insufficient_funds: ...``), else DECLINED."""
    code = reason.split(":", 1)[0].strip()
    try:
        return DeclineReason(code)
    except ValueError:
        return DeclineReason.DECLINED


def payment_declined(
    event: PaymentFailed, order: Order, *, locale: str = "en"
) -> Notification | None:
    """The payment was declined: why, in the customer's words, and to pay another way.

    A decline the customer can act on (not enough funds, an expired card,
    wrong details, unfinished 3-D Secure) is named; any other (including a
    suspected fraud, which is never told) reads "declined by your bank".
    ``reason`` in the notification is the code told (``declined`` for the rest).
    """
    locale = _check_locale(locale)
    _check_event(event, PaymentFailed)
    order = _check_order(order, event.order_id)
    if order.customer_id is None:
        return None
    code = _decline(event.reason)
    if code not in _DECLINE_TEXT:
        code = DeclineReason.DECLINED  # not one the customer can act on (or fraud): not told
    english, chinese = _DECLINE_TEXT.get(code, _DECLINED)
    total = _show(order.totals.total, locale)
    if locale == "zh_TW":
        subject = f"訂單 {order.id} 付款未成功"
        body = (
            f"您的訂單 {order.id}（金額 {total}）付款未成功：{chinese}。\n\n"
            "訂單已為您保留，請改用其他信用卡或付款方式完成付款。"
        )
    else:
        subject = f"Payment for order {order.id} was declined"
        body = (
            f"We could not take the payment for your order {order.id} ({total}): {english}.\n\n"
            "Your order is on hold for you: please pay with another card or payment method."
        )
    return _made(
        event,
        NotificationKind.PAYMENT_DECLINED,
        customer_id=order.customer_id,
        order_id=order.id,
        locale=locale,
        subject=subject,
        body=body,
        amount=order.totals.total,
        reason=code.value,
    )


def transfer_instructions(
    event: PaymentFundsAwaited,
    order: Order,
    *,
    amount: Money | None = None,
    locale: str = "en",
    tz: tzinfo | None = None,
) -> Notification | None:
    """Pay ``amount`` into the virtual account before the deadline (shown in ``tz``).

    ``amount`` is what the transfer must cover; it defaults to the order
    total (a bank transfer pays the whole order).
    """
    locale = _check_locale(locale)
    zone = _check_tz(tz, locale)
    _check_event(event, PaymentFundsAwaited)
    order = _check_order(order, event.order_id)
    if amount is None:
        amount = order.totals.total
    if not isinstance(amount, Money) or amount.amount <= 0:
        raise InvalidInput(f"the amount to transfer must be positive Money, not {amount!r}")
    if amount.code != order.currency:
        raise CurrencyMismatch(order.currency, amount.code, "ask for a transfer")
    if order.customer_id is None:
        return None
    deadline = require_aware(event.deadline, "the transfer deadline")
    due = _when(deadline, locale, zone)
    shown = _show(amount, locale)
    account = event.virtual_account
    if locale == "zh_TW":
        subject = f"訂單 {order.id} ATM 轉帳繳費資訊"
        body = (
            f"感謝您的訂購！請於 {due}前，將 {shown} 轉入以下虛擬帳號：\n\n"
            f"虛擬帳號：{account}\n繳費金額：{shown}\n\n"
            "逾期未付款，訂單將自動取消。"
        )
    else:
        subject = f"How to pay for order {order.id} by bank transfer"
        body = (
            f"Thank you for your order. Please transfer {shown} to this virtual account "
            f"by {due}:\n\nVirtual account: {account}\nAmount: {shown}\n\n"
            "If the money has not arrived by then, the order is canceled."
        )
    return _made(
        event,
        NotificationKind.TRANSFER_INSTRUCTIONS,
        customer_id=order.customer_id,
        order_id=order.id,
        locale=locale,
        subject=subject,
        body=body,
        amount=amount,
        virtual_account=account,
        deadline=deadline,
    )


def order_canceled(
    event: OrderCanceled, order: Order, *, locale: str = "en"
) -> Notification | None:
    """The order was canceled; money paid goes back (its own notice says when).

    The cancellation's ``reason`` is the shop's own note and is not shown.
    """
    locale = _check_locale(locale)
    _check_event(event, OrderCanceled)
    order = _check_order(order, event.aggregate_id)
    if order.customer_id is None:
        return None
    if locale == "zh_TW":
        subject = f"訂單 {order.id} 已取消"
        body = (
            f"您的訂單 {order.id} 已取消。\n\n"
            "若您已付款，款項將退回原付款方式，退款完成時會再通知您。"
        )
    else:
        subject = f"Your order {order.id} was canceled"
        body = (
            f"Your order {order.id} has been canceled.\n\n"
            "If you paid for it, the money goes back to the way you paid; "
            "we will tell you when the refund is issued."
        )
    return _made(
        event,
        NotificationKind.ORDER_CANCELED,
        customer_id=order.customer_id,
        order_id=order.id,
        locale=locale,
        subject=subject,
        body=body,
    )


def refund_issued(
    event: PaymentRefunded, order: Order, *, locale: str = "en"
) -> Notification | None:
    """A refund of the event's amount went back to the way the customer paid."""
    locale = _check_locale(locale)
    _check_event(event, PaymentRefunded)
    order = _check_order(order, event.order_id)
    if order.customer_id is None:
        return None
    shown = _show(event.amount, locale)
    if locale == "zh_TW":
        subject = f"訂單 {order.id} 退款通知"
        body = (
            f"訂單 {order.id} 的退款 {shown} 已退回您的原付款方式。\n\n"
            "實際入帳時間依發卡銀行或支付業者作業而定。"
        )
    else:
        subject = f"Refund of {shown} for order {order.id}"
        body = (
            f"We refunded {shown} for your order {order.id} to the way you paid.\n\n"
            "Your bank or payment provider may take a few days to show it."
        )
    return _made(
        event,
        NotificationKind.REFUND_ISSUED,
        customer_id=order.customer_id,
        order_id=order.id,
        locale=locale,
        subject=subject,
        body=body,
        amount=event.amount,
    )


def order_shipped(event: OrderShipped, order: Order, *, locale: str = "en") -> Notification | None:
    """The last shipment of the order left: what it holds and how it travels."""
    locale = _check_locale(locale)
    _check_event(event, OrderShipped)
    order = _check_order(order, event.aggregate_id)
    if order.customer_id is None:
        return None
    items = _named(order, event.items)
    listing = _listing(items, locale)
    service = None if order.shipping is None else order.shipping.name
    if locale == "zh_TW":
        subject = f"訂單 {order.id} 已出貨"
        body = f"您的訂單 {order.id} 已出貨（貨件 {event.shipment_id}）：\n\n{listing}"
        body += f"\n\n配送方式：{service}" if service else ""
    else:
        subject = f"Your order {order.id} has shipped"
        body = f"Your order {order.id} is on its way (shipment {event.shipment_id}):\n\n{listing}"
        body += f"\n\nShipping: {service}" if service else ""
    return _made(
        event,
        NotificationKind.ORDER_SHIPPED,
        customer_id=order.customer_id,
        order_id=order.id,
        locale=locale,
        subject=subject,
        body=body,
        shipment_id=event.shipment_id,
        items=items,
    )


def order_delivered(
    event: OrderDelivered, order: Order, *, locale: str = "en"
) -> Notification | None:
    """The last shipment of the order arrived."""
    locale = _check_locale(locale)
    _check_event(event, OrderDelivered)
    order = _check_order(order, event.aggregate_id)
    if order.customer_id is None:
        return None
    items = _named(order, event.items)
    listing = _listing(items, locale)
    if locale == "zh_TW":
        subject = f"訂單 {order.id} 已送達"
        body = (
            f"您的訂單 {order.id} 已送達（貨件 {event.shipment_id}）：\n\n{listing}\n\n"
            "感謝您的購買！收到商品後享有七天鑑賞期，如有任何問題，歡迎與我們聯繫。"
        )
    else:
        subject = f"Your order {order.id} was delivered"
        body = (
            f"Your order {order.id} was delivered (shipment {event.shipment_id}):\n\n"
            f"{listing}\n\nThank you for shopping with us. If anything is wrong, tell us."
        )
    return _made(
        event,
        NotificationKind.ORDER_DELIVERED,
        customer_id=order.customer_id,
        order_id=order.id,
        locale=locale,
        subject=subject,
        body=body,
        shipment_id=event.shipment_id,
        items=items,
    )
