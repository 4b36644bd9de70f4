"""Shipping fees: zones, services and their rates, surcharges, free shipping and rate shopping.

A `ShippingTable` holds, in one currency, the **zones** a shop ships to (in
declared order: the first zone that matches an address is that address's
zone) and the **services** it offers: home delivery (宅配), the post office,
convenience-store pickup (超商取貨), pickup in the shop's own store, a same-day
rider. Each service says, per zone, how its base fee is worked out (a
`RateRule`), how many days delivery takes and any remote-area surcharge, and,
for the whole service, what it will carry (`ParcelLimits`, forbidden handling
flags, a maximum declared value), whether it collects cash on delivery and
any fuel surcharge.

`rate_shop` prices a shipment with every service and returns a
`ShippingQuote`: the eligible options sorted by fee, then by the most days
they may take, then by service id, each with its fee broken down into
labelled components; and, for every other service, a `NotEligible` that says
why it was left out. `quote_service` prices one service and raises its
`NotEligible` instead.

Units: weights in grams, lengths in centimetres, transit in days. How units
are put into parcels and what chargeable weight means is explained in
`fourflows.logistics.packing`; weight-tier fees are charged per parcel.

Every fee component is rounded half-up to the table's precision (by default
the currency's minor unit; `ShippingTable.example_taiwan` uses whole dollars)
and the fee is their sum, so a breakdown always adds up to its fee.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterable, Iterator, Sequence
from decimal import Context, Decimal
from typing import Any, TypeAlias

import attrs

from fourflows._sets import name_set
from fourflows.commerce.catalog import Handling, Product, handling_flags
from fourflows.errors import CurrencyMismatch, FloatNotAllowed, InvalidInput, NotEligible, NotFound
from fourflows.geo import Address, country_code
from fourflows.logistics.packing import Parcel, ParcelLimits, pack
from fourflows.money import Money, Precision, Rounding, currency_code, round_money, sum_money

__all__ = [
    "CashOnDelivery",
    "FeeComponent",
    "Flat",
    "FreeShippingOffer",
    "PerItem",
    "PostalRange",
    "RateRule",
    "ServiceKind",
    "ShipmentItem",
    "ShippingOption",
    "ShippingQuote",
    "ShippingService",
    "ShippingTable",
    "ValueTier",
    "ValueTiers",
    "WeightTier",
    "WeightTiers",
    "Zone",
    "ZoneRate",
    "quote_service",
    "rate_shop",
]

_CTX = Context(prec=60)
_SERVICE = "shipping service"


# --- small validators -------------------------------------------------------------------------


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must be a non-empty string, not {value!r}")
    return value.strip()


def _name(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _text(value, attribute.name)


def _money(value: object, what: str) -> Money:
    if not isinstance(value, Money):
        raise InvalidInput(f"{what} must be Money, not {value!r}")
    if value.amount < 0:
        raise InvalidInput(f"{what} cannot be negative: {value}; use 0 or more")
    return value


def _fee(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _money(value, attribute.name)


def _optional_fee(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _money(value, attribute.name)


def _grams(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{what} must be a whole number of grams, 0 or more, not {value!r}")
    return value


def _percent(value: object) -> Decimal:
    if isinstance(value, float):
        raise FloatNotAllowed(value, "a fuel surcharge percentage")
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise InvalidInput(f"a fuel surcharge percentage must be a Decimal, not {value!r}")
    try:
        number = Decimal(value)
    except ArithmeticError:
        raise InvalidInput(f"a fuel surcharge percentage {value!r} is not a number") from None
    if not number.is_finite() or number < 0:
        raise InvalidInput(f"a fuel surcharge percentage must be 0 or more, not {value!r}")
    return number


def _names(value: Iterable[str] | str) -> frozenset[str]:
    return name_set(value, "a service id")


def _zone_id(value: object) -> str:
    return _text(value, "a zone id")


def _service_id(value: object) -> str:
    return _text(value, "a service id")


def _tier_grams(value: object) -> int:
    return _grams(value, "a weight tier's up_to_g")


def _tuple(value: object, what: str) -> tuple[Any, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInput(f"{what} must be a list or tuple, not {value!r}")
    return tuple(value)


def _pair(value: object, what: str) -> tuple[Any, Any]:
    items = _tuple(value, what)
    if len(items) != 2:
        raise InvalidInput(f"{what} must be a pair, not {value!r}")
    return (items[0], items[1])


# --- zones ------------------------------------------------------------------------------------


@attrs.frozen
class PostalRange:
    """Postal codes whose first characters fall from ``first`` to ``last`` inclusive.

    ``first`` and ``last`` have the same length n; a postal code matches when
    its first n characters lie between them (digits compare as numbers, since
    the lengths are equal). ``PostalRange("880", "885")`` covers Penghu's
    880–885 and also the 5-digit codes 88041 or 88500. A single prefix is a
    range of one: ``PostalRange("929", "929")``.

    >>> PostalRange("880", "885").matches("88041")
    True
    >>> PostalRange("880", "885").matches("886")
    False
    """

    first: str = attrs.field()
    last: str = attrs.field()

    @first.validator
    def _check_first(self, _: object, value: object) -> None:
        self._bound(value)

    @last.validator
    def _check_last(self, _: object, value: object) -> None:
        self._bound(value)
        if len(value) != len(self.first) or value < self.first:  # type: ignore[arg-type,operator]
            raise InvalidInput(
                f"postal range {self.first!r}–{value!r} must run from low to high between "
                "codes of the same length, e.g. '880'–'885'"
            )

    @staticmethod
    def _bound(value: object) -> None:
        if not isinstance(value, str) or not value.isalnum() or value != value.upper():
            raise InvalidInput(
                f"a postal range bound must be upper-case letters or digits, like '880', "
                f"not {value!r}"
            )

    @classmethod
    def parse(cls, value: object) -> PostalRange:
        """Read ``"880"`` (a prefix), ``"880-885"`` (a range), a pair or a `PostalRange`."""
        if isinstance(value, PostalRange):
            return value
        if isinstance(value, str):
            first, dash, last = value.strip().upper().partition("-")
            return cls(first.strip(), last.strip() if dash else first.strip())
        if isinstance(value, tuple | list) and len(value) == 2:
            first, last = value
            if isinstance(first, str) and isinstance(last, str):
                return cls(first.strip().upper(), last.strip().upper())
        raise InvalidInput(
            f"a postal code matcher is a prefix '880', a range '880-885' or a pair, not {value!r}"
        )

    def matches(self, postal_code: str) -> bool:
        """Whether ``postal_code`` (already normalised, as `Address` keeps it) is in range."""
        head = postal_code[: len(self.first)]
        return len(head) == len(self.first) and self.first <= head <= self.last

    def __str__(self) -> str:
        return self.first if self.first == self.last else f"{self.first}-{self.last}"


def _countries(value: Iterable[str] | str) -> frozenset[str]:
    if isinstance(value, str):
        value = (value,)
    return frozenset(country_code(code) for code in value)


def _regions(value: Iterable[str] | str) -> frozenset[str]:
    if isinstance(value, str):
        value = (value,)
    return frozenset(_text(code, "a region code").upper() for code in value)


def _postal_ranges(value: Iterable[object] | str) -> tuple[PostalRange, ...]:
    if isinstance(value, str):
        value = (value,)
    return tuple(PostalRange.parse(item) for item in value)


@attrs.frozen(kw_only=True)
class Zone:
    """Where a rate applies: some countries, refined by regions or postal codes.

    An address is in the zone when its country is one of ``countries`` (any
    country when empty) and, if the zone lists ``regions`` or
    ``postal_codes``, its region (ISO 3166-2, such as ``"TW-PEN"``) is one
    of them or its postal code matches one of them. A zone must have at least
    one matcher, and postal codes need ``countries`` (codes repeat across
    countries). In a `ShippingTable` the first zone that matches wins.

    >>> islands = Zone(id="tw-islands", name="Outlying islands", countries=["TW"],
    ...                regions=["TW-PEN"], postal_codes=["880-885", "890-896"])
    >>> islands.matches(Address(country="TW", postal_code="880"))
    True
    >>> islands.matches(Address(country="TW", postal_code="100"))
    False
    """

    id: str = attrs.field(converter=_zone_id)
    name: str = attrs.field(validator=_name)
    countries: frozenset[str] = attrs.field(default=frozenset(), converter=_countries)
    regions: frozenset[str] = attrs.field(default=frozenset(), converter=_regions)
    postal_codes: tuple[PostalRange, ...] = attrs.field(default=(), converter=_postal_ranges)

    def __attrs_post_init__(self) -> None:
        if not (self.countries or self.regions or self.postal_codes):
            raise InvalidInput(
                f"zone {self.id!r} has no matcher; give it countries, regions or postal codes"
            )
        if self.postal_codes and not self.countries:
            raise InvalidInput(
                f"zone {self.id!r} matches postal codes but names no country; postal codes "
                "repeat across countries, so add countries=['TW'] (or the right ones)"
            )

    def matches(self, address: Address) -> bool:
        """Whether ``address`` is in this zone."""
        if self.countries and address.country not in self.countries:
            return False
        if not (self.regions or self.postal_codes):
            return True
        if address.region is not None and address.region in self.regions:
            return True
        return bool(address.postal_code) and any(
            postal.matches(address.postal_code) for postal in self.postal_codes
        )


# --- rate rules -------------------------------------------------------------------------------


@attrs.frozen
class Flat:
    """One fee for the whole shipment, or for each parcel when ``per_parcel`` is true."""

    fee: Money = attrs.field(validator=_fee)
    per_parcel: bool = attrs.field(default=False, kw_only=True)


@attrs.frozen
class PerItem:
    """A fee for every unit shipped (three mugs pay three times)."""

    fee: Money = attrs.field(validator=_fee)


@attrs.frozen
class WeightTier:
    """The fee of a parcel whose chargeable weight is at most ``up_to_g`` grams."""

    up_to_g: int = attrs.field(converter=_tier_grams)
    fee: Money = attrs.field(validator=_fee)


def _weight_tiers(value: object) -> tuple[WeightTier, ...]:
    tiers = tuple(
        t if isinstance(t, WeightTier) else WeightTier(*_pair(t, "a weight tier (up_to_g, fee)"))
        for t in _tuple(value, "weight tiers")
    )
    if not tiers:
        raise InvalidInput(
            "weight tiers need at least one tier, e.g. [(1000, Money('100', 'TWD'))]"
        )
    for lower, upper in itertools.pairwise(tiers):
        if upper.up_to_g <= lower.up_to_g:
            raise InvalidInput(
                f"weight tiers must rise: {upper.up_to_g} g comes after {lower.up_to_g} g"
            )
        if upper.fee < lower.fee:
            raise InvalidInput(
                f"a heavier tier cannot cost less: {upper.fee} up to {upper.up_to_g} g "
                f"after {lower.fee} up to {lower.up_to_g} g"
            )
    return tiers


@attrs.frozen
class WeightTiers:
    """Per parcel, the fee of the first tier that holds its chargeable weight.

    Tiers rise in weight and never fall in fee. A parcel heavier than the last
    tier cannot be priced, so the service is not eligible (code
    ``"weight_tier"``).

    >>> tiers = WeightTiers([(1000, Money("100", "TWD")), (5000, Money("150", "TWD"))])
    >>> tiers.fee_for(1500)
    Money('150', 'TWD')
    """

    tiers: tuple[WeightTier, ...] = attrs.field(converter=_weight_tiers)

    def fee_for(self, chargeable_g: int) -> Money | None:
        """The fee for one parcel of ``chargeable_g`` grams, or ``None`` above the last tier."""
        for tier in self.tiers:
            if chargeable_g <= tier.up_to_g:
                return tier.fee
        return None


@attrs.frozen
class ValueTier:
    """The fee when the goods are worth ``from_value`` or more."""

    from_value: Money = attrs.field(validator=_fee)
    fee: Money = attrs.field(validator=_fee)


def _value_tiers(value: object) -> tuple[ValueTier, ...]:
    tiers = tuple(
        t if isinstance(t, ValueTier) else ValueTier(*_pair(t, "a value tier (from_value, fee)"))
        for t in _tuple(value, "order-value tiers")
    )
    if not tiers or tiers[0].from_value.amount != 0:
        raise InvalidInput("order-value tiers must start with a tier from 0")
    for lower, upper in itertools.pairwise(tiers):
        if upper.from_value <= lower.from_value:
            raise InvalidInput(
                f"order-value tiers must rise: {upper.from_value} comes after {lower.from_value}"
            )
    return tiers


@attrs.frozen
class ValueTiers:
    """One fee for the shipment, from the highest tier the goods value reaches.

    >>> tiers = ValueTiers([(Money("0", "TWD"), Money("120", "TWD")),
    ...                     (Money("1000", "TWD"), Money("60", "TWD"))])
    >>> tiers.fee_for(Money("1000", "TWD"))
    Money('60', 'TWD')
    """

    tiers: tuple[ValueTier, ...] = attrs.field(converter=_value_tiers)

    def fee_for(self, goods_value: Money) -> Money:
        """The fee for goods worth ``goods_value``."""
        fee = self.tiers[0].fee
        for tier in self.tiers:
            if goods_value >= tier.from_value:
                fee = tier.fee
        return fee


RateRule: TypeAlias = Flat | PerItem | WeightTiers | ValueTiers
"""How a service's base fee is worked out in a zone."""


def _rule(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Flat | PerItem | WeightTiers | ValueTiers):
        raise InvalidInput(
            f"a rate rule must be Flat, PerItem, WeightTiers or ValueTiers, not {value!r}"
        )


def _rule_monies(rule: RateRule) -> Iterator[Money]:
    if isinstance(rule, Flat | PerItem):
        yield rule.fee
    elif isinstance(rule, WeightTiers):
        yield from (tier.fee for tier in rule.tiers)
    else:
        for value_tier in rule.tiers:
            yield value_tier.from_value
            yield value_tier.fee


# --- services ---------------------------------------------------------------------------------


class ServiceKind(enum.Enum):
    """How the customer receives the parcel."""

    HOME = "home"
    """Delivered to the address (宅配, the post office)."""
    PICKUP_STORE = "pickup_store"
    """Collected at one of the shop's own stores (門市自取, buy online, pick up in store)."""
    PICKUP_CVS = "pickup_cvs"
    """Collected at a convenience store (超商取貨)."""
    SAME_DAY = "same_day"
    """Brought the same day by a rider."""


def _kind(value: object) -> ServiceKind:
    try:
        return ServiceKind(value)
    except ValueError:
        allowed = ", ".join(kind.value for kind in ServiceKind)
        raise InvalidInput(f"unknown service kind {value!r}; allowed: {allowed}") from None


def _transit(value: object) -> tuple[int, int]:
    pair = _tuple(value, "transit days (min, max)")
    if len(pair) != 2 or not all(
        isinstance(day, int) and not isinstance(day, bool) and day >= 0 for day in pair
    ):
        raise InvalidInput(f"transit days must be (min, max) whole days, 0 or more, not {value!r}")
    low, high = pair
    if low > high:
        raise InvalidInput(f"transit days must be (min, max) with min <= max, not {value!r}")
    return (low, high)


def _zone_ids(value: Iterable[str] | str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    ids = tuple(_text(zone, "a zone id") for zone in value)
    if not ids:
        raise InvalidInput("a zone rate needs at least one zone id")
    return ids


@attrs.frozen(kw_only=True)
class ZoneRate:
    """A service's terms in some zones: its rate rule, transit days and remote-area surcharge.

    ``transit_days`` is (min, max) whole days from dispatch to delivery (or
    to ready for pickup); the delivery-promise module turns it into dates.
    """

    zones: tuple[str, ...] = attrs.field(converter=_zone_ids)
    rule: RateRule = attrs.field(validator=_rule)
    transit_days: tuple[int, int] = attrs.field(converter=_transit)
    remote_surcharge: Money | None = attrs.field(default=None, validator=_optional_fee)


@attrs.frozen(kw_only=True)
class CashOnDelivery:
    """A service collects cash on delivery (貨到付款) for ``fee``, up to ``max_value``.

    ``max_value`` caps the amount collected, which is the goods value plus
    the shipping fee; above it the service is not eligible (code ``"cod_cap"``).
    """

    fee: Money = attrs.field(validator=_fee)
    max_value: Money | None = attrs.field(default=None, validator=_optional_fee)


def _limits(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, ParcelLimits):
        raise InvalidInput(f"limits must be ParcelLimits, not {value!r}")


def _divisor(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(
            f"a volumetric divisor is a whole number of cm³ per kg such as 5000, not {value!r}"
        )
    return value


def _step(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"a weight step is a whole number of grams above 0, not {value!r}")
    return value


def _rates(value: object) -> tuple[ZoneRate, ...]:
    rates = _tuple(value, "a service's rates")
    if not rates or not all(isinstance(rate, ZoneRate) for rate in rates):
        raise InvalidInput(f"a service needs one or more ZoneRate values, not {value!r}")
    seen: set[str] = set()
    for rate in rates:
        for zone in rate.zones:
            if zone in seen:
                raise InvalidInput(f"zone {zone!r} has two rates in one service")
            seen.add(zone)
    return rates


def _cod(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, CashOnDelivery):
        raise InvalidInput(f"cod must be CashOnDelivery or None, not {value!r}")


@attrs.frozen(kw_only=True)
class ShippingService:
    """A way to ship: its rates per zone and everything that limits what it carries.

    ``volumetric_divisor`` (cm³ per kg; ``None`` for actual weight only) and
    ``weight_step_g`` decide each parcel's chargeable weight; ``limits`` the
    largest parcel; ``forbidden_handling`` the product handling flags it
    refuses; ``max_declared_value`` the most the goods may be worth;
    ``cod`` whether and for how much it collects cash on delivery;
    ``fuel_surcharge_percent`` a percentage of the base fee added on top.
    """

    id: str = attrs.field(converter=_service_id)
    name: str = attrs.field(validator=_name)
    kind: ServiceKind = attrs.field(converter=_kind)
    rates: tuple[ZoneRate, ...] = attrs.field(converter=_rates)
    limits: ParcelLimits = attrs.field(factory=ParcelLimits, validator=_limits)
    volumetric_divisor: int | None = attrs.field(default=None, converter=_divisor)
    weight_step_g: int = attrs.field(default=1, converter=_step)
    forbidden_handling: frozenset[Handling] = attrs.field(
        default=frozenset(), converter=handling_flags
    )
    max_declared_value: Money | None = attrs.field(default=None, validator=_optional_fee)
    cod: CashOnDelivery | None = attrs.field(default=None, validator=_cod)
    fuel_surcharge_percent: Decimal = attrs.field(default=Decimal(0), converter=_percent)

    def rate_for(self, zone_id: str) -> ZoneRate | None:
        """The service's terms in zone ``zone_id``, or ``None`` if it does not go there."""
        for rate in self.rates:
            if zone_id in rate.zones:
                return rate
        return None

    def monies(self) -> Iterator[Money]:
        """Every amount the service declares (rates, surcharges, caps), for currency checks."""
        for rate in self.rates:
            yield from _rule_monies(rate.rule)
            if rate.remote_surcharge is not None:
                yield rate.remote_surcharge
        if self.max_declared_value is not None:
            yield self.max_declared_value
        if self.cod is not None:
            yield self.cod.fee
            if self.cod.max_value is not None:
                yield self.cod.max_value


# --- the table --------------------------------------------------------------------------------


def _zones(value: object) -> tuple[Zone, ...]:
    zones = _tuple(value, "a table's zones")
    if not zones or not all(isinstance(zone, Zone) for zone in zones):
        raise InvalidInput(f"a shipping table needs one or more Zone values, not {value!r}")
    ids = [zone.id for zone in zones]
    twice = sorted({zone for zone in ids if ids.count(zone) > 1})
    if twice:
        raise InvalidInput(f"zone ids must be unique; repeated: {', '.join(twice)}")
    return zones


def _services(value: object) -> tuple[ShippingService, ...]:
    services = _tuple(value, "a table's services")
    if not services or not all(isinstance(service, ShippingService) for service in services):
        raise InvalidInput(
            f"a shipping table needs one or more ShippingService values, not {value!r}"
        )
    ids = [service.id for service in services]
    twice = sorted({service for service in ids if ids.count(service) > 1})
    if twice:
        raise InvalidInput(f"service ids must be unique; repeated: {', '.join(twice)}")
    return services


def _precision(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, Precision):
        raise InvalidInput(f"precision must be a Precision or None, not {value!r}")


@attrs.frozen(kw_only=True)
class ShippingTable:
    """The zones and services of a shop, with every amount in ``currency``.

    ``precision`` is what each fee component is rounded to (half-up); by
    default the currency's minor unit. Every zone a service names must be
    declared, and every amount must be in ``currency`` (`CurrencyMismatch`).
    """

    currency: str = attrs.field(converter=currency_code)
    zones: tuple[Zone, ...] = attrs.field(converter=_zones)
    services: tuple[ShippingService, ...] = attrs.field(converter=_services)
    precision: Precision | None = attrs.field(default=None, validator=_precision)

    def __attrs_post_init__(self) -> None:
        known = {zone.id for zone in self.zones}
        for service in self.services:
            for rate in service.rates:
                for zone in rate.zones:
                    if zone not in known:
                        raise InvalidInput(
                            f"service {service.id!r} has a rate for zone {zone!r}, which the "
                            f"table does not declare; declared: {', '.join(sorted(known))}"
                        )
            for amount in service.monies():
                if amount.code != self.currency:
                    raise CurrencyMismatch(self.currency, amount.code, f"use in {service.id!r}")

    @property
    def fee_precision(self) -> Precision:
        """The precision fee components are rounded to."""
        return self.precision or Precision.minor_unit(self.currency)

    def zone_for(self, address: Address) -> Zone | None:
        """The first zone, in declared order, that ``address`` is in; ``None`` if none."""
        for zone in self.zones:
            if zone.matches(address):
                return zone
        return None

    def service(self, service_id: str) -> ShippingService:
        """The service called ``service_id``; `NotFound` if the table has none."""
        for service in self.services:
            if service.id == service_id:
                return service
        raise NotFound(_SERVICE, service_id, (service.id for service in self.services))

    @classmethod
    def example_taiwan(cls) -> ShippingTable:
        """A ready-made Taiwanese table in whole TWD, for demos, tests and a starting point.

        Zones, in order: ``tw-islands`` (Penghu, Kinmen and Matsu by region
        and postal code: 880–885, 890–896, 209–212; also Xiaoliuqiu 929,
        Green Island 951 and Orchid Island 952), ``tw-taipei`` (TW-TPE, postal
        100–116) and ``tw-main`` (the rest of Taiwan). Services:

        * ``home`` 宅配: weight tiers per parcel on chargeable weight (divisor
          6000, 500 g steps; 1 kg 100, 5 kg 150, 10 kg 200, 20 kg 260),
          +100 on the islands, COD 30 up to 20,000, no hazardous goods.
        * ``post`` 郵局: the same price everywhere by actual weight in 1 kg
          steps (1 kg 80, 5 kg 120, 10 kg 170, 20 kg 230), no batteries.
        * ``cvs`` 超商取貨: 60 a parcel, at most 5 kg and 45×30×30 cm, COD
          free up to 20,000, no hazardous or perishable goods.
        * ``store`` 門市自取: free pickup in the shop's store, pay at pickup.
        * ``rider``: a same-day rider in Taipei only, 150, up to 10 kg and 60 cm.

        The figures are plausible, not any carrier's price list.
        """
        twd = "TWD"

        def nt(amount: int) -> Money:
            return Money(amount, twd)

        mainland = ("tw-taipei", "tw-main")
        zones = (
            Zone(
                id="tw-islands",
                name="Taiwan outlying islands (離島)",
                countries=["TW"],
                regions=["TW-PEN", "TW-KIN", "TW-LIE"],
                postal_codes=["880-885", "890-896", "209-212", "929", "951", "952"],
            ),
            Zone(
                id="tw-taipei",
                name="Taipei City (台北市)",
                countries=["TW"],
                regions=["TW-TPE"],
                postal_codes=["100-116"],
            ),
            Zone(id="tw-main", name="Taiwan main island (本島)", countries=["TW"]),
        )
        home_tiers = WeightTiers(
            [(1000, nt(100)), (5000, nt(150)), (10000, nt(200)), (20000, nt(260))]
        )
        post_tiers = WeightTiers(
            [(1000, nt(80)), (5000, nt(120)), (10000, nt(170)), (20000, nt(230))]
        )
        services = (
            ShippingService(
                id="home",
                name="Home delivery (宅配)",
                kind=ServiceKind.HOME,
                rates=[
                    ZoneRate(zones=mainland, rule=home_tiers, transit_days=(1, 2)),
                    ZoneRate(
                        zones="tw-islands",
                        rule=home_tiers,
                        transit_days=(3, 5),
                        remote_surcharge=nt(100),
                    ),
                ],
                limits=ParcelLimits(
                    max_weight_g=20000, max_side_cm=150, max_length_plus_girth_cm=300
                ),
                volumetric_divisor=6000,
                weight_step_g=500,
                forbidden_handling={Handling.HAZARDOUS},
                cod=CashOnDelivery(fee=nt(30), max_value=nt(20000)),
            ),
            ShippingService(
                id="post",
                name="Post office parcel (郵局)",
                kind=ServiceKind.HOME,
                rates=[
                    ZoneRate(zones=mainland, rule=post_tiers, transit_days=(2, 3)),
                    ZoneRate(zones="tw-islands", rule=post_tiers, transit_days=(3, 6)),
                ],
                limits=ParcelLimits(
                    max_weight_g=20000, max_side_cm=150, max_length_plus_girth_cm=300
                ),
                weight_step_g=1000,
                forbidden_handling={Handling.BATTERY, Handling.HAZARDOUS},
            ),
            ShippingService(
                id="cvs",
                name="Convenience-store pickup (超商取貨)",
                kind=ServiceKind.PICKUP_CVS,
                rates=[
                    ZoneRate(
                        zones=(*mainland, "tw-islands"),
                        rule=Flat(nt(60), per_parcel=True),
                        transit_days=(2, 3),
                    )
                ],
                limits=ParcelLimits(max_weight_g=5000, max_box_cm=(45, 30, 30)),
                forbidden_handling={Handling.HAZARDOUS, Handling.PERISHABLE},
                cod=CashOnDelivery(fee=nt(0), max_value=nt(20000)),
            ),
            ShippingService(
                id="store",
                name="In-store pickup (門市自取)",
                kind=ServiceKind.PICKUP_STORE,
                rates=[ZoneRate(zones=mainland, rule=Flat(nt(0)), transit_days=(1, 2))],
                cod=CashOnDelivery(fee=nt(0)),
            ),
            ShippingService(
                id="rider",
                name="Same-day rider (Taipei)",
                kind=ServiceKind.SAME_DAY,
                rates=[ZoneRate(zones="tw-taipei", rule=Flat(nt(150)), transit_days=(0, 0))],
                limits=ParcelLimits(max_weight_g=10000, max_side_cm=60),
                forbidden_handling={Handling.HAZARDOUS},
            ),
        )
        return cls(currency=twd, zones=zones, services=services, precision=Precision.cash(twd))


# --- what is shipped, and the free-shipping offer ---------------------------------------------


def _product(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Product):
        raise InvalidInput(f"a shipment item needs a Product, not {value!r}")


def _quantity(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInput(f"a quantity must be a whole number above 0, not {value!r}")


@attrs.frozen
class ShipmentItem:
    """``quantity`` units of ``product``, each worth ``unit_value`` (its price unless given).

    ``unit_value`` is what one unit is worth to the order after discounts;
    it counts for order-value tiers, the declared value and the COD cap.
    """

    product: Product = attrs.field(validator=_product)
    quantity: int = attrs.field(validator=_quantity)
    unit_value: Money = attrs.field()

    @unit_value.default
    def _price(self) -> Money:
        if not isinstance(self.product, Product):
            raise InvalidInput(f"a shipment item needs a Product, not {self.product!r}")
        return self.product.price

    @unit_value.validator
    def _check_value(self, _: object, value: object) -> None:
        money = _money(value, "a unit value")
        if money.currency != self.product.price.currency:
            raise CurrencyMismatch(self.product.price.code, money.code, "value a shipment item")

    @property
    def value(self) -> Money:
        """Unit value times quantity."""
        return self.unit_value * self.quantity


@attrs.frozen(kw_only=True)
class FreeShippingOffer:
    """Free shipping granted by a promotion, for the promotions engine to hand to `rate_shop`.

    It covers the services listed in ``services`` (every service when
    empty) and waives their whole fee, base and surcharges, or at most
    ``max_fee`` of it. The waiver shows in the breakdown as a
    ``"free_shipping"`` component labelled ``label``. Offers do not add up:
    given several, `rate_shop` applies to each service the one that waives
    the most.
    """

    label: str = attrs.field(default="Free shipping", validator=_name)
    promotion_id: str | None = None
    services: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    max_fee: Money | None = attrs.field(default=None, validator=_optional_fee)

    def covers(self, service_id: str) -> bool:
        """Whether the offer applies to ``service_id``."""
        return not self.services or service_id in self.services


# --- the result -------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class FeeComponent:
    """One line of a fee breakdown; ``code`` is stable, ``label`` is for people.

    Codes: ``"base"``, ``"remote_area"``, ``"fuel"``, ``"cod_fee"`` and
    ``"free_shipping"`` (negative: what an offer waived, with its
    ``promotion_id``).
    """

    code: str
    label: str
    amount: Money
    promotion_id: str | None = None


@attrs.frozen(kw_only=True)
class ShippingOption:
    """One service that can carry the shipment, with its fee, parcels and transit days.

    ``fee`` is the sum of ``breakdown``. ``cod`` says whether cash on
    delivery applies; ``cod_amount`` is then the amount collected (goods
    value plus this fee), which is what the COD cap was checked against.
    """

    service_id: str
    name: str
    kind: ServiceKind
    zone_id: str
    fee: Money
    breakdown: tuple[FeeComponent, ...]
    parcels: tuple[Parcel, ...]
    transit_days: tuple[int, int]
    cod: bool = False
    cod_amount: Money | None = None

    def amount(self, code: str) -> Money:
        """The amount of breakdown component ``code``; zero when there is none."""
        return sum_money(
            (part.amount for part in self.breakdown if part.code == code),
            currency=self.fee.code,
        )


@attrs.frozen(kw_only=True)
class ShippingQuote:
    """What `rate_shop` found: the options, cheapest first, and why the others were left out.

    ``options`` are sorted by fee, then by the most transit days, then by
    service id. ``ineligible`` holds one `NotEligible` per other service,
    in table order; its ``key`` is the service id.
    """

    zone: Zone | None
    options: tuple[ShippingOption, ...]
    ineligible: tuple[NotEligible, ...]

    @property
    def cheapest(self) -> ShippingOption | None:
        """The first option, or ``None`` if no service can carry the shipment."""
        return self.options[0] if self.options else None

    def option(self, service_id: str) -> ShippingOption:
        """The option of ``service_id``.

        Raises that service's `NotEligible` if it was left out, and `NotFound`
        if the quote never heard of it.
        """
        for option in self.options:
            if option.service_id == service_id:
                return option
        for refusal in self.ineligible:
            if refusal.key == service_id:
                raise refusal
        known = [o.service_id for o in self.options] + [r.key for r in self.ineligible]
        raise NotFound(_SERVICE, service_id, known)

    def reasons(self) -> dict[str, str]:
        """Why each ineligible service was left out, by service id."""
        return {refusal.key: refusal.reason for refusal in self.ineligible}

    def explain(self) -> str:
        """The quote as text: each option with its breakdown, then the reasons."""
        where = f"{self.zone.id}, {self.zone.name}" if self.zone else "an address in no zone"
        lines = [f"Shipping to {where}:"]
        for option in self.options:
            days = _days(option.transit_days)
            cod = ", cash on delivery" if option.cod else ""
            count = len(option.parcels)
            lines.append(
                f"  {option.service_id}: {option.name}: {option.fee} "
                f"({days}, {count} parcel{'s' if count != 1 else ''}{cod})"
            )
            lines.extend(f"      {part.label}: {part.amount}" for part in option.breakdown)
        if self.ineligible:
            lines.append("Not eligible:")
            lines.extend(f"  {refusal.key}: {refusal.reason}" for refusal in self.ineligible)
        return "\n".join(lines)


def _days(transit: tuple[int, int]) -> str:
    low, high = transit
    if high == 0:
        return "same day"
    if low == high:
        return f"{low} day{'s' if low != 1 else ''}"
    return f"{low}-{high} days"


# --- pricing ----------------------------------------------------------------------------------


class _Refused(Exception):
    """A service cannot carry the shipment; becomes `NotEligible` with the service's id."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _where(address: Address) -> str:
    parts = [address.country]
    if address.region:
        parts.append(address.region)
    if address.postal_code:
        parts.append(address.postal_code)
    return " ".join(parts)


def _pack(service: ShippingService, items: Sequence[ShipmentItem]) -> tuple[Parcel, ...]:
    try:
        return pack(
            items,
            service.limits,
            volumetric_divisor=service.volumetric_divisor,
            weight_step_g=service.weight_step_g,
        )
    except NotEligible as refusal:
        raise _Refused(refusal.code, f"{refusal.key}: {refusal.reason}") from None


def _base(
    rule: RateRule, parcels: Sequence[Parcel], items: Sequence[ShipmentItem], goods: Money
) -> Money:
    if isinstance(rule, Flat):
        return rule.fee * len(parcels) if rule.per_parcel else rule.fee
    if isinstance(rule, PerItem):
        return rule.fee * sum(item.quantity for item in items)
    if isinstance(rule, ValueTiers):
        return rule.fee_for(goods)
    fees = []
    for parcel in parcels:
        fee = rule.fee_for(parcel.chargeable_weight_g)
        if fee is None:
            raise _Refused(
                "weight_tier",
                f"a parcel's chargeable weight of {parcel.chargeable_weight_g} g is above its "
                f"heaviest rate tier of {rule.tiers[-1].up_to_g} g",
            )
        fees.append(fee)
    return sum_money(fees, currency=goods.code)


def _refuse_early(
    service: ShippingService,
    zone: Zone | None,
    ship_to: Address,
    items: Sequence[ShipmentItem],
    goods: Money,
    cod: bool,
) -> tuple[Zone, ZoneRate]:
    """The checks that need no packing: zone, handling, declared value, COD support."""
    if zone is None:
        raise _Refused("no_zone", f"no zone of the table covers {_where(ship_to)}")
    rate = service.rate_for(zone.id)
    if rate is None:
        raise _Refused("no_zone_rate", f"it does not deliver to {zone.name} ({zone.id})")
    refused = sorted(
        (item.product.sku, flag.value)
        for item in items
        for flag in item.product.handling & service.forbidden_handling
    )
    if refused:
        which = ", ".join(f"{sku} ({flag})" for sku, flag in refused)
        raise _Refused("handling", f"it does not carry goods that need special handling: {which}")
    if service.max_declared_value is not None and goods > service.max_declared_value:
        raise _Refused(
            "declared_value",
            f"the goods are worth {goods}, over its declared-value limit of "
            f"{service.max_declared_value}",
        )
    if cod and service.cod is None:
        raise _Refused("cod_unsupported", "it does not collect cash on delivery")
    return zone, rate


def _best_offer(
    service_id: str, charged: Money, offers: Sequence[FreeShippingOffer], precision: Precision
) -> tuple[FreeShippingOffer, Money] | None:
    """The offer that waives the most of ``charged``, and how much; the first one on a tie."""
    best: tuple[FreeShippingOffer, Money] | None = None
    if charged.amount <= 0:
        return None
    for offer in offers:
        if not offer.covers(service_id):
            continue
        waived = charged if offer.max_fee is None else min(charged, offer.max_fee)
        waived = round_money(waived, precision, Rounding.DOWN)
        if waived.amount > 0 and (best is None or waived > best[1]):
            best = (offer, waived)
    return best


def _price(
    service: ShippingService,
    found: Zone | None,
    *,
    ship_to: Address,
    items: Sequence[ShipmentItem],
    goods: Money,
    table: ShippingTable,
    cod: bool,
    offers: Sequence[FreeShippingOffer],
) -> ShippingOption:
    zone, rate = _refuse_early(service, found, ship_to, items, goods, cod)
    parcels = _pack(service, items)
    precision = table.fee_precision

    def rounded(value: Money) -> Money:
        return round_money(value, precision)

    base = rounded(_base(rate.rule, parcels, items, goods))
    count = len(parcels)
    breakdown = [
        FeeComponent(
            code="base",
            label="Base fee" if count == 1 else f"Base fee ({count} parcels)",
            amount=base,
        )
    ]
    if rate.remote_surcharge is not None and rate.remote_surcharge.amount > 0:
        breakdown.append(
            FeeComponent(
                code="remote_area",
                label=f"Remote-area surcharge ({zone.name})",
                amount=rounded(rate.remote_surcharge),
            )
        )
    percent = service.fuel_surcharge_percent
    if percent > 0:
        fuel = Money(_CTX.multiply(base.amount, percent.scaleb(-2)), table.currency)
        breakdown.append(
            FeeComponent(
                code="fuel",
                label=f"Fuel surcharge ({percent.normalize():f}% of the base fee)",
                amount=rounded(fuel),
            )
        )
    if cod and service.cod is not None and service.cod.fee.amount > 0:
        breakdown.append(
            FeeComponent(
                code="cod_fee", label="Cash-on-delivery fee", amount=rounded(service.cod.fee)
            )
        )
    charged = sum_money((part.amount for part in breakdown), currency=table.currency)
    best = _best_offer(service.id, charged, offers, precision)
    if best is not None:
        offer, waived = best
        breakdown.append(
            FeeComponent(
                code="free_shipping",
                label=offer.label,
                amount=-waived,
                promotion_id=offer.promotion_id,
            )
        )
        charged = charged - waived
    cod_amount = None
    if cod and service.cod is not None:
        cod_amount = goods + charged
        cap = service.cod.max_value
        if cap is not None and cod_amount > cap:
            raise _Refused(
                "cod_cap",
                f"cash on delivery would collect {cod_amount} (goods {goods} + shipping "
                f"{charged}), over its cash-on-delivery limit of {cap}",
            )
    return ShippingOption(
        service_id=service.id,
        name=service.name,
        kind=service.kind,
        zone_id=zone.id,
        fee=charged,
        breakdown=tuple(breakdown),
        parcels=parcels,
        transit_days=rate.transit_days,
        cod=cod,
        cod_amount=cod_amount,
    )


def _offers(free_shipping: object, table: ShippingTable) -> tuple[FreeShippingOffer, ...]:
    """``free_shipping`` as a tuple of offers, each checked against ``table``."""
    if free_shipping is None:
        return ()
    if isinstance(free_shipping, FreeShippingOffer):
        offers: tuple[object, ...] = (free_shipping,)
    elif isinstance(free_shipping, Sequence) and not isinstance(free_shipping, str):
        offers = tuple(free_shipping)
    else:
        raise InvalidInput(
            "free_shipping must be a FreeShippingOffer, a list of them or None, "
            f"not {free_shipping!r}"
        )
    checked: list[FreeShippingOffer] = []
    for offer in offers:
        if not isinstance(offer, FreeShippingOffer):
            raise InvalidInput(
                f"free_shipping must hold FreeShippingOffer values only, not {offer!r}"
            )
        if offer.max_fee is not None and offer.max_fee.code != table.currency:
            raise CurrencyMismatch(table.currency, offer.max_fee.code, "waive shipping")
        unknown = sorted(offer.services - {service.id for service in table.services})
        if unknown:
            known = ", ".join(service.id for service in table.services)
            raise InvalidInput(
                f"the free-shipping offer names services the table does not have: "
                f"{', '.join(unknown)}; the table has: {known}"
            )
        checked.append(offer)
    return tuple(checked)


def _checked(
    items: Iterable[ShipmentItem],
    ship_to: Address,
    table: ShippingTable,
    cod: bool,
    free_shipping: object,
) -> tuple[tuple[ShipmentItem, ...], Money, tuple[FreeShippingOffer, ...]]:
    if not isinstance(table, ShippingTable):
        raise InvalidInput(f"table must be a ShippingTable, not {table!r}")
    if not isinstance(ship_to, Address):
        raise InvalidInput(f"ship_to must be an Address, not {ship_to!r}")
    if not isinstance(cod, bool):
        raise InvalidInput(f"cod must be True or False, not {cod!r}")
    if isinstance(items, str) or not isinstance(items, Iterable):
        raise InvalidInput(f"items must be a list of ShipmentItem values, not {items!r}")
    chosen = tuple(items)
    if not chosen:
        raise InvalidInput("there is nothing to ship: items is empty")
    for item in chosen:
        if not isinstance(item, ShipmentItem):
            raise InvalidInput(f"items must be ShipmentItem values, not {item!r}")
        if item.unit_value.code != table.currency:
            raise CurrencyMismatch(table.currency, item.unit_value.code, "ship")
    offers = _offers(free_shipping, table)
    goods = sum_money((item.value for item in chosen), currency=table.currency)
    return chosen, goods, offers


def _option_order(option: ShippingOption) -> tuple[Decimal, int, str]:
    return (option.fee.amount, option.transit_days[1], option.service_id)


def rate_shop(
    items: Iterable[ShipmentItem],
    *,
    ship_to: Address,
    table: ShippingTable,
    cod: bool = False,
    free_shipping: FreeShippingOffer | Sequence[FreeShippingOffer] | None = None,
) -> ShippingQuote:
    """Price ``items`` to ``ship_to`` with every service of ``table``.

    With ``cod=True`` only services that collect cash on delivery, within
    their cap, are eligible. ``free_shipping`` is one offer or several (say,
    every free-shipping promotion a cart won): each service gets the one
    offer that covers it and waives the most of its fee, the earliest listed
    on a tie, and offers never add up. Each service packs the items once,
    whatever the offers. Raises `InvalidInput` for no items or a bad argument
    and `CurrencyMismatch` when an item or an offer is not in the table's
    currency; a service that cannot carry the items is never an error here,
    but a `NotEligible` in ``ineligible``.

    >>> from fourflows.commerce.catalog import Product
    >>> tee = Product(sku="TEE", name="T-shirt", price=Money("590", "TWD"),
    ...               weight_g=200, size_cm=(30, 20, 3))
    >>> quote = rate_shop([ShipmentItem(tee, 2)], ship_to=Address(country="TW", postal_code="880"),
    ...                   table=ShippingTable.example_taiwan())
    >>> [(o.service_id, str(o.fee)) for o in quote.options]
    [('cvs', '60 TWD'), ('post', '80 TWD'), ('home', '200 TWD')]
    >>> sorted(quote.reasons())
    ['rider', 'store']
    >>> offers = [FreeShippingOffer(label="Up to 70 off", max_fee=Money("70", "TWD")),
    ...           FreeShippingOffer(label="Free home delivery", services={"home"})]
    >>> quote = rate_shop([ShipmentItem(tee, 2)], ship_to=Address(country="TW", postal_code="880"),
    ...                   table=ShippingTable.example_taiwan(), free_shipping=offers)
    >>> [(o.service_id, str(o.fee)) for o in quote.options]
    [('cvs', '0 TWD'), ('home', '0 TWD'), ('post', '10 TWD')]
    >>> [part.label for part in quote.option("home").breakdown]
    ['Base fee', 'Remote-area surcharge (Taiwan outlying islands (離島))', 'Free home delivery']
    """
    chosen, goods, offers = _checked(items, ship_to, table, cod, free_shipping)
    zone = table.zone_for(ship_to)
    options: list[ShippingOption] = []
    ineligible: list[NotEligible] = []
    for service in table.services:
        try:
            options.append(
                _price(
                    service,
                    zone,
                    ship_to=ship_to,
                    items=chosen,
                    goods=goods,
                    table=table,
                    cod=cod,
                    offers=offers,
                )
            )
        except _Refused as refused:
            ineligible.append(NotEligible(_SERVICE, service.id, refused.reason, code=refused.code))
    return ShippingQuote(
        zone=zone, options=tuple(sorted(options, key=_option_order)), ineligible=tuple(ineligible)
    )


def quote_service(
    items: Iterable[ShipmentItem],
    service_id: str,
    *,
    ship_to: Address,
    table: ShippingTable,
    cod: bool = False,
    free_shipping: FreeShippingOffer | Sequence[FreeShippingOffer] | None = None,
) -> ShippingOption:
    """Price ``items`` with the one service ``service_id``.

    ``free_shipping`` is applied as in `rate_shop`. Raises `NotEligible` (with
    the reason and its code) when that service cannot carry them, `NotFound`
    when the table has no such service, and otherwise what `rate_shop` raises.
    """
    chosen, goods, offers = _checked(items, ship_to, table, cod, free_shipping)
    service = table.service(service_id)
    try:
        return _price(
            service,
            table.zone_for(ship_to),
            ship_to=ship_to,
            items=chosen,
            goods=goods,
            table=table,
            cod=cod,
            offers=offers,
        )
    except _Refused as refused:
        raise NotEligible(_SERVICE, service.id, refused.reason, code=refused.code) from None
