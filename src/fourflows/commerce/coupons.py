"""Coupons: codes that unlock a promotion, and why a code cannot be used.

A `Coupon` is a code a customer types (``SPRING10``) that unlocks one
promotion (``promotion_id``), which must be declared with
``requires_coupon=True``. Codes are compared case-insensitively: they are kept
upper-cased and stripped.

Pricing is pure, so how often a code was used comes in as a snapshot,
`CouponUsage`: total uses per code and uses per (code, customer id). Record a
use with `CouponUsage.record` once the order is placed, not when it is quoted.

A code that cannot be used does not fail the quote: `apply_promotions` reports
it as a `CouponRejection` with a machine-readable `CouponRejectReason` and an
English message, and prices the rest of the cart as if the code was not given.

`Eligibility` holds the conditions that promotions and coupons share: a
validity window, channels, member tiers, customer groups and first order only.
"""

from __future__ import annotations

import enum
import types
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs

from fourflows._sets import enum_set, name_set
from fourflows.commerce.cart import Channel, PricingContext
from fourflows.errors import InvalidInput
from fourflows.events import require_aware
from fourflows.money import Money

__all__ = [
    "Coupon",
    "CouponRejectReason",
    "CouponRejection",
    "CouponUsage",
    "Eligibility",
    "coupon_code",
]


class CouponRejectReason(enum.Enum):
    """Why a coupon code could not be used; the value is a stable machine-readable code."""

    UNKNOWN_CODE = "unknown_code"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    NOT_ELIGIBLE_CHANNEL = "not_eligible_channel"
    NOT_ELIGIBLE_CUSTOMER = "not_eligible_customer"
    FIRST_ORDER_ONLY = "first_order_only"
    USAGE_LIMIT_REACHED = "usage_limit_reached"
    PER_CUSTOMER_LIMIT_REACHED = "per_customer_limit_reached"
    MIN_SPEND_NOT_MET = "min_spend_not_met"
    NOT_COMBINABLE = "not_combinable"
    NOT_APPLICABLE = "not_applicable"


@attrs.frozen(kw_only=True)
class CouponRejection:
    """A code that was entered but not used: ``reason_code`` says why, ``message`` in English."""

    code: str
    reason_code: CouponRejectReason
    message: str


def coupon_code(value: object) -> str:
    """``value`` as a coupon code: stripped and upper-cased; `InvalidInput` if blank or not text."""
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > 64:
        raise InvalidInput(
            f"a coupon code must be a non-empty string of at most 64 characters, not {value!r}"
        )
    return value.strip().upper()


def _optional_aware(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        require_aware(value, attribute.name)


def _ends_after_start(
    instance: Eligibility, attribute: attrs.Attribute[Any], value: datetime | None
) -> None:
    _optional_aware(instance, attribute, value)
    if value is not None and instance.starts_at is not None and value <= instance.starts_at:
        raise InvalidInput(
            f"ends_at {value.isoformat()} must be after starts_at {instance.starts_at.isoformat()}"
        )


def _channels(value: Iterable[Channel | str]) -> frozenset[Channel]:
    return enum_set(Channel, value, "channel")


def _names(value: Iterable[str]) -> frozenset[str]:
    return name_set(value, "a name")


def _flag(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidInput(f"{attribute.name} must be True or False, not {value!r}")


def _optional_count(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise InvalidInput(
            f"{attribute.name} must be None or a whole number 0 or more, not {value!r}"
        )


def _optional_positive_money(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, Money) or value.amount <= 0:
        raise InvalidInput(f"{attribute.name} must be None or Money above 0, not {value!r}")
    value.get_amount_in_sub_unit()  # whole minor units only


@attrs.frozen(kw_only=True)
class Eligibility:
    """Who may use a promotion or coupon, where and when.

    The window is ``starts_at <= at < ends_at`` (either end may be open), in
    timezone-aware datetimes. An empty set of ``channels``, ``member_tiers`` or
    ``customer_groups`` means any; otherwise the customer's channel and tier
    must be listed and the customer must belong to at least one listed group.
    ``first_order_only`` requires ``Customer.first_order``.
    """

    starts_at: datetime | None = attrs.field(default=None, validator=_optional_aware)
    ends_at: datetime | None = attrs.field(default=None, validator=_ends_after_start)
    channels: frozenset[Channel] = attrs.field(default=frozenset(), converter=_channels)
    member_tiers: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    customer_groups: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    first_order_only: bool = attrs.field(default=False, validator=_flag)

    def refusal(
        self, context: PricingContext, *, subject: str = "this offer"
    ) -> tuple[CouponRejectReason, str] | None:
        """Why ``context`` is not eligible (reason and English message), or None if it is."""
        at = context.at
        customer = context.customer
        if self.starts_at is not None and at < self.starts_at:
            return (
                CouponRejectReason.NOT_YET_VALID,
                f"{subject} is not valid before {self.starts_at.isoformat()}",
            )
        if self.ends_at is not None and at >= self.ends_at:
            return (
                CouponRejectReason.EXPIRED,
                f"{subject} expired at {self.ends_at.isoformat()}",
            )
        if self.channels and context.channel not in self.channels:
            listed = ", ".join(sorted(c.value for c in self.channels))
            return (
                CouponRejectReason.NOT_ELIGIBLE_CHANNEL,
                f"{subject} is only for the {listed} channel(s), not {context.channel.value}",
            )
        if self.member_tiers and customer.tier not in self.member_tiers:
            listed = ", ".join(sorted(self.member_tiers))
            return (
                CouponRejectReason.NOT_ELIGIBLE_CUSTOMER,
                f"{subject} is only for members of tier {listed}",
            )
        if self.customer_groups and not self.customer_groups & customer.groups:
            listed = ", ".join(sorted(self.customer_groups))
            return (
                CouponRejectReason.NOT_ELIGIBLE_CUSTOMER,
                f"{subject} is only for customers in group {listed}",
            )
        if self.first_order_only and not customer.first_order:
            return (CouponRejectReason.FIRST_ORDER_ONLY, f"{subject} is for a first order only")
        return None

    def is_eligible(self, context: PricingContext) -> bool:
        """Whether ``context`` (time, channel, customer) meets every condition."""
        return self.refusal(context) is None


@attrs.frozen(kw_only=True)
class Coupon(Eligibility):
    """A code that unlocks the promotion ``promotion_id``.

    Besides the `Eligibility` conditions: ``customer_ids`` names the only
    customers who may use it (empty: anyone); ``usage_limit`` caps the uses
    of the code by everyone, ``per_customer_limit`` the uses by one customer
    (a guest without an id cannot use a coupon with a per-customer limit);
    ``min_spend`` is checked against what the unlocked promotion targets,
    after the discounts that ran before it.
    """

    code: str = attrs.field(converter=coupon_code)
    promotion_id: str = attrs.field()
    customer_ids: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    usage_limit: int | None = attrs.field(default=None, validator=_optional_count)
    per_customer_limit: int | None = attrs.field(default=None, validator=_optional_count)
    min_spend: Money | None = attrs.field(default=None, validator=_optional_positive_money)

    @promotion_id.validator
    def _check_promotion_id(self, _: object, value: object) -> None:
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(f"promotion_id must be a non-empty string, not {value!r}")

    def rejection(
        self, context: PricingContext, usage: CouponUsage | None = None
    ) -> CouponRejection | None:
        """Why this coupon cannot be used in ``context`` given ``usage``, or None if it can.

        Checks, in this order: the window, the channel, the customer (named
        customers, tier, group), first order, the usage limit, the
        per-customer limit. The minimum spend depends on the cart and is
        checked by `apply_promotions`.
        """
        usage = usage if usage is not None else CouponUsage()
        subject = f"Coupon {self.code}"
        refused = self.refusal(context, subject=subject)
        customer_id = context.customer.id
        if refused is None and self.customer_ids and customer_id not in self.customer_ids:
            refused = (
                CouponRejectReason.NOT_ELIGIBLE_CUSTOMER,
                f"{subject} is reserved for named customers",
            )
        if refused is None and self.usage_limit is not None:
            used = usage.uses_of(self.code)
            if used >= self.usage_limit:
                refused = (
                    CouponRejectReason.USAGE_LIMIT_REACHED,
                    f"{subject} has reached its usage limit of {self.usage_limit}",
                )
        if refused is None and self.per_customer_limit is not None:
            if customer_id is None:
                refused = (
                    CouponRejectReason.NOT_ELIGIBLE_CUSTOMER,
                    f"{subject} needs a signed-in customer",
                )
            elif (used := usage.uses_by(self.code, customer_id)) >= self.per_customer_limit:
                refused = (
                    CouponRejectReason.PER_CUSTOMER_LIMIT_REACHED,
                    f"{subject} is limited to {_times(self.per_customer_limit)} per customer, "
                    f"and you have used it {_times(used)}",
                )
        if refused is None:
            return None
        reason, message = refused
        return CouponRejection(code=self.code, reason_code=reason, message=message)


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{what} must be a whole number 0 or more, not {value!r}")
    return value


def _uses(value: Mapping[str, int]) -> Mapping[str, int]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"uses must map coupon codes to counts, not {value!r}")
    counts: dict[str, int] = {}
    for code, count in value.items():
        key = coupon_code(code)
        counts[key] = counts.get(key, 0) + _count(count, f"the uses of coupon {code!r}")
    return types.MappingProxyType(counts)


def _customer_uses(value: Mapping[tuple[str, str], int]) -> Mapping[tuple[str, str], int]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"customer_uses must map (code, customer id) to counts, not {value!r}")
    counts: dict[tuple[str, str], int] = {}
    for pair, count in value.items():
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[1], str)):
            raise InvalidInput(
                f"customer_uses keys must be (code, customer id) pairs of strings, not {pair!r}"
            )
        key = (coupon_code(pair[0]), pair[1])
        counts[key] = counts.get(key, 0) + _count(count, f"the uses of coupon {pair!r}")
    return types.MappingProxyType(counts)


@attrs.frozen(kw_only=True)
class CouponUsage:
    """How often coupons were used so far: a snapshot passed in, since pricing is pure.

    ``uses`` maps a code to its total uses; ``customer_uses`` maps
    ``(code, customer id)`` to that customer's uses. Missing entries are 0.
    """

    uses: Mapping[str, int] = attrs.field(factory=dict, converter=_uses, hash=False)
    customer_uses: Mapping[tuple[str, str], int] = attrs.field(
        factory=dict, converter=_customer_uses, hash=False
    )

    def uses_of(self, code: str) -> int:
        """Total uses of ``code``."""
        return self.uses.get(coupon_code(code), 0)

    def uses_by(self, code: str, customer_id: str) -> int:
        """Uses of ``code`` by the customer ``customer_id``."""
        return self.customer_uses.get((coupon_code(code), customer_id), 0)

    def record(self, code: str, customer_id: str | None = None) -> CouponUsage:
        """A new snapshot with one more use of ``code`` (by ``customer_id`` when given)."""
        key = coupon_code(code)
        uses = dict(self.uses)
        uses[key] = uses.get(key, 0) + 1
        customer_uses = dict(self.customer_uses)
        if customer_id is not None:
            pair = (key, customer_id)
            customer_uses[pair] = customer_uses.get(pair, 0) + 1
        return CouponUsage(uses=uses, customer_uses=customer_uses)
