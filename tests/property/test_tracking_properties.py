"""Tracking normalisation: the result depends only on the set of distinct events."""

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from fourflows.adapters.fake_carrier import FAKE_CODES, FakeCarrier, Timeline
from fourflows.adapters.fakes import FixedClock
from fourflows.commerce.catalog import Product
from fourflows.geo import Address
from fourflows.logistics.carriers import (
    BookingRequest,
    CodeTable,
    RawTrackingEvent,
    TrackingStatus,
    normalise,
)
from fourflows.logistics.packing import pack
from fourflows.logistics.shipping import ShipmentItem
from fourflows.money import Money

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CODES = CodeTable(carrier="fake", codes=FAKE_CODES)
TEE = Product(sku="TEE", name="T-shirt", price=Money("590", "TWD"), weight_g=200)

# Few hours and locations, so that events often share a time and some are exact repeats.
events_st = st.lists(
    st.builds(
        RawTrackingEvent,
        tracking_number=st.just("TN1"),
        code=st.sampled_from([*FAKE_CODES, "WX", "??"]),
        occurred_at=st.integers(0, 60).map(lambda hour: T0 + timedelta(hours=hour)),
        location=st.sampled_from(["", "hub", "store"]),
    ),
    max_size=14,
)


@st.composite
def noisy_copies(draw: st.DrawFn, events: list[RawTrackingEvent]) -> list[RawTrackingEvent]:
    """``events`` with some of them repeated, all shuffled."""
    repeats = draw(st.lists(st.sampled_from(events), max_size=8)) if events else []
    return draw(st.permutations([*events, *repeats]))


@given(data=st.data(), events=events_st)
def test_shuffled_and_repeated_events_give_the_clean_history(
    data: st.DataObject, events: list[RawTrackingEvent]
) -> None:
    clean = normalise(events, CODES, tracking_number="TN1")
    noisy = normalise(data.draw(noisy_copies(events)), CODES, tracking_number="TN1")
    assert noisy == clean
    assert noisy.changes == clean.changes
    assert noisy.status == clean.status


@given(data=st.data(), timeline=st.sampled_from(Timeline), hours=st.integers(0, 260))
def test_a_scripted_timeline_read_noisily_matches_it_read_cleanly(
    data: st.DataObject, timeline: Timeline, hours: int
) -> None:
    clock = FixedClock(T0)
    carrier = FakeCarrier("fake", clock)
    carrier.set_timeline("shp-1", timeline)
    cvs = timeline in (Timeline.CVS_PICKUP, Timeline.PICKUP_EXPIRED)
    booked = carrier.book(
        BookingRequest(
            idempotency_key="k-1",
            shipment_id="shp-1",
            service_id="cvs" if cvs else "home",
            origin=Address(country="TW", postal_code="300"),
            destination=Address(country="TW", postal_code="700"),
            parcels=pack([ShipmentItem(TEE, 1)]),
            declared_value=Money("590", "TWD"),
            pickup_point="7-11" if cvs else None,
        )
    )
    clock.advance(timedelta(hours=hours))
    clean = carrier.track(booked.tracking_number)
    history = normalise(clean, carrier.codes)
    noisy = normalise(data.draw(noisy_copies(list(clean))), carrier.codes)
    assert noisy == history
    # A clean scripted timeline is followed step by step: each known code is a change,
    # except a scan that repeats the status before it (the delayed timeline's second hub scan).
    path: list[TrackingStatus] = []
    for event in clean:
        status = carrier.codes.status(event.code)
        if status is not TrackingStatus.UNKNOWN and (not path or path[-1] is not status):
            path.append(status)
    assert [change.status for change in history.changes] == path


@given(events=events_st, more=events_st)
def test_normalising_is_idempotent_and_a_final_status_stays_final(
    events: list[RawTrackingEvent], more: list[RawTrackingEvent]
) -> None:
    history = normalise(events, CODES, tracking_number="TN1")
    assert normalise(history.raw_events, CODES, tracking_number="TN1") == history
    assert history.add(events) == history
    grown = history.add(more)
    if history.is_final:
        assert grown.is_final


@given(events=events_st)
def test_changes_form_a_path_of_known_statuses(events: list[RawTrackingEvent]) -> None:
    history = normalise(events, CODES, tracking_number="TN1")
    changes = history.changes
    assert all(change.status is not TrackingStatus.UNKNOWN for change in changes)
    assert all(a.status is not b.status for a, b in itertools.pairwise(changes))
    assert [c.occurred_at for c in changes] == sorted(c.occurred_at for c in changes)
    assert history.status == (changes[-1].status if changes else None)
    assert all(not c.status.is_final for c in changes[:-1])
    unknown = {e.code for e in events if e.code not in FAKE_CODES}
    assert set(history.unknown_codes) == unknown
