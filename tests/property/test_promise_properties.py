"""Properties of delivery promises that hold for every order time, origin and carrier."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from fourflows.logistics.promise import BusinessCalendar, DeliveryWindow, Origin, promise_window

ZONES = {
    "TW": "Asia/Taipei",
    "CN": "Asia/Shanghai",
    "JP": "Asia/Tokyo",
    "DE": "Europe/Berlin",
    "GB": "Europe/London",
    "US": "America/New_York",
}
WEEKENDS = [frozenset({5, 6}), frozenset({6}), frozenset(), frozenset({4, 5})]
FIRST, LAST = date(2024, 1, 1), date(2027, 12, 31)


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    """A calendar of one of the six countries, with any weekend and a few shop closures."""
    return BusinessCalendar(
        draw(st.sampled_from(sorted(ZONES))),
        weekend=draw(st.sampled_from(WEEKENDS)),
        extra_holidays=draw(st.frozensets(st.dates(FIRST, LAST), max_size=6)),
    )


@st.composite
def origins(draw: st.DrawFn) -> Origin:
    """An origin in its country's timezone (including DST zones), any cut-off, 0-5 days."""
    calendar = draw(calendars())
    return Origin(
        id="origin",
        timezone=ZONES[calendar.country],
        cutoff=draw(st.times()),
        processing_days=draw(st.integers(min_value=0, max_value=5)),
        calendar=calendar,
    )


def instants() -> st.SearchStrategy[datetime]:
    """Aware order times in 2024-2027, in UTC or one of the origin timezones."""
    zones = st.sampled_from([UTC, *(ZoneInfo(key) for key in ZONES.values())])
    return st.datetimes(datetime(2024, 1, 1), datetime(2027, 12, 1), timezones=zones)


transits = st.tuples(
    st.integers(min_value=0, max_value=6), st.integers(min_value=0, max_value=6)
).map(lambda pair: (min(pair), max(pair)))
buffers = st.integers(min_value=0, max_value=4)
carriers = st.one_of(st.none(), calendars())


def business_days_after(calendar: BusinessCalendar, start: date, end: date) -> int:
    """How many business days lie in (start, end]."""
    days = (end - start).days
    return sum(calendar.is_business_day(start + timedelta(days=n)) for n in range(1, days + 1))


@given(instants(), origins(), transits, buffers, carriers)
def test_the_window_is_ordered_and_falls_on_business_days(
    ordered: datetime,
    origin: Origin,
    transit: tuple[int, int],
    buffer: int,
    carrier: BusinessCalendar | None,
) -> None:
    window = promise_window(
        ordered, origin=origin, transit_days=transit, buffer_days=buffer, carrier_calendar=carrier
    )
    delivering = carrier or origin.calendar
    assert window.ships_on >= ordered.astimezone(origin.timezone).date()
    assert window.ships_on <= window.earliest <= window.latest_before_buffer <= window.latest
    assert origin.calendar.is_business_day(window.ships_on)
    for day in (window.earliest, window.latest_before_buffer, window.latest):
        assert delivering.is_business_day(day)
    assert window.contains(window.earliest)
    assert window.contains(window.latest)


@given(instants(), origins(), transits, buffers, carriers)
def test_each_step_counts_exactly_its_business_days(
    ordered: datetime,
    origin: Origin,
    transit: tuple[int, int],
    buffer: int,
    carrier: BusinessCalendar | None,
) -> None:
    window = promise_window(
        ordered, origin=origin, transit_days=transit, buffer_days=buffer, carrier_calendar=carrier
    )
    delivering = carrier or origin.calendar
    order_day = ordered.astimezone(origin.timezone).date()
    same_day = ordered < origin.cutoff_on(order_day) and origin.calendar.is_business_day(order_day)
    # Processing starts on the order day (same_day) or on the next business day after it.
    assert business_days_after(origin.calendar, order_day, window.ships_on) == (
        origin.processing_days + (0 if same_day else 1)
    )
    collected = delivering.roll_forward(window.ships_on)
    low, high = transit
    assert business_days_after(delivering, collected, window.earliest) == low
    assert business_days_after(delivering, collected, window.latest_before_buffer) == high
    assert business_days_after(delivering, window.latest_before_buffer, window.latest) == buffer


@given(instants(), st.timedeltas(timedelta(0), timedelta(days=20)), origins(), transits, buffers)
def test_a_later_order_never_gets_an_earlier_window(
    ordered: datetime,
    later_by: timedelta,
    origin: Origin,
    transit: tuple[int, int],
    buffer: int,
) -> None:
    first = promise_window(ordered, origin=origin, transit_days=transit, buffer_days=buffer)
    second = promise_window(
        ordered + later_by, origin=origin, transit_days=transit, buffer_days=buffer
    )
    assert first.ships_on <= second.ships_on
    assert first.earliest <= second.earliest
    assert first.latest <= second.latest


@given(instants(), origins(), transits, buffers, carriers)
def test_the_buffer_moves_only_the_latest_date(
    ordered: datetime,
    origin: Origin,
    transit: tuple[int, int],
    buffer: int,
    carrier: BusinessCalendar | None,
) -> None:
    def window(days: int) -> DeliveryWindow:
        return promise_window(
            ordered, origin=origin, transit_days=transit, buffer_days=days, carrier_calendar=carrier
        )

    plain, buffered = window(0), window(buffer)
    assert (plain.ships_on, plain.earliest, plain.latest_before_buffer) == (
        buffered.ships_on,
        buffered.earliest,
        buffered.latest_before_buffer,
    )
    assert plain.latest == plain.latest_before_buffer
    assert (buffered.latest > plain.latest) == (buffer > 0)


@given(instants(), origins(), transits, buffers)
def test_on_time_ends_at_midnight_after_the_latest_day(
    ordered: datetime, origin: Origin, transit: tuple[int, int], buffer: int
) -> None:
    window = promise_window(ordered, origin=origin, transit_days=transit, buffer_days=buffer)
    zone = window.timezone
    end_of_latest = datetime.combine(window.latest, time(23, 59, 59), tzinfo=zone)
    next_midnight = datetime.combine(window.latest + timedelta(days=1), time(0, 0), tzinfo=zone)
    assert window.is_on_time(max(end_of_latest, ordered))
    assert not window.is_on_time(next_midnight)


@given(calendars(), st.dates(FIRST, LAST), st.integers(min_value=0, max_value=15))
def test_adding_business_days_lands_on_the_nth_business_day(
    calendar: BusinessCalendar, start: date, days: int
) -> None:
    result = calendar.add_business_days(start, days)
    assert calendar.is_business_day(result)
    assert result >= start
    if days == 0:
        assert result == calendar.roll_forward(start)
        assert (result == start) == calendar.is_business_day(start)
    else:
        assert business_days_after(calendar, start, result) == days
    if days > 1:
        assert result > calendar.add_business_days(start, days - 1)
