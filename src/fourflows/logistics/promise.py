"""Delivery promises: from the moment of an order to the dates a customer is promised.

A promise is counted in business days. An `Origin` (a warehouse or store that
ships) has a timezone, a daily cut-off and a number of processing days; a
`BusinessCalendar` says which days it works, from the public holidays of its
country (the ``holidays`` package), its weekend and its own extra closing
days or working days. `promise_window` walks the steps:

1. the order time, read in the origin's timezone;
2. the day processing starts: the order date if the order came in before the
   cut-off on a business day, otherwise the next business day;
3. the ship date: that day plus the processing business days;
4. the earliest and the usual latest delivery: the ship date plus the
   carrier's minimum and maximum transit business days;
5. the promised latest date: the usual latest plus a safety buffer, so that a
   small delay still keeps the promise.

>>> from datetime import datetime, time
>>> from zoneinfo import ZoneInfo
>>> taipei = Origin(id="tpe-1", timezone="Asia/Taipei", cutoff=time(14),
...                 processing_days=1, calendar=BusinessCalendar("TW"))
>>> friday_afternoon = datetime(2026, 3, 13, 16, 0, tzinfo=ZoneInfo("Asia/Taipei"))
>>> window = promise_window(friday_afternoon, origin=taipei, transit_days=(1, 2))
>>> print(window.ships_on, window.earliest, window.latest)
2026-03-17 2026-03-18 2026-03-20
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
import holidays

from fourflows.errors import InvalidInput
from fourflows.events import aware, require_aware

__all__ = ["BusinessCalendar", "DeliveryWindow", "Origin", "promise_window"]

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_EXAMPLE_COUNTRIES = "'TW', 'CN', 'JP', 'DE', 'GB', 'US'"
_LONGEST_CLOSURE = 400
"""Consecutive closed days after which a calendar is taken to be misconfigured."""
_LISTED = 12
"""How many skipped days an explanation names before it only counts the rest."""
_ONE_DAY = timedelta(days=1)


def _day(value: date) -> str:
    """A date with its weekday, the same in every locale: ``Fri 2026-03-13``."""
    return f"{_WEEKDAYS[value.weekday()]} {value.isoformat()}"


def _business_days(count: int) -> str:
    return f"{count} business day" if count == 1 else f"{count} business days"


def _require_date(value: object, what: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidInput(f"{what} must be a datetime.date (not a datetime), not {value!r}")
    return value


def _require_count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{what} must be a whole number of days, 0 or more, not {value!r}")
    return value


# --- holiday data from the `holidays` package, built once per (country, subdiv, year) ---


class _YearDays(NamedTuple):
    holidays: Mapping[date, str]
    make_up_workdays: frozenset[date]


@functools.cache
def _supported_countries() -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType(
        {code: tuple(subdivs) for code, subdivs in holidays.list_supported_countries().items()}
    )


@functools.cache
def _language(country: str) -> str | None:
    """English holiday names where the package has them, else the country's own language.

    The language is always passed explicitly: left unset, the package reads it
    from the environment, and the same calendar would explain itself differently
    on another machine.
    """
    entity = holidays.country_holidays(country)
    default = entity.default_language
    if default is not None and default.startswith("en"):
        return default
    if "en_US" in entity.supported_languages:
        return "en_US"
    return default


@functools.lru_cache(maxsize=1024)
def _year_days(country: str, subdiv: str | None, year: int) -> _YearDays:
    entity = holidays.country_holidays(
        country, subdiv=subdiv, years=year, language=_language(country)
    )
    names = {day: str(name) for day, name in entity.items() if day.year == year}
    # Make-up workdays (補班, 调休): weekend days the government declares working
    # days in exchange for a bridge holiday. The package records them in
    # `weekend_workdays` while it builds a year (not in the WORKDAY category,
    # which lists commemorative days that are not days off).
    workdays = frozenset(day for day in entity.weekend_workdays if day.year == year)
    return _YearDays(MappingProxyType(names), workdays)


# --- the calendar ---


def _country(value: str) -> str:
    code = value.strip().upper() if isinstance(value, str) else value
    if not isinstance(code, str) or code not in _supported_countries():
        raise InvalidInput(
            f"unknown country {value!r} for a business calendar; use an ISO 3166-1 alpha-2 "
            f"code the holidays package covers, e.g. {_EXAMPLE_COUNTRIES}"
        )
    return code


def _subdiv(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"subdiv must be None or a subdivision code such as 'BY', not {value!r}")
    return value.strip()


def _weekend(value: Iterable[int]) -> frozenset[int]:
    try:
        days = frozenset(value)
    except TypeError:
        raise InvalidInput(
            f"weekend must be a set of weekday numbers (0=Monday ... 6=Sunday), not {value!r}"
        ) from None
    for day in days:
        if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6:
            raise InvalidInput(
                f"a weekend day must be a weekday number from 0 (Monday) to 6 (Sunday), not {day!r}"
            )
    if len(days) == 7:
        raise InvalidInput("weekend cannot hold all seven weekdays: no day would be a business day")
    return days


def _dates(value: Iterable[date], what: str) -> frozenset[date]:
    try:
        days = frozenset(value)
    except TypeError:
        raise InvalidInput(f"{what} must be a set of dates, not {value!r}") from None
    for day in days:
        _require_date(day, f"every day in {what}")
    return days


def _extra_holidays(value: Iterable[date]) -> frozenset[date]:
    return _dates(value, "extra_holidays")


def _extra_workdays(value: Iterable[date]) -> frozenset[date]:
    return _dates(value, "extra_workdays")


@attrs.frozen
class BusinessCalendar:
    """Which days a warehouse or carrier works, from a country's public holidays.

    A day is a business day unless it is a public holiday of ``country`` (and
    ``subdiv``, e.g. ``"BY"`` for Bavaria), or a ``weekend`` weekday (0 =
    Monday ... 6 = Sunday) that is not a government make-up workday, or in
    ``extra_holidays``. A day in ``extra_workdays`` is always a business day.
    Calendars are values: equal settings give equal calendars, and the holiday
    data is built once per country, subdivision and year and then reused.
    """

    country: str = attrs.field(converter=_country)
    subdiv: str | None = attrs.field(default=None, kw_only=True, converter=_subdiv)
    weekend: frozenset[int] = attrs.field(
        default=frozenset({5, 6}), kw_only=True, converter=_weekend
    )
    extra_holidays: frozenset[date] = attrs.field(
        default=frozenset(), kw_only=True, converter=_extra_holidays
    )
    extra_workdays: frozenset[date] = attrs.field(
        default=frozenset(), kw_only=True, converter=_extra_workdays
    )

    def __attrs_post_init__(self) -> None:
        if self.subdiv is not None:
            try:
                holidays.country_holidays(self.country, subdiv=self.subdiv)
            except NotImplementedError:
                known = ", ".join(_supported_countries()[self.country]) or "none"
                raise InvalidInput(
                    f"unknown subdivision {self.subdiv!r} of {self.country}; known: {known}"
                ) from None
        both = sorted(self.extra_holidays & self.extra_workdays)
        if both:
            raise InvalidInput(
                "a day cannot be in both extra_holidays and extra_workdays: "
                + ", ".join(day.isoformat() for day in both)
            )

    @property
    def name(self) -> str:
        """The calendar's short name, e.g. ``TW`` or ``DE-BY``."""
        return self.country if self.subdiv is None else f"{self.country}-{self.subdiv}"

    def closure_reason(self, day: date) -> str | None:
        """Why ``day`` is not a business day (a holiday's name, ``weekend``, ...), else None."""
        _require_date(day, "day")
        if day in self.extra_workdays:
            return None
        if day in self.extra_holidays:
            return "extra closing day"
        year = _year_days(self.country, self.subdiv, day.year)
        name = year.holidays.get(day)
        if name is not None:
            return name
        if day.weekday() in self.weekend and day not in year.make_up_workdays:
            return "weekend"
        return None

    def is_business_day(self, day: date) -> bool:
        """Whether the warehouse or carrier works on ``day``."""
        return self.closure_reason(day) is None

    def roll_forward(self, day: date) -> date:
        """``day`` itself if it is a business day, else the next business day."""
        return self._advance(day, 0)[0]

    def next_business_day(self, day: date) -> date:
        """The first business day strictly after ``day``."""
        return self._advance(day, 1)[0]

    def add_business_days(self, day: date, days: int) -> date:
        """The ``days``-th business day after ``day``.

        Days are counted from the day after ``day``; with ``days=0`` the result
        is `roll_forward` of ``day``. From a closed day, 0 and 1 therefore both
        give the next business day.
        """
        return self._advance(day, days)[0]

    def _advance(self, day: date, days: int) -> tuple[date, tuple[date, ...]]:
        """`add_business_days`, with the closed days after ``day`` it passed on the way."""
        _require_date(day, "day")
        _require_count(days, "the number of business days")
        if days == 0 and self.is_business_day(day):
            return day, ()
        remaining = max(days, 1)
        skipped: list[date] = []
        closed_run = 0
        current = day
        while True:
            try:
                current += _ONE_DAY
            except OverflowError:
                raise InvalidInput(
                    f"counting {days} business days from {day.isoformat()} goes past the last "
                    "date Python can represent"
                ) from None
            if self.is_business_day(current):
                remaining -= 1
                if remaining == 0:
                    return current, tuple(skipped)
                closed_run = 0
            else:
                skipped.append(current)
                closed_run += 1
                if closed_run > _LONGEST_CLOSURE:
                    raise InvalidInput(
                        f"calendar {self.name} has no business day in the {_LONGEST_CLOSURE} "
                        f"days after {day.isoformat()}; check its weekend and extra_holidays"
                    )

    def _describe(self, day: date) -> str:
        """A business day for an explanation, noting when it is a weekend day worked."""
        if day.weekday() not in self.weekend:
            return _day(day)
        if day in self.extra_workdays:
            return f"{_day(day)} (an extra workday)"
        return f"{_day(day)} (a make-up workday)"

    def _skipped(self, days: tuple[date, ...]) -> str:
        if not days:
            return ""
        listed = ", ".join(f"{_day(day)} ({self.closure_reason(day)})" for day in days[:_LISTED])
        more = f" and {len(days) - _LISTED} more closed days" if len(days) > _LISTED else ""
        return f", skipping {listed}{more}"


# --- where parcels leave from ---


def _origin_id(value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"an origin id must be a non-empty string, not {value!r}")
    return value.strip()


def _zone(value: ZoneInfo | str) -> ZoneInfo:
    if isinstance(value, ZoneInfo):
        return value
    if isinstance(value, str) and value.strip():
        try:
            return ZoneInfo(value.strip())
        except (ZoneInfoNotFoundError, ValueError):
            pass
    raise InvalidInput(
        f"unknown timezone {value!r}; use an IANA key such as 'Asia/Taipei' or 'Europe/Berlin'"
    )


def _cutoff(value: time | str) -> time:
    if isinstance(value, str):
        try:
            value = time.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInput(
                f"cutoff must be a time of day such as '14:00', not {value!r}"
            ) from None
    if not isinstance(value, time):
        raise InvalidInput(f"cutoff must be a datetime.time or 'HH:MM', not {value!r}")
    if value.tzinfo is not None:
        raise InvalidInput(
            f"cutoff must be a local time without tzinfo (the origin's timezone applies), "
            f"not {value!r}"
        )
    return value


def _processing_days(_: object, attribute: attrs.Attribute[Any], value: int) -> None:
    _require_count(value, attribute.name)


def _calendar(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, BusinessCalendar):
        raise InvalidInput(f"{attribute.name} must be a BusinessCalendar, not {value!r}")


@attrs.frozen(kw_only=True)
class Origin:
    """A place parcels ship from: a warehouse, a store or a seller's back room.

    Orders placed before ``cutoff`` (local time in ``timezone``, an IANA key
    such as ``"Asia/Taipei"``) on a business day of ``calendar`` start
    processing that day; orders at or after the cut-off, or on a closed day,
    start on the next business day. ``processing_days`` business days later
    the parcel ships (0: it ships the day processing starts).
    """

    id: str = attrs.field(converter=_origin_id)
    timezone: ZoneInfo = attrs.field(converter=_zone)
    cutoff: time = attrs.field(converter=_cutoff)
    calendar: BusinessCalendar = attrs.field(validator=_calendar)
    processing_days: int = attrs.field(default=0, validator=_processing_days)

    def cutoff_on(self, day: date) -> datetime:
        """The cut-off instant on ``day``, in the origin's timezone.

        On a day when clocks fall back and the cut-off time happens twice, the
        first of the two counts.
        """
        return datetime.combine(_require_date(day, "day"), self.cutoff, tzinfo=self.timezone)


# --- the promise ---


def _window_dates(window: DeliveryWindow, _: attrs.Attribute[Any], latest: date) -> None:
    for name in ("ships_on", "earliest", "latest_before_buffer", "latest"):
        _require_date(getattr(window, name), name)
    if not window.ships_on <= window.earliest <= window.latest_before_buffer <= latest:
        raise InvalidInput(
            "a delivery window needs ships_on <= earliest <= latest_before_buffer <= latest, "
            f"not {window.ships_on}, {window.earliest}, {window.latest_before_buffer}, {latest}"
        )


def _steps(value: Iterable[str]) -> tuple[str, ...]:
    steps = tuple(value)
    if not all(isinstance(step, str) for step in steps):
        raise InvalidInput(f"steps must be strings, not {steps!r}")
    return steps


@attrs.frozen(kw_only=True)
class DeliveryWindow:
    """The dates a customer is promised, with the arithmetic that led to them.

    ``earliest`` and ``latest`` are dates in ``timezone`` (where the delivery
    is read); ``latest_before_buffer`` is the latest date the carrier's usual
    transit gives, before the safety buffer. ``steps`` explain each step in
    English.
    """

    ordered_at: datetime = attrs.field(validator=aware)
    ships_on: date
    earliest: date
    latest_before_buffer: date
    latest: date = attrs.field(validator=_window_dates)
    timezone: ZoneInfo = attrs.field(converter=_zone)
    steps: tuple[str, ...] = attrs.field(default=(), converter=_steps)

    def contains(self, day: date) -> bool:
        """Whether ``day`` lies in the window, ``earliest`` to ``latest`` inclusive."""
        return self.earliest <= _require_date(day, "day") <= self.latest

    def is_on_time(self, delivered_at: datetime) -> bool:
        """Whether a delivery at ``delivered_at`` kept the promise: on or before ``latest``.

        The instant is read as a date in the window's ``timezone``. Arriving
        before ``earliest`` is still on time: the promise is a deadline, and an
        early parcel only pleases the customer.
        """
        delivered = require_aware(delivered_at, "delivered_at")
        if delivered < self.ordered_at:
            raise InvalidInput(
                f"delivered_at {delivered.isoformat()} is before the order was placed "
                f"({self.ordered_at.isoformat()})"
            )
        return delivered.astimezone(self.timezone).date() <= self.latest

    def explain(self) -> str:
        """The steps as numbered lines, for a receipt, a log or a lesson."""
        return "\n".join(f"{number}. {step}" for number, step in enumerate(self.steps, start=1))


def _transit(value: object) -> tuple[int, int]:
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise InvalidInput(
            f"transit_days must be (minimum, maximum) business days, e.g. (1, 2), not {value!r}"
        )
    low = _require_count(value[0], "the minimum transit days")
    high = _require_count(value[1], "the maximum transit days")
    if low > high:
        raise InvalidInput(f"transit_days minimum {low} is above its maximum {high}")
    return low, high


def promise_window(
    ordered_at: datetime,
    *,
    origin: Origin,
    transit_days: tuple[int, int],
    buffer_days: int = 1,
    carrier_calendar: BusinessCalendar | None = None,
    destination_timezone: ZoneInfo | str | None = None,
) -> DeliveryWindow:
    """The delivery window to promise for an order placed at ``ordered_at``.

    ``transit_days`` is the carrier's (minimum, maximum) in business days of
    ``carrier_calendar`` (default: the origin's calendar), counted from the
    first day the carrier works on or after the ship date. ``buffer_days``
    more business days are added to the latest date only: promise a little
    more than it usually takes. ``destination_timezone`` (default: the
    origin's) is where `DeliveryWindow.is_on_time` reads a delivery time.
    """
    ordered = require_aware(ordered_at, "ordered_at")
    if not isinstance(origin, Origin):
        raise InvalidInput(f"origin must be an Origin, not {origin!r}")
    low, high = _transit(transit_days)
    buffer = _require_count(buffer_days, "buffer_days")
    if carrier_calendar is not None and not isinstance(carrier_calendar, BusinessCalendar):
        raise InvalidInput(
            f"carrier_calendar must be a BusinessCalendar or None, not {carrier_calendar!r}"
        )
    carrier = carrier_calendar if carrier_calendar is not None else origin.calendar
    zone = origin.timezone if destination_timezone is None else _zone(destination_timezone)
    shop = origin.calendar

    local = ordered.astimezone(origin.timezone)
    order_day = local.date()
    steps = [
        f"Ordered at {local:%H:%M} on {_day(order_day)} in {origin.timezone} "
        f"({ordered.isoformat()} as given); the cut-off at {origin.id} is {origin.cutoff:%H:%M}."
    ]

    # Compare instants, not wall clocks, so the rule holds across a DST change.
    before_cutoff = ordered.astimezone(UTC) < origin.cutoff_on(order_day).astimezone(UTC)
    order_day_closed = shop.closure_reason(order_day)
    if before_cutoff and order_day_closed is None:
        start: date = order_day
        steps.append(
            f"That is before the cut-off on a business day of {shop.name}, "
            f"so processing starts the same day, {shop._describe(start)}."
        )
    else:
        start, passed = shop._advance(order_day, 1)
        why = (
            "That is at or after the cut-off"
            if order_day_closed is None
            else f"{_day(order_day)} is not a business day of {shop.name} ({order_day_closed})"
        )
        steps.append(
            f"{why}, so processing starts on the next business day, {shop._describe(start)}"
            f"{shop._skipped(passed)}."
        )

    ships_on, passed = shop._advance(start, origin.processing_days)
    if origin.processing_days == 0:
        steps.append(f"Processing takes 0 business days: it ships on {shop._describe(ships_on)}.")
    else:
        steps.append(
            f"Processing takes {_business_days(origin.processing_days)}: "
            f"it ships on {shop._describe(ships_on)}{shop._skipped(passed)}."
        )

    collected, passed = carrier._advance(ships_on, 0)
    if collected != ships_on:
        steps.append(
            f"The carrier ({carrier.name}) does not work on {_day(ships_on)} "
            f"({carrier.closure_reason(ships_on)}), so it collects the parcel on "
            f"{carrier._describe(collected)}{carrier._skipped(passed)}."
        )
    earliest, passed = carrier._advance(collected, low)
    span = _business_days(high) if low == high else f"{low} to {_business_days(high)}"
    steps.append(
        f"Transit takes {span} of {carrier.name}: "
        f"the earliest delivery is {carrier._describe(earliest)} ({_business_days(low)} after "
        f"{_day(collected)}){carrier._skipped(passed)}."
    )
    usual, passed = carrier._advance(earliest, high - low)
    steps.append(
        f"The usual latest delivery is {carrier._describe(usual)} ({_business_days(high)} after "
        f"{_day(collected)}){carrier._skipped(passed)}."
    )
    latest, passed = carrier._advance(usual, buffer)
    if buffer == 0:
        steps.append("No safety buffer: the promised latest date is the usual one.")
    else:
        steps.append(
            f"A safety buffer of {_business_days(buffer)} moves only the latest date, "
            f"to {carrier._describe(latest)}{carrier._skipped(passed)}, "
            "so a small delay still keeps the promise."
        )
    if earliest == latest:
        steps.append(f"Promise: delivered on {_day(earliest)}.")
    else:
        steps.append(f"Promise: delivered between {_day(earliest)} and {_day(latest)}.")

    return DeliveryWindow(
        ordered_at=ordered,
        ships_on=ships_on,
        earliest=earliest,
        latest_before_buffer=usual,
        latest=latest,
        timezone=zone,
        steps=tuple(steps),
    )
