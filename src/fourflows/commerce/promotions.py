"""Promotions: markdowns, item and cart discounts, free shipping, and how they stack.

`apply_promotions` takes a cart, the pricing context and the shop's
promotions (and the coupon codes the customer entered) and returns a
`PromotionResult`: every line with the net price each unit actually pays,
every adjustment with its reason, the free-shipping offers won, and the coupon
codes that could not be used, with the reason why. It is pure: coupon usage
and flash-sale sales come in as snapshots.

Kinds and stages
----------------

Promotions run in four stages, always in this order:

1. **unit price** — `FlashSale` and `Clearance` lower the unit price of skus
   (markdowns);
2. **item** — `PercentageOff` and `FixedAmountOff` that target skus or
   categories (or take an amount off each unit), `BuyXGetY`, `BundlePrice`;
3. **cart** — `SpendThreshold`, and `PercentageOff` / `FixedAmountOff` that
   target the whole cart;
4. **shipping** — `FreeShippingPromotion`.

Within a stage, promotions run by ``priority`` (lower first), then by ``id``.
Every discount is computed on what is left: the net amount of the units it
targets after every discount that ran before it. So a spend threshold is
measured on the subtotal after markdowns and item discounts. A discount never
exceeds what is left, so no unit, line or total ever goes below zero.

Stacking
--------

"Earlier" means earlier in the run order above. A promotion *applies* when
its conditions hold (window, channel, customer, coupon) and it changes
something (a discount above zero, or free shipping). Then:

* an exclusive promotion that applies blocks every later promotion;
* an exclusive promotion is itself blocked if any earlier promotion applied;
* promotions that share a ``group`` do not combine: the first one that
  applies blocks the later ones of its group.

A promotion that does not apply (not eligible, or nothing to discount) never
blocks anything, so adding an ineligible promotion changes nothing. Blocked
promotions are listed in `PromotionResult.blocked` with what blocked them.

Rounding and allocation
-----------------------

Amounts are kept at the currency's minor unit; cart unit prices must already
be whole minor units. A percentage is taken of the total the promotion
touches (all its targeted units together) and rounded half-up once; the
result is then split over the touched lines in proportion to their net
amounts by largest remainder in whole pricing steps (`fourflows.money.allocate_units`,
the rule `fourflows.money.allocate` uses), and each line's share over its
units the same way. So each adjustment's line amounts sum
exactly to its total, and each line's unit nets sum to its net. A
`Clearance` percentage is a new unit price, so it is rounded per unit.

Which units `BuyXGetY` discounts
--------------------------------

The targeted units (each unit at what it costs at that point, units already
free left out) are sorted by that amount, highest first, ties by line then
unit; they are cut into consecutive groups of ``buy + get`` units, and in
each complete group the last ``get`` units — the cheapest of that group — are
discounted. Buy 2 get 1 free on units costing 500, 400, 300, 200, 100, 100
gives groups (500, 400, 300) and (200, 100, 100): the 300 and one 100 are
free.
"""

from __future__ import annotations

import abc
import enum
import itertools
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import attrs

from fourflows._sets import name_set
from fourflows.commerce.cart import Cart, CartLine, PricingContext
from fourflows.commerce.coupons import (
    Coupon,
    CouponRejection,
    CouponRejectReason,
    CouponUsage,
    Eligibility,
    coupon_code,
)
from fourflows.errors import CurrencyMismatch, FloatNotAllowed, InvalidInput
from fourflows.geo import Address, country_code
from fourflows.logistics.shipping import FreeShippingOffer
from fourflows.money import Money, Precision, allocate_units, round_money

__all__ = [
    "Adjustment",
    "AdjustmentLine",
    "BlockedPromotion",
    "BundlePrice",
    "BuyXGetY",
    "Clearance",
    "FixedAmountOff",
    "FlashSale",
    "FlashSaleSales",
    "FreeShipping",
    "FreeShippingPromotion",
    "LinePricing",
    "PercentageOff",
    "Promotion",
    "PromotionKind",
    "PromotionResult",
    "SpendThreshold",
    "SpendTier",
    "Stage",
    "TargetedPromotion",
    "apply_promotions",
]


class PromotionKind(enum.Enum):
    """What a promotion does; recorded on each `Adjustment`."""

    PERCENTAGE_OFF = "percentage_off"
    FIXED_AMOUNT_OFF = "fixed_amount_off"
    SPEND_THRESHOLD = "spend_threshold"
    BUY_X_GET_Y = "buy_x_get_y"
    BUNDLE_PRICE = "bundle_price"
    FLASH_SALE = "flash_sale"
    CLEARANCE = "clearance"
    FREE_SHIPPING = "free_shipping"


class Stage(enum.Enum):
    """When a promotion runs: unit prices, then items, then the cart, then shipping."""

    UNIT_PRICE = "unit_price"
    ITEM = "item"
    CART = "cart"
    SHIPPING = "shipping"

    @property
    def rank(self) -> int:
        """The stage's place in the run order, from 1 (unit price) to 4 (shipping)."""
        return list(Stage).index(self) + 1


# ---------------------------------------------------------------- validation


def _percent(value: object) -> Decimal:
    if isinstance(value, float):
        raise FloatNotAllowed(value, "a percentage")
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise InvalidInput(f"a percentage must be an int, str or Decimal, not {value!r}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise InvalidInput(f"a percentage must be a number, not {value!r}") from None
    if not number.is_finite() or not 0 < number <= 100:
        raise InvalidInput(f"a percentage must be above 0 and at most 100, not {value!r}")
    return number


def _optional_percent(value: object) -> Decimal | None:
    return None if value is None else _percent(value)


def _check_money(value: object, name: str, *, zero_ok: bool) -> None:
    if not isinstance(value, Money):
        raise InvalidInput(f"{name} must be Money, not {value!r}")
    if value.amount < 0 or (value.amount == 0 and not zero_ok):
        allowed = "0 or more" if zero_ok else "above 0"
        raise InvalidInput(f"{name} must be {allowed}, not {value}")
    value.get_amount_in_sub_unit()  # InvalidInput unless a whole number of minor units


def _positive_money(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _check_money(value, attribute.name, zero_ok=False)


def _price(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _check_money(value, attribute.name, zero_ok=True)


def _optional_positive_money(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _check_money(value, attribute.name, zero_ok=False)


def _text(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise InvalidInput(f"{attribute.name} must be a string, not {value!r}")


def _identifier(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"a promotion id must be a non-empty string, not {value!r}")
    return value.strip()


def _optional_group(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"a group must be None or a non-empty string, not {value!r}")
    return value.strip()


def _int(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{attribute.name} must be an int, not {value!r}")


def _at_least_one(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"{attribute.name} must be a whole number of at least 1, not {value!r}")


def _optional_at_least_one(
    instance: object, attribute: attrs.Attribute[Any], value: object
) -> None:
    if value is not None:
        _at_least_one(instance, attribute, value)


def _optional_count(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise InvalidInput(
            f"{attribute.name} must be None or a whole number 0 or more, not {value!r}"
        )


def _flag(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidInput(f"{attribute.name} must be True or False, not {value!r}")


def _skus(value: Iterable[str]) -> frozenset[str]:
    return name_set(value, "a sku")


def _categories(value: Iterable[str]) -> frozenset[str]:
    return name_set(value, "a category")


def _countries(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):
        value = (value,)
    return frozenset(country_code(code) for code in value)


def _regions(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):
        value = (value,)
    regions = set()
    for region in value:
        if not isinstance(region, str) or not region.strip():
            raise InvalidInput(
                f"a region must be a non-empty code such as 'TW-PEN', not {region!r}"
            )
        regions.add(region.strip().upper())
    return frozenset(regions)


def _services(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):
        value = (value,)
    services = frozenset(value)
    for service in services:
        if not isinstance(service, str) or not service:
            raise InvalidInput(f"a shipping service must be a non-empty string, not {service!r}")
    return services


def _same_currency(owner: str, *amounts: Money | None) -> str | None:
    codes = [amount.code for amount in amounts if amount is not None]
    for code in codes[1:]:
        if code != codes[0]:
            raise CurrencyMismatch(codes[0], code, f"declare {owner} in")
    return codes[0] if codes else None


# ---------------------------------------------------------------- formatting


def _show(value: Money) -> str:
    amount = value.amount
    if amount == amount.to_integral_value():
        return f"{amount.quantize(Decimal(1)):f} {value.code}"
    return f"{round_money(value).amount:f} {value.code}"


def _show_percent(value: Decimal) -> str:
    return f"{value.normalize():f}%"


def _listed(word: str, names: Iterable[str]) -> str:
    ordered = sorted(names)
    return f"{word}{'s' if len(ordered) > 1 else ''} {', '.join(ordered)}"


def _describe_target(skus: frozenset[str], categories: frozenset[str]) -> str:
    parts = []
    if skus:
        parts.append(_listed("SKU", skus))
    if categories:
        parts.append(_listed("category", categories))
    return " and ".join(parts)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# ---------------------------------------------------------------- working state


Unit = tuple[int, int]
"""A unit in the working cart: (line rank in canonical order, position in the line)."""


@attrs.define
class _Line:
    index: int
    line: CartLine
    prices: list[int]
    nets: list[int]
    clearance: bool = False

    @property
    def sku(self) -> str:
        return self.line.sku

    @property
    def categories(self) -> frozenset[str]:
        return self.line.product.categories


@attrs.define
class _Env:
    currency: str
    context: PricingContext
    ship_to: Address | None
    sold: Mapping[str, int]
    lines: list[_Line]
    precision: Precision
    step_units: int = attrs.field(init=False)
    """Minor units in one step of ``precision`` (1 at the minor unit, 100 for whole TWD)."""

    def __attrs_post_init__(self) -> None:
        minor = Precision.minor_unit(self.currency)
        self.step_units = self.precision.increment * 10 ** (
            minor.exponent - self.precision.exponent
        )

    def net(self, unit: Unit) -> int:
        return self.lines[unit[0]].nets[unit[1]]

    def units(self, include: Callable[[_Line], bool]) -> list[Unit]:
        return [
            (rank, pos)
            for rank, line in enumerate(self.lines)
            if include(line)
            for pos in range(len(line.nets))
        ]

    def money(self, units: int) -> Money:
        return Money.from_minor_units(units, self.currency)

    def percent_of(self, units: int, percent: Decimal) -> int:
        exact = self.money(units) * percent / 100
        return round_money(exact, self.precision).get_amount_in_sub_unit()

    def split(self, total: int, weights: list[int]) -> list[int]:
        """``total`` minor units split by ``weights`` in whole pricing steps (largest remainder)."""
        if total == 0:
            return [0] * len(weights)
        step = self.step_units
        steps, rest = divmod(total, step)
        if rest:
            raise InvalidInput(
                f"{self.money(total)} is not a whole number of steps of {self.precision} "
                f"{self.currency}; round it first"
            )
        if step == 1:
            return allocate_units(steps, weights)
        return [part * step for part in allocate_units(steps, weights)]

    def spread(self, total: int, units: Iterable[Unit]) -> dict[Unit, int]:
        """Split ``total`` (at most the units' nets) over lines by net, then over units by net."""
        by_line: dict[int, list[int]] = {}
        for rank, pos in sorted(units):
            by_line.setdefault(rank, []).append(pos)
        ranks = sorted(by_line)
        weights = [sum(self.lines[rank].nets[pos] for pos in by_line[rank]) for rank in ranks]
        amounts: dict[Unit, int] = {}
        for rank, part in zip(ranks, self.split(total, weights), strict=True):
            positions = by_line[rank]
            nets = [self.lines[rank].nets[pos] for pos in positions]
            for pos, share in zip(positions, self.split(part, nets), strict=True):
                if share:
                    amounts[(rank, pos)] = share
        return amounts


@attrs.define
class _Plan:
    reason: str
    amounts: dict[Unit, int] = attrs.Factory(dict)
    markdown: bool = False
    clearance: bool = False
    free_shipping: FreeShipping | None = None

    @property
    def total(self) -> int:
        return sum(self.amounts.values())

    @property
    def effective(self) -> bool:
        return self.total > 0 or self.free_shipping is not None


# ---------------------------------------------------------------- promotions


@attrs.frozen(kw_only=True)
class Promotion(Eligibility, abc.ABC):
    """What every promotion has: an id, stacking settings and `Eligibility` conditions.

    ``priority`` orders promotions within a stage (lower runs first, then by
    ``id``); ``exclusive`` and ``group`` control stacking (see the module
    documentation). ``requires_coupon`` makes the promotion apply only when
    a valid `Coupon` for it is entered. ``label`` is the merchant's name for
    it, copied onto adjustments.
    """

    kind: ClassVar[PromotionKind]

    id: str = attrs.field(converter=_identifier)
    label: str = attrs.field(default="", validator=_text)
    priority: int = attrs.field(default=100, validator=_int)
    exclusive: bool = attrs.field(default=False, validator=_flag)
    group: str | None = attrs.field(default=None, converter=_optional_group)
    requires_coupon: bool = attrs.field(default=False, validator=_flag)

    @property
    @abc.abstractmethod
    def stage(self) -> Stage:
        """The stage the promotion runs in."""

    @property
    def currency(self) -> str | None:
        """The currency of the amounts the promotion declares; None if it declares none."""
        return None

    @abc.abstractmethod
    def _targets(self, line: _Line) -> bool:
        """Whether the promotion looks at ``line``."""

    @abc.abstractmethod
    def _plan(self, env: _Env) -> _Plan | None:
        """What the promotion would do to the working cart, without doing it."""

    def _base(self, env: _Env) -> int:
        return sum(sum(line.nets) for line in env.lines if self._targets(line))


@attrs.frozen(kw_only=True)
class TargetedPromotion(Promotion, abc.ABC):
    """A promotion that looks at some lines of the cart.

    A line is targeted when its sku is in ``skus`` or it has one of
    ``categories``; every line is when both are empty. ``exclude_clearance``
    leaves out lines marked down by a `Clearance`.
    """

    skus: frozenset[str] = attrs.field(default=frozenset(), converter=_skus)
    categories: frozenset[str] = attrs.field(default=frozenset(), converter=_categories)
    exclude_clearance: bool = attrs.field(default=False, validator=_flag)

    @property
    def whole_cart(self) -> bool:
        """True when no skus or categories are given, so every line is targeted."""
        return not self.skus and not self.categories

    def _targets(self, line: _Line) -> bool:
        if self.exclude_clearance and line.clearance:
            return False
        return self.whole_cart or line.sku in self.skus or bool(self.categories & line.categories)

    def _on(self, whole: str = "") -> str:
        text = _describe_target(self.skus, self.categories) or whole
        if self.exclude_clearance:
            text = f"{text} (clearance excluded)".strip()
        return f" {text}" if text else ""


@attrs.frozen(kw_only=True)
class PercentageOff(TargetedPromotion):
    """``percent`` off the targeted lines; stage item when targeted, cart for the whole cart."""

    kind: ClassVar[PromotionKind] = PromotionKind.PERCENTAGE_OFF

    percent: Decimal = attrs.field(converter=_percent)

    @property
    def stage(self) -> Stage:
        """Item stage when skus or categories are given, else cart stage."""
        return Stage.CART if self.whole_cart else Stage.ITEM

    def _plan(self, env: _Env) -> _Plan | None:
        units = env.units(self._targets)
        base = sum(env.net(unit) for unit in units)
        off = env.percent_of(base, self.percent)
        if off == 0:
            return None
        reason = f"{_show_percent(self.percent)} off{self._on('the cart')}"
        return _Plan(reason=reason, amounts=env.spread(min(off, base), units))


@attrs.frozen(kw_only=True)
class FixedAmountOff(TargetedPromotion):
    """``amount`` off the targeted lines together, or off each targeted unit when ``per_unit``.

    Stage: item when per unit or targeted at skus or categories, cart for
    the whole cart. Capped at what is left.
    """

    kind: ClassVar[PromotionKind] = PromotionKind.FIXED_AMOUNT_OFF

    amount: Money = attrs.field(validator=_positive_money)
    per_unit: bool = attrs.field(default=False, validator=_flag)

    @property
    def stage(self) -> Stage:
        """Item stage when per unit or targeted, else cart stage."""
        return Stage.CART if self.whole_cart and not self.per_unit else Stage.ITEM

    @property
    def currency(self) -> str | None:
        """The currency of ``amount``."""
        return self.amount.code

    def _plan(self, env: _Env) -> _Plan | None:
        units = env.units(self._targets)
        amount = self.amount.get_amount_in_sub_unit()
        if self.per_unit:
            amounts = {unit: min(amount, env.net(unit)) for unit in units if env.net(unit)}
            count = len(amounts)
            reason = f"{_show(self.amount)} off each unit of{self._on('every item')}"
            return _Plan(reason=f"{reason} ({_plural(count, 'unit')})", amounts=amounts)
        base = sum(env.net(unit) for unit in units)
        reason = f"{_show(self.amount)} off{self._on('the cart')}"
        return _Plan(reason=reason, amounts=env.spread(min(amount, base), units))


def _tier(value: object) -> SpendTier:
    if isinstance(value, SpendTier):
        return value
    if isinstance(value, tuple) and len(value) == 2:
        return SpendTier(spend=value[0], off=value[1])
    raise InvalidInput(f"a tier must be a SpendTier or a (spend, off) pair of Money, not {value!r}")


def _tiers(value: Iterable[SpendTier | tuple[Money, Money]]) -> tuple[SpendTier, ...]:
    if isinstance(value, SpendTier):
        value = (value,)
    tiers = sorted((_tier(tier) for tier in value), key=lambda tier: tier.spend.amount)
    _same_currency("spend tiers", *(tier.spend for tier in tiers))
    for lower, upper in itertools.pairwise(tiers):
        if lower.spend == upper.spend:
            raise InvalidInput(f"two spend tiers start at {lower.spend}; thresholds must differ")
    return tuple(tiers)


@attrs.frozen(kw_only=True)
class SpendTier:
    """Spend at least ``spend``, get ``off`` (an amount) or ``percent`` off: exactly one of them."""

    spend: Money = attrs.field(validator=_positive_money)
    off: Money | None = attrs.field(default=None, validator=_optional_positive_money)
    percent: Decimal | None = attrs.field(default=None, converter=_optional_percent)

    def __attrs_post_init__(self) -> None:
        if (self.off is None) == (self.percent is None):
            raise InvalidInput(
                f"the tier at {self.spend} needs exactly one of off or percent, "
                f"not off={self.off!r} and percent={self.percent!r}"
            )
        _same_currency("a spend tier", self.spend, self.off)


@attrs.frozen(kw_only=True)
class SpendThreshold(TargetedPromotion):
    """A spend-threshold discount (滿額折 / 满减), measured on the targeted lines' net.

    Either ``tiers`` — the highest tier reached applies: spend 1000 get 100
    off, spend 2000 get 250 off — or ``every`` and ``off`` — repeating: every
    300 spent takes 30 off, at most ``max_times`` times when given. Always
    cart stage, so it sees the amount after markdowns and item discounts.
    """

    kind: ClassVar[PromotionKind] = PromotionKind.SPEND_THRESHOLD

    tiers: tuple[SpendTier, ...] = attrs.field(default=(), converter=_tiers)
    every: Money | None = attrs.field(default=None, validator=_optional_positive_money)
    off: Money | None = attrs.field(default=None, validator=_optional_positive_money)
    max_times: int | None = attrs.field(default=None, validator=_optional_at_least_one)

    def __attrs_post_init__(self) -> None:
        repeating = self.every is not None or self.off is not None
        if repeating == bool(self.tiers):
            raise InvalidInput(
                f"spend threshold {self.id!r} needs either tiers or every and off, not both "
                "or neither"
            )
        if repeating and (self.every is None or self.off is None):
            raise InvalidInput(
                f"a repeating spend threshold needs both every and off, "
                f"not every={self.every!r} and off={self.off!r}"
            )
        if self.max_times is not None and not repeating:
            raise InvalidInput("max_times applies to a repeating threshold (every and off) only")
        self._declared_currency()

    def _declared_currency(self) -> str | None:
        amounts: list[Money | None] = [self.every, self.off]
        for tier in self.tiers:
            amounts.extend((tier.spend, tier.off))
        return _same_currency(f"spend threshold {self.id!r}", *amounts)

    @property
    def stage(self) -> Stage:
        """Always the cart stage."""
        return Stage.CART

    @property
    def currency(self) -> str | None:
        """The currency of the thresholds."""
        return self._declared_currency()

    def _plan(self, env: _Env) -> _Plan | None:
        units = env.units(self._targets)
        base = sum(env.net(unit) for unit in units)
        on = self._on()
        if self.every is not None and self.off is not None:
            times = base // self.every.get_amount_in_sub_unit()
            if self.max_times is not None:
                times = min(times, self.max_times)
            off = times * self.off.get_amount_in_sub_unit()
            reason = (
                f"Every {_show(self.every)} spent{on}, get {_show(self.off)} off "
                f"({_plural(times, 'time')})"
            )
        else:
            reached = [tier for tier in self.tiers if tier.spend.get_amount_in_sub_unit() <= base]
            if not reached:
                return None
            tier = reached[-1]
            if tier.off is not None:
                off, gets = tier.off.get_amount_in_sub_unit(), _show(tier.off)
            else:
                assert tier.percent is not None
                off, gets = env.percent_of(base, tier.percent), _show_percent(tier.percent)
            reason = f"Spend {_show(tier.spend)}{on}, get {gets} off"
        if off == 0:
            return None
        return _Plan(reason=reason, amounts=env.spread(min(off, base), units))


@attrs.frozen(kw_only=True)
class BuyXGetY(TargetedPromotion):
    """Buy ``buy`` units, get ``get`` more free (or ``percent`` off) among the targeted units.

    Which units are discounted is defined in the module documentation: sort
    by price, highest first; in each complete group of ``buy + get`` units,
    the ``get`` cheapest are discounted. ``max_times`` caps the groups.
    Item stage.
    """

    kind: ClassVar[PromotionKind] = PromotionKind.BUY_X_GET_Y

    buy: int = attrs.field(validator=_at_least_one)
    get: int = attrs.field(validator=_at_least_one)
    percent: Decimal = attrs.field(default=Decimal(100), converter=_percent)
    max_times: int | None = attrs.field(default=None, validator=_optional_at_least_one)

    @property
    def stage(self) -> Stage:
        """Always the item stage."""
        return Stage.ITEM

    def _plan(self, env: _Env) -> _Plan | None:
        units = [unit for unit in env.units(self._targets) if env.net(unit) > 0]
        units.sort(key=lambda unit: (-env.net(unit), unit))
        size = self.buy + self.get
        groups = len(units) // size
        if self.max_times is not None:
            groups = min(groups, self.max_times)
        chosen = [
            unit
            for group in range(groups)
            for unit in units[group * size + self.buy : (group + 1) * size]
        ]
        if not chosen:
            return None
        if self.percent == 100:
            amounts = {unit: env.net(unit) for unit in chosen}
            gets = "free"
        else:
            off = env.percent_of(sum(env.net(unit) for unit in chosen), self.percent)
            amounts = env.spread(off, chosen)
            gets = f"at {_show_percent(self.percent)} off"
        reason = (
            f"Buy {self.buy}, get {self.get} {gets}{self._on()} "
            f"({_plural(len(chosen), 'unit')} discounted)"
        )
        return _Plan(reason=reason, amounts=amounts)


def _bundle_items(
    value: Mapping[str, int] | Iterable[str | tuple[str, int]],
) -> tuple[tuple[str, int], ...]:
    if isinstance(value, str):
        value = (value,)
    pairs: list[tuple[object, object]] = []
    if isinstance(value, Mapping):
        pairs.extend(value.items())
    else:
        for entry in value:
            if isinstance(entry, tuple) and len(entry) == 2:
                pairs.append((entry[0], entry[1]))
            else:
                pairs.append((entry, 1))
    items: dict[str, int] = {}
    for sku, count in pairs:
        (name,) = _skus([sku])  # type: ignore[list-item]
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise InvalidInput(
                f"the count of {sku!r} in a bundle must be at least 1, not {count!r}"
            )
        items[name] = items.get(name, 0) + count
    if sum(items.values()) < 2:
        raise InvalidInput(f"a bundle needs at least 2 units, not {dict(items)!r}")
    return tuple(sorted(items.items()))


@attrs.frozen(kw_only=True)
class BundlePrice(TargetedPromotion):
    """A set of skus for one price (A + B for 999), applied once per complete bundle.

    ``items`` is a list of skus (one unit each) or a mapping sku → units.
    Each bundle takes the highest-priced units still available of each sku;
    a bundle whose units already cost no more than ``price`` is not
    discounted. ``max_times`` caps the bundles. Item stage; ``skus`` and
    ``categories`` of `TargetedPromotion` are ignored, the bundle's skus are
    its target.
    """

    kind: ClassVar[PromotionKind] = PromotionKind.BUNDLE_PRICE

    items: tuple[tuple[str, int], ...] = attrs.field(converter=_bundle_items)
    price: Money = attrs.field(validator=_price)
    max_times: int | None = attrs.field(default=None, validator=_optional_at_least_one)

    @property
    def stage(self) -> Stage:
        """Always the item stage."""
        return Stage.ITEM

    @property
    def currency(self) -> str | None:
        """The currency of the bundle price."""
        return self.price.code

    def _targets(self, line: _Line) -> bool:
        if self.exclude_clearance and line.clearance:
            return False
        return any(line.sku == sku for sku, _ in self.items)

    def _plan(self, env: _Env) -> _Plan | None:
        pools: dict[str, list[Unit]] = {sku: [] for sku, _ in self.items}
        for unit in env.units(self._targets):
            if env.net(unit) > 0:
                pools[env.lines[unit[0]].sku].append(unit)
        for pool in pools.values():
            pool.sort(key=lambda unit: (-env.net(unit), unit))
        count = min(len(pools[sku]) // need for sku, need in self.items)
        if self.max_times is not None:
            count = min(count, self.max_times)
        price = self.price.get_amount_in_sub_unit()
        amounts: dict[Unit, int] = {}
        made = 0
        for number in range(count):
            members = [
                unit
                for sku, need in self.items
                for unit in pools[sku][number * need : (number + 1) * need]
            ]
            value = sum(env.net(unit) for unit in members)
            if value <= price:
                break  # later bundles hold cheaper units, so they cannot save either
            amounts.update(env.spread(value - price, members))
            made += 1
        if not made:
            return None
        names = " + ".join(f"{need} × {sku}" if need > 1 else sku for sku, need in self.items)
        reason = f"Bundle {names} for {_show(self.price)} ({_plural(made, 'bundle')})"
        return _Plan(reason=reason, amounts=amounts)


def _flash_sold(value: Mapping[str, int]) -> Mapping[str, int]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"sold must map flash-sale promotion ids to units sold, not {value!r}")
    sold = {}
    for key, count in value.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise InvalidInput(f"units sold of {key!r} must be a whole number 0 or more: {count!r}")
        sold[_identifier(key)] = count
    return types.MappingProxyType(sold)


@attrs.frozen(kw_only=True)
class FlashSaleSales:
    """Units already sold at each flash sale's price, by promotion id: a snapshot passed in."""

    sold: Mapping[str, int] = attrs.field(factory=dict, converter=_flash_sold, hash=False)


@attrs.frozen(kw_only=True)
class FlashSale(Promotion):
    """A unit ``price`` for ``skus`` between ``starts_at`` and ``ends_at`` (both required).

    ``cap`` limits the units sold at that price over the whole sale (units
    already sold come from `FlashSaleSales`); ``per_order`` limits them in
    one cart. Units beyond the limits pay the normal price: the flash price
    goes to the highest-priced units first, and within a line to its first
    units, so `LinePricing.unit_prices` shows the split. Unit-price stage.
    """

    kind: ClassVar[PromotionKind] = PromotionKind.FLASH_SALE

    skus: frozenset[str] = attrs.field(converter=_skus)
    price: Money = attrs.field(validator=_price)
    cap: int | None = attrs.field(default=None, validator=_optional_count)
    per_order: int | None = attrs.field(default=None, validator=_optional_count)

    def __attrs_post_init__(self) -> None:
        if self.starts_at is None or self.ends_at is None:
            raise InvalidInput(
                f"flash sale {self.id!r} needs both starts_at and ends_at, "
                f"not {self.starts_at!r} and {self.ends_at!r}"
            )
        if not self.skus:
            raise InvalidInput(f"flash sale {self.id!r} needs at least one sku")

    @property
    def stage(self) -> Stage:
        """Always the unit-price stage."""
        return Stage.UNIT_PRICE

    @property
    def currency(self) -> str | None:
        """The currency of the flash price."""
        return self.price.code

    def _targets(self, line: _Line) -> bool:
        return line.sku in self.skus

    def _plan(self, env: _Env) -> _Plan | None:
        price = self.price.get_amount_in_sub_unit()
        units = [
            unit for unit in env.units(self._targets) if env.lines[unit[0]].prices[unit[1]] > price
        ]
        units.sort(key=lambda unit: (-env.lines[unit[0]].prices[unit[1]], unit))
        limits = [len(units)]
        if self.cap is not None:
            limits.append(max(self.cap - env.sold.get(self.id, 0), 0))
        if self.per_order is not None:
            limits.append(self.per_order)
        taken = units[: min(limits)]
        if not taken:
            return None
        amounts = {unit: env.lines[unit[0]].prices[unit[1]] - price for unit in taken}
        reason = (
            f"Flash sale: {_listed('SKU', self.skus)} at {_show(self.price)} "
            f"({_plural(len(taken), 'unit')})"
        )
        if len(taken) < len(units):
            reason += f"; {_plural(len(units) - len(taken), 'unit')} over the limit at full price"
        return _Plan(reason=reason, amounts=amounts, markdown=True)


@attrs.frozen(kw_only=True)
class Clearance(Promotion):
    """A clearance markdown: a new unit price, or a percentage off, for skus or categories.

    Give exactly one of ``price`` and ``percent``, and ``skus`` and/or
    ``categories``. Lines it lowers are flagged as clearance
    (`LinePricing.clearance`). The percentage is rounded half-up per unit,
    since it makes a unit price. Unit-price stage.
    """

    kind: ClassVar[PromotionKind] = PromotionKind.CLEARANCE

    skus: frozenset[str] = attrs.field(default=frozenset(), converter=_skus)
    categories: frozenset[str] = attrs.field(default=frozenset(), converter=_categories)
    price: Money | None = attrs.field(default=None)
    percent: Decimal | None = attrs.field(default=None, converter=_optional_percent)

    @price.validator
    def _check_price(self, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is not None:
            _check_money(value, attribute.name, zero_ok=True)

    def __attrs_post_init__(self) -> None:
        if (self.price is None) == (self.percent is None):
            raise InvalidInput(
                f"clearance {self.id!r} needs exactly one of price or percent, "
                f"not price={self.price!r} and percent={self.percent!r}"
            )
        if not self.skus and not self.categories:
            raise InvalidInput(f"clearance {self.id!r} needs skus or categories")

    @property
    def stage(self) -> Stage:
        """Always the unit-price stage."""
        return Stage.UNIT_PRICE

    @property
    def currency(self) -> str | None:
        """The currency of the clearance price, if one is set."""
        return None if self.price is None else self.price.code

    def _targets(self, line: _Line) -> bool:
        return line.sku in self.skus or bool(self.categories & line.categories)

    def _plan(self, env: _Env) -> _Plan | None:
        amounts: dict[Unit, int] = {}
        for rank, pos in env.units(self._targets):
            now = env.lines[rank].prices[pos]
            if self.price is not None:
                new = min(now, self.price.get_amount_in_sub_unit())
            else:
                assert self.percent is not None
                new = now - env.percent_of(now, self.percent)
            if new < now:
                amounts[(rank, pos)] = now - new
        if not amounts:
            return None
        target = _describe_target(self.skus, self.categories)
        if self.price is not None:
            reason = f"Clearance: {target} at {_show(self.price)}"
        else:
            assert self.percent is not None
            reason = f"Clearance: {_show_percent(self.percent)} off {target}"
        return _Plan(reason=reason, amounts=amounts, markdown=True, clearance=True)


@attrs.frozen(kw_only=True)
class FreeShipping:
    """Free shipping won by a promotion.

    It covers ``services`` (empty: every service) and waives at most
    ``max_fee`` (None: the whole fee). ``label`` is the promotion's label, or
    ``"Free shipping"`` when it has none.
    """

    promotion_id: str
    label: str
    services: frozenset[str]
    max_fee: Money | None
    reason: str

    def offer(self) -> FreeShippingOffer:
        """The offer for the shipping calculator (`fourflows.logistics.shipping.rate_shop`)."""
        return FreeShippingOffer(
            label=self.label,
            promotion_id=self.promotion_id,
            services=self.services,
            max_fee=self.max_fee,
        )


@attrs.frozen(kw_only=True)
class FreeShippingPromotion(TargetedPromotion):
    """Free shipping for a spend, a member tier or a destination.

    It applies when the targeted lines' net reaches ``min_spend`` (if set) and the
    destination is in ``countries`` / ``regions`` (if set; then ``ship_to`` is
    required). Member tiers and the rest come from `Eligibility`. ``services``
    and ``max_fee`` shape the `FreeShipping` it grants. Shipping stage, so the
    spend is measured after every discount.
    """

    kind: ClassVar[PromotionKind] = PromotionKind.FREE_SHIPPING

    min_spend: Money | None = attrs.field(default=None, validator=_optional_positive_money)
    countries: frozenset[str] = attrs.field(default=frozenset(), converter=_countries)
    regions: frozenset[str] = attrs.field(default=frozenset(), converter=_regions)
    services: frozenset[str] = attrs.field(default=frozenset(), converter=_services)
    max_fee: Money | None = attrs.field(default=None, validator=_optional_positive_money)

    def __attrs_post_init__(self) -> None:
        self._declared_currency()

    def _declared_currency(self) -> str | None:
        return _same_currency(f"free shipping {self.id!r}", self.min_spend, self.max_fee)

    @property
    def stage(self) -> Stage:
        """Always the shipping stage."""
        return Stage.SHIPPING

    @property
    def currency(self) -> str | None:
        """The currency of ``min_spend`` and ``max_fee``."""
        return self._declared_currency()

    def _goes_to(self, ship_to: Address | None) -> bool:
        if not self.countries and not self.regions:
            return True
        if ship_to is None:
            return False
        if self.countries and ship_to.country not in self.countries:
            return False
        return not self.regions or ship_to.region in self.regions

    def _plan(self, env: _Env) -> _Plan | None:
        lines = [line for line in env.lines if self._targets(line)]
        if not lines or not self._goes_to(env.ship_to):
            return None
        base = sum(sum(line.nets) for line in lines)
        if self.min_spend is not None and base < self.min_spend.get_amount_in_sub_unit():
            return None
        reason = "Free shipping"
        if self.min_spend is not None:
            reason += f" on{self._on('orders')} of {_show(self.min_spend)} or more"
        elif not self.whole_cart:
            reason += f" with{self._on()}"
        if self.countries or self.regions:
            reason += f" to {', '.join(sorted(self.countries | self.regions))}"
        if self.member_tiers:
            reason += f" for {', '.join(sorted(self.member_tiers))} members"
        if self.max_fee is not None:
            reason += f" (up to {_show(self.max_fee)})"
        offer = FreeShipping(
            promotion_id=self.id,
            label=self.label or "Free shipping",
            services=self.services,
            max_fee=self.max_fee,
            reason=reason,
        )
        return _Plan(reason=reason, free_shipping=offer)


# ---------------------------------------------------------------- results


@attrs.frozen(kw_only=True)
class AdjustmentLine:
    """What one adjustment took off one cart line: in total and per unit."""

    index: int
    sku: str
    amount: Money
    unit_amounts: tuple[Money, ...]


@attrs.frozen(kw_only=True)
class Adjustment:
    """One promotion's effect: the lines it touched and the total it took off.

    ``amount`` is positive (what was taken off) and equals the sum of the
    line amounts. ``coupon_code`` is the code that unlocked it, if any.
    """

    promotion_id: str
    kind: PromotionKind
    stage: Stage
    label: str
    reason: str
    lines: tuple[AdjustmentLine, ...]
    amount: Money
    coupon_code: str | None = None


@attrs.frozen(kw_only=True)
class LinePricing:
    """A cart line after promotions, with the net price each unit actually pays.

    ``list_price`` is the cart line's unit price; ``unit_prices`` the price of
    each unit after markdowns (a flash-sale limit may split a line), and
    ``unit_price`` the lowest of them. ``subtotal`` is list price × quantity;
    ``discount_total`` includes markdowns; ``net_total`` is the sum of
    ``unit_nets``. ``clearance`` marks a line marked down by a `Clearance`.
    """

    index: int
    sku: str
    quantity: int
    list_price: Money
    unit_price: Money
    unit_prices: tuple[Money, ...]
    unit_nets: tuple[Money, ...]
    subtotal: Money
    discount_total: Money
    net_total: Money
    clearance: bool = False


@attrs.frozen(kw_only=True)
class BlockedPromotion:
    """A promotion that would have applied but was blocked by a stacking rule."""

    promotion_id: str
    blocked_by: str
    reason: str


@attrs.frozen(kw_only=True)
class PromotionResult:
    """The cart after promotions.

    ``lines`` are in cart order; ``adjustments`` in the order they ran.
    ``subtotal`` is at list prices, ``discount_total`` is every adjustment
    (markdowns included) and ``net_total = subtotal - discount_total``.
    ``applied_coupons`` are the codes whose promotion applied, in the order
    entered: record their use when the order is placed.
    """

    currency: str
    lines: tuple[LinePricing, ...]
    adjustments: tuple[Adjustment, ...]
    free_shipping: tuple[FreeShipping, ...]
    rejected_coupons: tuple[CouponRejection, ...]
    applied_coupons: tuple[str, ...]
    blocked: tuple[BlockedPromotion, ...]
    subtotal: Money
    discount_total: Money
    net_total: Money

    def explain(self) -> str:
        """Every adjustment with its reason, then the totals, as English text."""
        rows = [f"Subtotal {_show(self.subtotal)}"]
        for adjustment in self.adjustments:
            rows.append(
                f"  -{_show(adjustment.amount)}  {adjustment.reason} [{adjustment.promotion_id}]"
            )
        rows.append(f"Total {_show(self.net_total)} (saved {_show(self.discount_total)})")
        rows.extend(f"{offer.reason} [{offer.promotion_id}]" for offer in self.free_shipping)
        rows.extend(
            f"Coupon {rejection.code} not used: {rejection.message}"
            for rejection in self.rejected_coupons
        )
        return "\n".join(rows)


# ---------------------------------------------------------------- the engine


def _check_promotions(promotions: Sequence[Promotion], currency: str) -> dict[str, Promotion]:
    if isinstance(promotions, Promotion) or not isinstance(promotions, Iterable):
        raise InvalidInput(f"promotions must be a sequence of Promotion, not {promotions!r}")
    by_id: dict[str, Promotion] = {}
    for promotion in promotions:
        if not isinstance(promotion, Promotion):
            raise InvalidInput(f"promotions must be Promotion values, not {promotion!r}")
        if promotion.id in by_id:
            raise InvalidInput(f"promotion id {promotion.id!r} appears twice; ids must be unique")
        if promotion.currency is not None and promotion.currency != currency:
            raise CurrencyMismatch(
                currency, promotion.currency, f"apply promotion {promotion.id!r}"
            )
        by_id[promotion.id] = promotion
    return by_id


def _check_coupons(
    coupons: Sequence[Coupon], promotions: Mapping[str, Promotion], currency: str
) -> dict[str, Coupon]:
    if isinstance(coupons, Coupon) or not isinstance(coupons, Iterable):
        raise InvalidInput(f"coupons must be a sequence of Coupon, not {coupons!r}")
    by_code: dict[str, Coupon] = {}
    for coupon in coupons:
        if not isinstance(coupon, Coupon):
            raise InvalidInput(f"coupons must be Coupon values, not {coupon!r}")
        if coupon.code in by_code:
            raise InvalidInput(f"coupon code {coupon.code!r} appears twice; codes must be unique")
        promotion = promotions.get(coupon.promotion_id)
        if promotion is None:
            raise InvalidInput(
                f"coupon {coupon.code!r} unlocks promotion {coupon.promotion_id!r}, "
                "which is not among the promotions given"
            )
        if not promotion.requires_coupon:
            raise InvalidInput(
                f"coupon {coupon.code!r} unlocks promotion {promotion.id!r}, which applies "
                "without a coupon; declare it with requires_coupon=True"
            )
        if coupon.min_spend is not None and coupon.min_spend.code != currency:
            raise CurrencyMismatch(currency, coupon.min_spend.code, f"use coupon {coupon.code!r}")
        by_code[coupon.code] = coupon
    return by_code


def _entered(codes: Sequence[str]) -> list[str]:
    if isinstance(codes, str) or not isinstance(codes, Iterable):
        raise InvalidInput(
            f"coupon_codes must be a sequence of codes such as ('SPRING',): {codes!r}"
        )
    entered: list[str] = []
    for code in codes:
        if not isinstance(code, str):
            raise InvalidInput(f"a coupon code must be a string, not {code!r}")
        if code.strip() and coupon_code(code) not in entered:
            entered.append(coupon_code(code))
    return entered


def _screen_coupons(
    entered: list[str],
    by_code: Mapping[str, Coupon],
    promotions: Mapping[str, Promotion],
    context: PricingContext,
    usage: CouponUsage | None,
) -> tuple[dict[str, Coupon], dict[str, CouponRejection]]:
    """Check the entered codes that do not depend on the cart: which promotions they unlock."""
    unlocked: dict[str, Coupon] = {}
    rejected: dict[str, CouponRejection] = {}
    for code in entered:
        coupon = by_code.get(code)
        if coupon is None:
            rejected[code] = CouponRejection(
                code=code,
                reason_code=CouponRejectReason.UNKNOWN_CODE,
                message=f"Coupon code {code} is not recognised",
            )
            continue
        found = coupon.rejection(context, usage)
        if found is None:
            refused = promotions[coupon.promotion_id].refusal(context, subject=f"Coupon {code}")
            if refused is None and coupon.promotion_id in unlocked:
                first = unlocked[coupon.promotion_id].code
                refused = (
                    CouponRejectReason.NOT_COMBINABLE,
                    f"Coupon {code} unlocks the same promotion as coupon {first}",
                )
            if refused is not None:
                found = CouponRejection(code=code, reason_code=refused[0], message=refused[1])
        if found is None:
            unlocked[coupon.promotion_id] = coupon
        else:
            rejected[code] = found
    return unlocked, rejected


def _pricing_step(currency: str, precision: Precision | None) -> Precision:
    minor = Precision.minor_unit(currency)
    if precision is None:
        return minor
    if not isinstance(precision, Precision) or precision.exponent > minor.exponent:
        raise InvalidInput(
            f"the pricing precision must be a Precision no finer than {currency}'s minor unit "
            f"{minor}, not {precision!r}"
        )
    return precision


def _working_lines(cart: Cart, step: Precision) -> list[_Line]:
    lines = []
    for index, line in enumerate(cart.lines):
        if round_money(line.unit_price, step) != line.unit_price:
            raise InvalidInput(
                f"the unit price {line.unit_price} of {line.sku!r} is finer than the pricing "
                f"precision {step} {line.unit_price.code}"
            )
        price = line.unit_price.get_amount_in_sub_unit()
        lines.append(_Line(index, line, [price] * line.quantity, [price] * line.quantity))
    # A canonical order, independent of the order of the cart's lines: allocation
    # ties then fall the same way however the lines were added.
    lines.sort(
        key=lambda line: (
            line.sku,
            line.prices[0],
            line.line.quantity,
            tuple(sorted(line.categories)),
            line.index,
        )
    )
    return lines


def _blocker(
    promotion: Promotion, exclusive: str | None, applied: list[str], groups: Mapping[str, str]
) -> tuple[str, str] | None:
    if exclusive is not None:
        return exclusive, f"exclusive promotion {exclusive!r} applied before it"
    if promotion.exclusive and applied:
        return applied[0], f"it is exclusive and {applied[0]!r} applied before it"
    if promotion.group is not None and promotion.group in groups:
        first = groups[promotion.group]
        return first, f"{first!r} of group {promotion.group!r} applied before it"
    return None


def _adjustment(
    promotion: Promotion, plan: _Plan, env: _Env, code: str | None
) -> tuple[Adjustment, set[int]]:
    touched: dict[int, dict[int, int]] = {}
    for (rank, pos), amount in plan.amounts.items():
        touched.setdefault(rank, {})[pos] = amount
    rows = []
    for rank, positions in touched.items():
        line = env.lines[rank]
        units = [positions.get(pos, 0) for pos in range(len(line.nets))]
        rows.append(
            AdjustmentLine(
                index=line.index,
                sku=line.sku,
                amount=env.money(sum(units)),
                unit_amounts=tuple(env.money(amount) for amount in units),
            )
        )
    rows.sort(key=lambda row: row.index)
    adjustment = Adjustment(
        promotion_id=promotion.id,
        kind=promotion.kind,
        stage=promotion.stage,
        label=promotion.label,
        reason=plan.reason,
        lines=tuple(rows),
        amount=env.money(plan.total),
        coupon_code=code,
    )
    return adjustment, set(touched)


def apply_promotions(
    cart: Cart,
    context: PricingContext,
    promotions: Sequence[Promotion],
    *,
    coupon_codes: Sequence[str] = (),
    coupons: Sequence[Coupon] = (),
    usage: CouponUsage | None = None,
    flash_sales: FlashSaleSales | None = None,
    ship_to: Address | None = None,
    precision: Precision | None = None,
) -> PromotionResult:
    """Apply ``promotions`` to ``cart`` in ``context``; pure and deterministic.

    ``coupon_codes`` are the codes the customer entered, looked up in
    ``coupons`` and checked against ``usage``; a code that cannot be used
    becomes a `CouponRejection`. ``flash_sales`` gives the units already sold
    per flash sale, ``ship_to`` the destination for free-shipping rules.

    ``precision`` is the step discounts are rounded and split to (default:
    the currency's minor unit); Taiwanese shops price in whole dollars with
    ``Precision.of(0)``, and every unit price must then be a whole step.

    Raises `InvalidInput` for bad input (duplicate promotion ids or coupon
    codes, a coupon for an unknown promotion, a cart price that is not a
    whole number of minor units) and `CurrencyMismatch` for a promotion or
    coupon in another currency than the cart.
    """
    if not isinstance(cart, Cart):
        raise InvalidInput(f"cart must be a Cart, not {cart!r}")
    if not isinstance(context, PricingContext):
        raise InvalidInput(f"context must be a PricingContext, not {context!r}")
    if usage is not None and not isinstance(usage, CouponUsage):
        raise InvalidInput(f"usage must be a CouponUsage or None, not {usage!r}")
    if flash_sales is not None and not isinstance(flash_sales, FlashSaleSales):
        raise InvalidInput(f"flash_sales must be a FlashSaleSales or None, not {flash_sales!r}")
    if ship_to is not None and not isinstance(ship_to, Address):
        raise InvalidInput(f"ship_to must be an Address or None, not {ship_to!r}")
    currency = cart.currency
    by_id = _check_promotions(promotions, currency)
    by_code = _check_coupons(coupons, by_id, currency)
    entered = _entered(coupon_codes)
    step = _pricing_step(currency, precision)
    env = _Env(
        currency=currency,
        context=context,
        ship_to=ship_to,
        sold=flash_sales.sold if flash_sales is not None else {},
        lines=_working_lines(cart, step),
        precision=step,
    )

    unlocked, rejected = _screen_coupons(entered, by_code, by_id, context, usage)

    def reject(code: str, reason: CouponRejectReason, message: str) -> None:
        rejected[code] = CouponRejection(code=code, reason_code=reason, message=message)

    adjustments: list[Adjustment] = []
    offers: list[FreeShipping] = []
    blocked: list[BlockedPromotion] = []
    used: set[str] = set()
    applied: list[str] = []
    exclusive: str | None = None
    groups: dict[str, str] = {}
    ordered = sorted(by_id.values(), key=lambda p: (p.stage.rank, p.priority, p.id))
    for promotion in ordered:
        if not promotion.is_eligible(context):
            continue
        coupon = None
        if promotion.requires_coupon:
            coupon = unlocked.get(promotion.id)
            if coupon is None:
                continue
            if coupon.min_spend is not None:
                base = promotion._base(env)
                if base < coupon.min_spend.get_amount_in_sub_unit():
                    reject(
                        coupon.code,
                        CouponRejectReason.MIN_SPEND_NOT_MET,
                        f"Coupon {coupon.code} needs a minimum spend of {_show(coupon.min_spend)}; "
                        f"the eligible amount is {_show(env.money(base))}",
                    )
                    continue
        plan = promotion._plan(env)
        if plan is None or not plan.effective:
            if coupon is not None:
                reject(
                    coupon.code,
                    CouponRejectReason.NOT_APPLICABLE,
                    f"Coupon {coupon.code} does not apply to anything in this cart",
                )
            continue
        block = _blocker(promotion, exclusive, applied, groups)
        if block is not None:
            blocked.append(
                BlockedPromotion(promotion_id=promotion.id, blocked_by=block[0], reason=block[1])
            )
            if coupon is not None:
                reject(
                    coupon.code,
                    CouponRejectReason.NOT_COMBINABLE,
                    f"Coupon {coupon.code} cannot be combined with promotion {block[0]!r}",
                )
            continue
        code: str | None = coupon.code if coupon is not None else None
        if plan.free_shipping is not None:
            offers.append(plan.free_shipping)
        if plan.amounts:
            adjustment, ranks = _adjustment(promotion, plan, env, code)
            adjustments.append(adjustment)
            for (rank, pos), amount in plan.amounts.items():
                line = env.lines[rank]
                line.nets[pos] -= amount
                if plan.markdown:
                    line.prices[pos] -= amount
            if plan.clearance:
                for rank in ranks:
                    env.lines[rank].clearance = True
        if code is not None:
            used.add(code)
        applied.append(promotion.id)
        if promotion.exclusive:
            exclusive = promotion.id
        if promotion.group is not None:
            groups.setdefault(promotion.group, promotion.id)

    return _result(env, adjustments, offers, blocked, entered, rejected, used)


def _result(
    env: _Env,
    adjustments: list[Adjustment],
    offers: list[FreeShipping],
    blocked: list[BlockedPromotion],
    entered: list[str],
    rejected: Mapping[str, CouponRejection],
    used: set[str],
) -> PromotionResult:
    money = env.money
    lines = []
    for line in sorted(env.lines, key=lambda line: line.index):
        list_price = line.line.unit_price.get_amount_in_sub_unit()
        subtotal = list_price * len(line.nets)
        net = sum(line.nets)
        lines.append(
            LinePricing(
                index=line.index,
                sku=line.sku,
                quantity=len(line.nets),
                list_price=money(list_price),
                unit_price=money(min(line.prices)),
                unit_prices=tuple(money(price) for price in line.prices),
                unit_nets=tuple(money(unit) for unit in line.nets),
                subtotal=money(subtotal),
                discount_total=money(subtotal - net),
                net_total=money(net),
                clearance=line.clearance,
            )
        )
    subtotal = sum(
        line.line.unit_price.get_amount_in_sub_unit() * len(line.nets) for line in env.lines
    )
    net = sum(sum(line.nets) for line in env.lines)
    return PromotionResult(
        currency=env.currency,
        lines=tuple(lines),
        adjustments=tuple(adjustments),
        free_shipping=tuple(offers),
        rejected_coupons=tuple(rejected[code] for code in entered if code in rejected),
        applied_coupons=tuple(code for code in entered if code in used),
        blocked=tuple(blocked),
        subtotal=money(subtotal),
        discount_total=money(subtotal - net),
        net_total=money(net),
    )
