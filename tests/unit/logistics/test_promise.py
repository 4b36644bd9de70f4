"""Delivery promises: hand-computed windows with real public holidays.

Every date below was counted by hand against the holidays package (0.109) and
the published government calendars; the arithmetic is in the comments.
Conventions: processing N business days means the parcel ships N business days
after the day processing starts; transit (min, max) counts business days after
the ship date; the buffer adds business days to the latest date only.
"""

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import attrs
import pytest

from fourflows.errors import InvalidInput
from fourflows.logistics.promise import BusinessCalendar, DeliveryWindow, Origin, promise_window

TAIPEI = ZoneInfo("Asia/Taipei")
TW = BusinessCalendar("TW")


def taipei(processing_days: int = 1, calendar: BusinessCalendar = TW) -> Origin:
    return Origin(
        id="tpe-1",
        timezone="Asia/Taipei",
        cutoff=time(14, 0),
        processing_days=processing_days,
        calendar=calendar,
    )


def dates(window: DeliveryWindow) -> tuple[date, date, date, date]:
    return (window.ships_on, window.earliest, window.latest_before_buffer, window.latest)


# --- Taipei: the cut-off on a Friday ---


def test_a_friday_order_after_the_cutoff_starts_on_monday() -> None:
    # Fri 2026-03-13 16:00 is after the 14:00 cut-off: processing starts on the next business
    # day, Mon 03-16 (Sat 14, Sun 15 closed). 1 processing day -> ships Tue 03-17.
    # Transit (1, 2): earliest Wed 03-18, usual latest Thu 03-19; buffer 1 -> latest Fri 03-20.
    window = promise_window(
        datetime(2026, 3, 13, 16, 0, tzinfo=TAIPEI), origin=taipei(), transit_days=(1, 2)
    )
    assert dates(window) == (
        date(2026, 3, 17),
        date(2026, 3, 18),
        date(2026, 3, 19),
        date(2026, 3, 20),
    )


def test_the_same_friday_before_the_cutoff_ships_a_day_earlier() -> None:
    # Fri 13:59 is before the cut-off: processing starts Fri 03-13, +1 business day -> Mon 03-16.
    # Earliest Tue 03-17, usual latest Wed 03-18, buffer 1 -> Thu 03-19.
    window = promise_window(
        datetime(2026, 3, 13, 13, 59, tzinfo=TAIPEI), origin=taipei(), transit_days=(1, 2)
    )
    assert dates(window) == (
        date(2026, 3, 16),
        date(2026, 3, 17),
        date(2026, 3, 18),
        date(2026, 3, 19),
    )


def test_an_order_exactly_at_the_cutoff_counts_as_after_it() -> None:
    at_cutoff = promise_window(
        datetime(2026, 3, 13, 14, 0, tzinfo=TAIPEI), origin=taipei(), transit_days=(1, 2)
    )
    assert at_cutoff.ships_on == date(2026, 3, 17)  # as after the cut-off, not Mon 03-16


def test_with_no_processing_days_a_morning_order_ships_the_same_day() -> None:
    window = promise_window(
        datetime(2026, 3, 11, 9, 0, tzinfo=TAIPEI), origin=taipei(0), transit_days=(0, 1)
    )
    # Wed 03-11 09:00 before cut-off, 0 processing -> ships Wed 03-11; transit (0, 1):
    # earliest Wed 03-11 (same-day delivery), usual latest Thu 03-12; buffer 1 -> Fri 03-13.
    # Thu 03-12 is Arbor Day, a commemorative day that is worked (not a day off).
    assert dates(window) == (
        date(2026, 3, 11),
        date(2026, 3, 11),
        date(2026, 3, 12),
        date(2026, 3, 13),
    )


# --- Lunar New Year and make-up workdays ---


def test_an_order_just_before_lunar_new_year_2026_waits_out_the_nine_days_off() -> None:
    # TW 2026: Sat 02-14 to Sun 02-22 are all off (weekend; 02-15 to 02-19 New Year's Eve and
    # New Year; Fri 02-20 observed). Thu 02-12 15:00 is after the cut-off -> starts Fri 02-13;
    # 1 processing day -> the next business day is Mon 02-23. Transit (1, 2): Tue 02-24 and
    # Wed 02-25; buffer 1 -> Thu 02-26.
    window = promise_window(
        datetime(2026, 2, 12, 15, 0, tzinfo=TAIPEI), origin=taipei(), transit_days=(1, 2)
    )
    assert dates(window) == (
        date(2026, 2, 23),
        date(2026, 2, 24),
        date(2026, 2, 25),
        date(2026, 2, 26),
    )
    assert TW.closure_reason(date(2026, 2, 17)) == "Chinese New Year"
    assert "Chinese New Year" in window.explain()


def test_a_taiwanese_make_up_saturday_is_a_business_day() -> None:
    # TW 2025: Mon 01-27 was made a day off in exchange for working Sat 02-08 (補班).
    assert TW.closure_reason(date(2025, 1, 27)) is not None
    assert TW.is_business_day(date(2025, 2, 8))
    assert not TW.is_business_day(date(2025, 2, 15))  # an ordinary Saturday
    # Fri 02-07 15:00, after the cut-off -> processing starts Sat 02-08, the make-up workday;
    # 1 processing day -> Mon 02-10 (Sun 02-09 closed).
    window = promise_window(
        datetime(2025, 2, 7, 15, 0, tzinfo=TAIPEI), origin=taipei(), transit_days=(1, 2)
    )
    assert window.ships_on == date(2025, 2, 10)
    assert "Sat 2025-02-08 (a make-up workday)" in window.explain()


def test_chinese_new_year_2026_in_china_with_two_make_up_saturdays() -> None:
    # CN 2026: Sat 02-14 and Sat 02-28 are working days (调休); Mon 02-16 to Mon 02-23 are off.
    # Fri 02-13 17:00 after the 16:00 cut-off -> starts Sat 02-14 (worked); 1 processing day:
    # Sun 15 weekend, 16-20 and 23 off, 21-22 weekend -> ships Tue 02-24. Transit (1, 3):
    # Wed 25, Thu 26, Fri 27 -> earliest 02-25, usual latest 02-27; buffer 1 -> Sat 02-28.
    shanghai = Origin(
        id="sha-1",
        timezone="Asia/Shanghai",
        cutoff="16:00",
        processing_days=1,
        calendar=BusinessCalendar("CN"),
    )
    window = promise_window(
        datetime(2026, 2, 13, 17, 0, tzinfo=ZoneInfo("Asia/Shanghai")),
        origin=shanghai,
        transit_days=(1, 3),
    )
    assert dates(window) == (
        date(2026, 2, 24),
        date(2026, 2, 25),
        date(2026, 2, 27),
        date(2026, 2, 28),
    )


def test_named_workdays_are_not_days_off_and_do_not_open_weekends() -> None:
    # The package's WORKDAY category lists commemorative days that are worked. They must
    # neither close a weekday nor open a weekend: Teacher's Day fell on Sat 2024-09-28.
    assert TW.is_business_day(date(2026, 3, 12))  # Arbor Day, a Thursday
    assert not TW.is_business_day(date(2024, 9, 28))


# --- Germany, Japan, the United States ---


def berlin(calendar: BusinessCalendar) -> Origin:
    return Origin(
        id="ber-1", timezone="Europe/Berlin", cutoff=time(15), processing_days=1, calendar=calendar
    )


def test_a_german_order_over_christmas_and_new_year() -> None:
    # Tue 2025-12-23 16:00 after the 15:00 cut-off -> starts Wed 12-24 (Christmas Eve is not a
    # public holiday); 1 processing day: Thu 25 and Fri 26 holidays, 27-28 weekend -> Mon 12-29.
    # Transit (1, 3): Tue 30, Wed 31, (Thu 01-01 New Year's Day), Fri 01-02 -> earliest 12-30,
    # usual latest 2026-01-02; buffer 1: (Sat 3, Sun 4) -> Mon 2026-01-05.
    ordered = datetime(2025, 12, 23, 16, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    window = promise_window(ordered, origin=berlin(BusinessCalendar("DE")), transit_days=(1, 3))
    assert dates(window) == (
        date(2025, 12, 29),
        date(2025, 12, 30),
        date(2026, 1, 2),
        date(2026, 1, 5),
    )


def test_a_bavarian_calendar_also_closes_on_epiphany() -> None:
    # The same order with a buffer of 2: nationally Mon 01-05 then Tue 01-06; in Bavaria
    # Tue 01-06 (Epiphany) is a holiday, so the second buffer day is Wed 01-07.
    ordered = datetime(2025, 12, 23, 16, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    national = promise_window(
        ordered, origin=berlin(BusinessCalendar("DE")), transit_days=(1, 3), buffer_days=2
    )
    bavaria = promise_window(
        ordered,
        origin=berlin(BusinessCalendar("DE", subdiv="BY")),
        transit_days=(1, 3),
        buffer_days=2,
    )
    assert (national.latest, bavaria.latest) == (date(2026, 1, 6), date(2026, 1, 7))
    assert "Tue 2026-01-06 (Epiphany)" in bavaria.explain()


def test_a_japanese_order_in_golden_week() -> None:
    # Fri 2026-05-01 18:00 after the 17:00 cut-off; next business day: Sat 2 weekend, Sun 3
    # Constitution Day, Mon 4 Greenery Day, Tue 5 Children's Day, Wed 6 substitute holiday ->
    # Thu 05-07; 0 processing days -> ships Thu 05-07. Transit (1, 2): Fri 05-08, then (Sat 9,
    # Sun 10) Mon 05-11; buffer 1 -> Tue 05-12.
    tokyo = Origin(
        id="tyo-1", timezone="Asia/Tokyo", cutoff=time(17), calendar=BusinessCalendar("JP")
    )
    window = promise_window(
        datetime(2026, 5, 1, 18, 0, tzinfo=ZoneInfo("Asia/Tokyo")),
        origin=tokyo,
        transit_days=(1, 2),
    )
    assert dates(window) == (
        date(2026, 5, 7),
        date(2026, 5, 8),
        date(2026, 5, 11),
        date(2026, 5, 12),
    )


def test_a_us_order_over_thanksgiving() -> None:
    # Wed 2026-11-25 10:00 before the noon cut-off -> starts Wed 11-25; 1 processing day: Thu
    # 11-26 is Thanksgiving -> ships Fri 11-27 (Black Friday is a business day). Transit (2, 5)
    # after Fri: (Sat, Sun) Mon 30 =1, Tue 12-01 =2 ... Fri 12-04 =5; buffer 1 -> Mon 12-07.
    new_york = Origin(
        id="nyc-1",
        timezone="America/New_York",
        cutoff=time(12),
        processing_days=1,
        calendar=BusinessCalendar("US"),
    )
    window = promise_window(
        datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("America/New_York")),
        origin=new_york,
        transit_days=(2, 5),
    )
    assert dates(window) == (
        date(2026, 11, 27),
        date(2026, 12, 1),
        date(2026, 12, 4),
        date(2026, 12, 7),
    )


@pytest.mark.parametrize(
    ("calendar", "day", "reason"),
    [
        (BusinessCalendar("TW"), date(2026, 10, 9), "National Day (observed)"),
        (BusinessCalendar("CN"), date(2026, 10, 1), "National Day"),
        (BusinessCalendar("JP"), date(2026, 11, 23), "Labor Thanksgiving Day"),
        (BusinessCalendar("DE"), date(2026, 10, 3), "German Unity Day"),
        (BusinessCalendar("GB"), date(2026, 12, 28), "Boxing Day (observed)"),
        (BusinessCalendar("US"), date(2026, 7, 3), "Independence Day (observed)"),
        (BusinessCalendar("US"), date(2026, 7, 4), "Independence Day"),
    ],
)
def test_each_country_names_its_holidays_in_english(
    calendar: BusinessCalendar, day: date, reason: str
) -> None:
    assert calendar.closure_reason(day) == reason
    assert not calendar.is_business_day(day)


# --- timezones ---


def test_an_order_at_2330_utc_is_already_the_next_morning_in_taipei() -> None:
    # Thu 2026-03-05 23:30 UTC is Fri 03-06 07:30 in Taipei, before the cut-off: it ships Fri
    # 03-06 (0 processing days) and arrives Mon 03-09 (1 transit day, weekend skipped).
    ordered = datetime(2026, 3, 5, 23, 30, tzinfo=UTC)
    window = promise_window(ordered, origin=taipei(0), transit_days=(1, 1), buffer_days=0)
    assert dates(window) == (date(2026, 3, 6), date(2026, 3, 9), date(2026, 3, 9), date(2026, 3, 9))
    assert window.steps[0].startswith("Ordered at 07:30 on Fri 2026-03-06 in Asia/Taipei")
    # The zone the caller wrote the instant in does not matter, only the origin's.
    in_new_york = ordered.astimezone(ZoneInfo("America/New_York"))  # Thu 18:30 there
    again = promise_window(in_new_york, origin=taipei(0), transit_days=(1, 1), buffer_days=0)
    assert dates(again) == dates(window)


def test_the_order_date_is_the_origins_local_date() -> None:
    # With a 23:45 cut-off, the same instant is Thursday before the cut-off at a UTC warehouse
    # (ships Thu 03-05) and Friday morning at a Taipei warehouse (ships Fri 03-06).
    ordered = datetime(2026, 3, 5, 23, 30, tzinfo=UTC)
    late = attrs.evolve(taipei(0), cutoff=time(23, 45))
    in_utc = attrs.evolve(late, timezone="Etc/UTC")
    assert promise_window(ordered, origin=in_utc, transit_days=(1, 1)).ships_on == date(2026, 3, 5)
    assert promise_window(ordered, origin=late, transit_days=(1, 1)).ships_on == date(2026, 3, 6)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(InvalidInput, match="timezone-aware"):
        promise_window(datetime(2026, 3, 13, 16, 0), origin=taipei(), transit_days=(1, 2))
    window = promise_window(
        datetime(2026, 3, 13, 16, 0, tzinfo=TAIPEI), origin=taipei(), transit_days=(1, 2)
    )
    with pytest.raises(InvalidInput, match="timezone-aware"):
        window.is_on_time(datetime(2026, 3, 18, 12, 0))


def test_the_cutoff_is_an_instant_on_a_day_the_clocks_fall_back() -> None:
    # Berlin, Sun 2026-10-25: 02:00-03:00 happens twice. With a 02:30 cut-off (and a calendar
    # open every day), 02:40 the first time is after it, and so is 02:10 the second time.
    always_open = BusinessCalendar("DE", weekend=frozenset())  # open on Sundays too
    origin = Origin(id="ber-24", timezone="Europe/Berlin", cutoff=time(2, 30), calendar=always_open)
    first = datetime(2026, 10, 25, 0, 40, tzinfo=UTC)  # 02:40 CEST
    second = datetime(2026, 10, 25, 1, 10, tzinfo=UTC)  # 02:10 CET, later in real time
    assert promise_window(first, origin=origin, transit_days=(0, 0)).ships_on == date(2026, 10, 26)
    assert promise_window(second, origin=origin, transit_days=(0, 0)).ships_on == date(2026, 10, 26)


# --- the window: contains, on time, explanation ---


def friday_window() -> DeliveryWindow:
    # ships Tue 03-17, earliest Wed 03-18, latest Fri 03-20 (see the first test)
    return promise_window(
        datetime(2026, 3, 13, 16, 0, tzinfo=TAIPEI), origin=taipei(), transit_days=(1, 2)
    )


def test_the_window_contains_its_ends_and_nothing_outside() -> None:
    window = friday_window()
    assert [window.contains(date(2026, 3, day)) for day in (17, 18, 20, 21)] == [
        False,
        True,
        True,
        False,
    ]


def test_on_time_means_by_the_end_of_the_latest_day_where_it_is_delivered() -> None:
    window = friday_window()
    assert window.is_on_time(datetime(2026, 3, 20, 23, 59, tzinfo=TAIPEI))
    assert not window.is_on_time(datetime(2026, 3, 21, 0, 0, tzinfo=TAIPEI))
    # 16:30 UTC on Fri 03-20 is 00:30 on Sat 03-21 in Taipei: late.
    assert not window.is_on_time(datetime(2026, 3, 20, 16, 30, tzinfo=UTC))
    # Early is on time: the promise is a deadline.
    assert window.is_on_time(datetime(2026, 3, 17, 18, 0, tzinfo=TAIPEI))


def test_delivery_times_are_read_in_the_destination_timezone() -> None:
    window = promise_window(
        datetime(2026, 3, 13, 16, 0, tzinfo=TAIPEI),
        origin=taipei(),
        transit_days=(1, 2),
        destination_timezone="America/Los_Angeles",
    )
    # Sat 03-21 06:00 UTC is still Fri 03-20 23:00 in Los Angeles.
    assert window.is_on_time(datetime(2026, 3, 21, 6, 0, tzinfo=UTC))
    assert not window.is_on_time(datetime(2026, 3, 21, 8, 0, tzinfo=UTC))


def test_a_delivery_before_the_order_is_refused() -> None:
    with pytest.raises(InvalidInput, match="before the order"):
        friday_window().is_on_time(datetime(2026, 3, 12, 9, 0, tzinfo=TAIPEI))


def test_the_explanation_walks_through_every_step() -> None:
    lines = friday_window().explain().splitlines()
    assert lines == [
        "1. Ordered at 16:00 on Fri 2026-03-13 in Asia/Taipei (2026-03-13T16:00:00+08:00 as "
        "given); the cut-off at tpe-1 is 14:00.",
        "2. That is at or after the cut-off, so processing starts on the next business day, "
        "Mon 2026-03-16, skipping Sat 2026-03-14 (weekend), Sun 2026-03-15 (weekend).",
        "3. Processing takes 1 business day: it ships on Tue 2026-03-17.",
        "4. Transit takes 1 to 2 business days of TW: the earliest delivery is Wed 2026-03-18 "
        "(1 business day after Tue 2026-03-17).",
        "5. The usual latest delivery is Thu 2026-03-19 (2 business days after Tue 2026-03-17).",
        "6. A safety buffer of 1 business day moves only the latest date, to Fri 2026-03-20, "
        "so a small delay still keeps the promise.",
        "7. Promise: delivered between Wed 2026-03-18 and Fri 2026-03-20.",
    ]


def test_a_carrier_that_does_not_work_saturdays_collects_on_monday() -> None:
    # The warehouse works Saturdays (weekend = Sunday only); the carrier does not. Fri 16:00
    # after the cut-off -> starts and ships Sat 03-14; the carrier collects Mon 03-16, so
    # transit (1, 2) gives Tue 03-17 and Wed 03-18; buffer 1 -> Thu 03-19.
    six_days = BusinessCalendar("TW", weekend={6})
    window = promise_window(
        datetime(2026, 3, 13, 16, 0, tzinfo=TAIPEI),
        origin=taipei(0, calendar=six_days),
        transit_days=(1, 2),
        carrier_calendar=TW,
    )
    assert dates(window) == (
        date(2026, 3, 14),
        date(2026, 3, 17),
        date(2026, 3, 18),
        date(2026, 3, 19),
    )
    assert "collects the parcel on Mon 2026-03-16" in window.explain()


# --- the calendar ---


def test_adding_business_days_counts_from_the_next_day() -> None:
    saturday, friday = date(2026, 3, 14), date(2026, 3, 13)
    assert [TW.add_business_days(saturday, n) for n in (0, 1, 2)] == [
        date(2026, 3, 16),  # 0 rolls forward to Monday
        date(2026, 3, 16),  # 1: the first business day after Saturday
        date(2026, 3, 17),
    ]
    assert TW.add_business_days(friday, 0) == friday
    assert TW.next_business_day(friday) == date(2026, 3, 16)
    assert TW.roll_forward(friday) == friday


def test_extra_days_override_the_public_calendar() -> None:
    shop = BusinessCalendar(
        "TW",
        extra_holidays={date(2026, 3, 17)},  # stocktaking
        extra_workdays={date(2026, 1, 1)},  # open on Founding Day
    )
    assert shop.closure_reason(date(2026, 3, 17)) == "extra closing day"
    assert shop.is_business_day(date(2026, 1, 1))
    assert TW.closure_reason(date(2026, 1, 1)) == "Founding Day of the Republic of China"
    assert shop.add_business_days(date(2026, 3, 16), 1) == date(2026, 3, 18)


def test_calendars_are_values() -> None:
    assert BusinessCalendar("tw") == TW
    assert hash(BusinessCalendar(" TW ")) == hash(TW)
    assert BusinessCalendar("DE", subdiv="BY").name == "DE-BY"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        TW.country = "JP"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"country": "XX"}, r"unknown country 'XX'.*'TW', 'CN', 'JP', 'DE', 'GB', 'US'"),
        ({"country": 886}, "unknown country 886"),
        ({"country": "DE", "subdiv": "ZZ"}, r"unknown subdivision 'ZZ' of DE; known: .*BY"),
        ({"country": "TW", "weekend": {7}}, "weekday number"),
        ({"country": "TW", "weekend": {True}}, "weekday number"),
        ({"country": "TW", "weekend": set(range(7))}, "all seven"),
        ({"country": "TW", "extra_holidays": {datetime(2026, 1, 2, tzinfo=UTC)}}, "not a datetime"),
        ({"country": "TW", "extra_workdays": ["2026-01-03"]}, "datetime.date"),
        (
            {
                "country": "TW",
                "extra_holidays": {date(2026, 1, 5)},
                "extra_workdays": {date(2026, 1, 5)},
            },
            "both",
        ),
    ],
)
def test_bad_calendar_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        BusinessCalendar(**kwargs)  # type: ignore[arg-type]


def test_a_calendar_with_no_business_day_in_sight_is_reported() -> None:
    closed = BusinessCalendar(
        "TW",
        weekend=frozenset(),
        extra_holidays={date.fromordinal(date(2030, 1, 1).toordinal() + i) for i in range(500)},
    )
    with pytest.raises(InvalidInput, match="no business day"):
        closed.next_business_day(date(2029, 12, 31))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"id": " "}, "origin id"),
        ({"timezone": "Asia/Taipai"}, "unknown timezone 'Asia/Taipai'"),
        ({"timezone": 8}, "unknown timezone 8"),
        ({"cutoff": "2pm"}, "cutoff must be a time of day"),
        ({"cutoff": time(14, tzinfo=UTC)}, "without tzinfo"),
        ({"processing_days": -1}, "processing_days"),
        ({"processing_days": 1.5}, "processing_days"),
        ({"calendar": "TW"}, "must be a BusinessCalendar"),
    ],
)
def test_bad_origin_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    settings: dict[str, object] = {
        "id": "tpe-1",
        "timezone": "Asia/Taipei",
        "cutoff": time(14),
        "calendar": TW,
        **kwargs,
    }
    with pytest.raises(InvalidInput, match=message):
        Origin(**settings)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"transit_days": (2, 1)}, "minimum 2 is above its maximum 1"),
        ({"transit_days": (1,)}, r"\(minimum, maximum\)"),
        ({"transit_days": (-1, 2)}, "minimum transit days"),
        ({"buffer_days": -1}, "buffer_days"),
        ({"buffer_days": True}, "buffer_days"),
        ({"carrier_calendar": "TW"}, "carrier_calendar"),
        ({"destination_timezone": "Mars/Olympus"}, "unknown timezone"),
    ],
)
def test_bad_promise_arguments_are_refused(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"origin": taipei(), "transit_days": (1, 2), **kwargs}
    with pytest.raises(InvalidInput, match=message):
        promise_window(datetime(2026, 3, 13, 16, 0, tzinfo=TAIPEI), **arguments)  # type: ignore[arg-type]


def test_a_window_cannot_end_before_it_starts() -> None:
    with pytest.raises(InvalidInput, match="ships_on <= earliest"):
        DeliveryWindow(
            ordered_at=datetime(2026, 3, 13, 16, 0, tzinfo=TAIPEI),
            ships_on=date(2026, 3, 17),
            earliest=date(2026, 3, 18),
            latest_before_buffer=date(2026, 3, 19),
            latest=date(2026, 3, 18),
            timezone="Asia/Taipei",
        )
