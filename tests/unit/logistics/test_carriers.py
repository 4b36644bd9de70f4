"""Carriers: delivery options, what a service accepts, tracking normalisation, the FakeCarrier.

The fake prices with `ShippingTable.example_taiwan`; parcels here are packed
without a volumetric divisor, so a parcel's chargeable weight is its weight.
"""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from fourflows.adapters.fake_carrier import FAKE_CODES, FakeCarrier, Timeline
from fourflows.adapters.fakes import FixedClock
from fourflows.commerce.catalog import Product
from fourflows.errors import (
    CarrierUnavailable,
    CurrencyMismatch,
    IdempotencyConflict,
    InvalidInput,
    NotEligible,
    NotFound,
)
from fourflows.geo import Address
from fourflows.logistics.carriers import (
    BookingRequest,
    CancelRequest,
    CodeTable,
    CodOverCap,
    DeliveryKind,
    DeliveryOption,
    ParcelOverLimits,
    RateRequest,
    RawTrackingEvent,
    TrackingEvent,
    TrackingFlag,
    TrackingStatus,
    check_booking,
    normalise,
)
from fourflows.logistics.packing import pack
from fourflows.logistics.shipping import (
    ShipmentItem,
    ShippingService,
    ShippingTable,
    WeightTiers,
    ZoneRate,
)
from fourflows.money import Money

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
TEE = Product(
    sku="TEE", name="T-shirt", price=Money("590", "TWD"), weight_g=200, size_cm=(30, 20, 3)
)
BRICK = Product(sku="BRICK", name="Brick", price=Money("100", "TWD"), weight_g=6000)
WAREHOUSE = Address(country="TW", postal_code="300")
TAIPEI = Address(country="TW", region="TW-TPE", postal_code="106")
TAINAN = Address(country="TW", postal_code="700")
PENGHU = Address(country="TW", postal_code="880")
TABLE = ShippingTable.example_taiwan()
CODES = CodeTable(carrier="fake", codes=FAKE_CODES)
S = TrackingStatus


def nt(amount: int) -> Money:
    return Money(amount, "TWD")


def booking(
    key: str = "k-1",
    *,
    shipment: str = "shp-1",
    service: str = "home",
    to: Address = TAIPEI,
    items: tuple[tuple[Product, int], ...] = ((TEE, 2),),
    cod: Money | None = None,
    pickup_point: str | None = None,
) -> BookingRequest:
    parcels = pack([ShipmentItem(product, qty) for product, qty in items])
    value = sum((product.price * qty for product, qty in items), nt(0))
    return BookingRequest(
        idempotency_key=key,
        shipment_id=shipment,
        service_id=service,
        origin=WAREHOUSE,
        destination=to,
        parcels=parcels,
        declared_value=value,
        cod_amount=cod,
        pickup_point=pickup_point,
    )


def raw(hour: int, code: str, number: str = "TN1", **more: str) -> RawTrackingEvent:
    return RawTrackingEvent(
        tracking_number=number, code=code, occurred_at=T0 + timedelta(hours=hour), **more
    )


def statuses(events: Iterable[TrackingEvent]) -> list[str]:
    return [event.status.value for event in events]


# --- delivery options -------------------------------------------------------------------------


def test_every_delivery_kind_has_its_shape() -> None:
    assert DeliveryOption(kind="post_office", carrier="tw-post", service_id="post").cod is False
    DeliveryOption(kind="courier", carrier="tcat", service_id="home", cod=True)
    DeliveryOption(kind="same_day_rider", carrier="lalamove", service_id="rider")
    cvs = DeliveryOption(
        kind="cvs_pickup",
        carrier="tw-cvs",
        service_id="cvs",
        pickup_point="FamilyMart 0042",
        cod=True,
        hold_days=7,
    )
    assert (cvs.kind.is_pickup, cvs.kind.uses_carrier) == (True, True)
    store = DeliveryOption(kind="store_pickup", service_id="store", pickup_point="store-taipei")
    assert (store.kind.is_pickup, store.kind.uses_carrier, store.carrier) == (True, False, None)
    third = DeliveryOption(kind="third_party", carrier="3pl-asia", service_id="home")
    assert third.kind is DeliveryKind.THIRD_PARTY


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "same_day_rider", "carrier": "r", "cod": True}, "cannot collect cash"),
        ({"kind": "store_pickup", "carrier": "x", "pickup_point": "s1"}, "books no carrier"),
        ({"kind": "cvs_pickup", "carrier": "c"}, "needs the pickup_point"),
        ({"kind": "courier"}, "needs the carrier"),
        ({"kind": "courier", "carrier": "c", "pickup_point": "p"}, "goes to the address"),
        ({"kind": "courier", "carrier": "c", "hold_days": 7}, "only for pickups"),
        ({"kind": "drone", "carrier": "c"}, "unknown delivery kind 'drone'"),
        ({"kind": "cvs_pickup", "carrier": "c", "pickup_point": "p", "hold_days": 0}, "hold_days"),
    ],
)
def test_a_malformed_delivery_option_is_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        DeliveryOption(service_id="svc", **fields)  # type: ignore[arg-type]


# --- what a service accepts -------------------------------------------------------------------


def test_a_parcel_over_the_weight_limit_is_refused_by_name() -> None:
    # A 6 kg brick; the convenience store takes 5 kg at most.
    request = booking(service="cvs", items=((BRICK, 1),), pickup_point="7-11")
    with pytest.raises(ParcelOverLimits, match="parcel 0 weighs 6 kg, over the 5 kg") as caught:
        check_booking(request, TABLE.service("cvs"), TABLE)
    assert (caught.value.code, caught.value.parcel) == ("weight", 0)
    # Home delivery takes 20 kg, and its tiers reach 20 kg: the same brick is fine there.
    check_booking(booking(items=((BRICK, 1),)), TABLE.service("home"), TABLE)


def test_a_parcel_outside_the_box_is_refused() -> None:
    # 50 cm is longer than the convenience store's 45 x 30 x 30 box.
    poster = Product(sku="POSTER", name="Poster", price=nt(300), weight_g=300, size_cm=(50, 8, 8))
    with pytest.raises(ParcelOverLimits) as caught:
        check_booking(
            booking(service="cvs", items=((poster, 1),), pickup_point="7-11"),
            TABLE.service("cvs"),
            TABLE,
        )
    assert caught.value.code == "box"


def test_a_parcel_above_the_heaviest_rate_tier_is_refused() -> None:
    # No weight limit, but the price list stops at 5 kg: a 6 kg brick cannot be priced.
    light = ShippingService(
        id="light",
        name="Light parcels",
        kind="home",
        rates=[ZoneRate(zones="tw-main", rule=WeightTiers([(5000, nt(90))]), transit_days=(1, 2))],
    )
    table = ShippingTable(currency="TWD", zones=TABLE.zones, services=[light])
    with pytest.raises(ParcelOverLimits, match="above its heaviest rate tier of 5000 g") as caught:
        check_booking(booking(to=TAINAN, items=((BRICK, 1),)), light, table)
    assert caught.value.code == "weight_tier"
    check_booking(booking(to=TAINAN, items=((TEE, 25),)), light, table)  # 25 x 200 g = 5 kg


def test_cash_on_delivery_above_the_cap_is_refused_and_at_the_cap_accepted() -> None:
    cvs = TABLE.service("cvs")  # collects up to 20,000
    over = booking(service="cvs", cod=nt(20001), pickup_point="7-11")
    with pytest.raises(CodOverCap, match=r"20001 .* over its cash-on-delivery limit") as caught:
        check_booking(over, cvs, TABLE)
    assert (caught.value.code, caught.value.amount, caught.value.cap) == (
        "cod_cap",
        nt(20001),
        nt(20000),
    )
    assert isinstance(caught.value, NotEligible)
    check_booking(booking(service="cvs", cod=nt(20000), pickup_point="7-11"), cvs, TABLE)


def test_other_refusals_carry_their_codes() -> None:
    with pytest.raises(NotEligible) as no_cod:
        check_booking(booking(service="post", cod=nt(1180)), TABLE.service("post"), TABLE)
    assert no_cod.value.code == "cod_unsupported"
    with pytest.raises(NotEligible) as no_rider:
        check_booking(booking(service="rider", to=TAINAN), TABLE.service("rider"), TABLE)
    assert no_rider.value.code == "no_zone_rate"
    with pytest.raises(NotEligible) as abroad:
        check_booking(booking(to=Address(country="JP")), TABLE.service("home"), TABLE)
    assert abroad.value.code == "no_zone"
    yen = Product(sku="Y", name="Yen thing", price=Money("100", "JPY"), weight_g=10)
    with pytest.raises(CurrencyMismatch):
        check_booking(booking(items=((yen, 1),)), TABLE.service("home"), TABLE)


def test_a_request_with_cash_in_another_currency_is_refused() -> None:
    with pytest.raises(CurrencyMismatch):
        RateRequest(
            origin=WAREHOUSE,
            destination=TAIPEI,
            parcels=pack([ShipmentItem(TEE, 1)]),
            declared_value=nt(590),
            cod_amount=Money("20", "USD"),
        )
    with pytest.raises(InvalidInput, match="parcels is empty"):
        RateRequest(origin=WAREHOUSE, destination=TAIPEI, parcels=(), declared_value=nt(0))


# --- tracking normalisation -------------------------------------------------------------------


def test_a_clean_timeline_is_read_into_canonical_statuses() -> None:
    events = [raw(0, "LBL"), raw(4, "PUP"), raw(10, "HUB"), raw(24, "OFD"), raw(28, "DLV")]
    history = normalise(events, CODES)
    assert history.status is S.DELIVERED
    assert history.is_final
    assert history.since == T0 + timedelta(hours=28)
    assert statuses(history.changes) == [
        "label_created",
        "picked_up_by_carrier",
        "in_transit",
        "out_for_delivery",
        "delivered",
    ]
    assert (history.flagged, history.repeats) == ((), 0)


def test_repeats_and_arrival_order_do_not_matter() -> None:
    clean = [raw(0, "LBL"), raw(4, "PUP"), raw(10, "HUB"), raw(28, "DLV")]
    noisy = [clean[3], clean[1], clean[3], clean[0], clean[2], clean[1]]
    history = normalise(noisy, CODES)
    assert history == normalise(clean, CODES)
    assert history.repeats == 2  # DLV and PUP came twice
    assert statuses(history.changes) == [
        "label_created",
        "picked_up_by_carrier",
        "in_transit",
        "delivered",
    ]


def test_a_late_in_transit_never_moves_a_delivered_parcel_back() -> None:
    # The hub scan of 30h reaches us after delivery at 28h, and says a later time.
    history = normalise([raw(4, "PUP"), raw(28, "DLV"), raw(30, "HUB")], CODES)
    assert history.status is S.DELIVERED
    late = history.events[-1]
    assert (late.raw.code, late.changed, late.flag) == ("HUB", False, TrackingFlag.OUT_OF_SEQUENCE)
    # One that happened before delivery but arrived after it slots in before.
    history = normalise([raw(4, "PUP"), raw(28, "DLV"), raw(10, "HUB")], CODES)
    assert statuses(history.changes) == ["picked_up_by_carrier", "in_transit", "delivered"]


def test_unknown_codes_are_kept_and_flagged_never_applied() -> None:
    history = normalise([raw(4, "PUP"), raw(20, "WX", description="typhoon"), raw(8, "9?9")], CODES)
    assert history.status is S.PICKED_UP_BY_CARRIER
    assert history.unknown_codes == ("9?9", "WX")
    assert [e.flag for e in history.flagged] == [TrackingFlag.UNKNOWN_CODE] * 2
    assert all(e.status is S.UNKNOWN for e in history.flagged)


def test_a_repeated_status_is_kept_without_a_change() -> None:
    # Two hub scans: the second keeps the parcel in transit, it is no new change.
    history = normalise([raw(4, "PUP"), raw(10, "HUB"), raw(15, "HUB", location="Taichung")], CODES)
    assert statuses(history.changes) == ["picked_up_by_carrier", "in_transit"]
    assert history.events[-1].flag is None
    assert history.since == T0 + timedelta(hours=10)


def test_a_failed_attempt_can_be_followed_by_delivery() -> None:
    events = [raw(4, "PUP"), raw(24, "OFD"), raw(28, "ATT"), raw(48, "OFD"), raw(52, "DLV")]
    assert statuses(normalise(events, CODES).changes) == [
        "picked_up_by_carrier",
        "out_for_delivery",
        "delivery_failed",
        "out_for_delivery",
        "delivered",
    ]


def test_an_expired_pickup_only_ends_in_the_return() -> None:
    # After the pickup period ends, the trip back scans "in transit": that moves nothing.
    events = [raw(30, "CVS"), raw(198, "EXP"), raw(210, "HUB"), raw(246, "RTS")]
    history = normalise(events, CODES)
    assert statuses(history.changes) == ["ready_for_pickup", "pickup_expired", "returned_to_sender"]
    assert history.events[2].flag is TrackingFlag.OUT_OF_SEQUENCE


def test_a_label_scan_after_pickup_is_ignored() -> None:
    history = normalise([raw(4, "PUP"), raw(5, "LBL")], CODES)
    assert history.status is S.PICKED_UP_BY_CARRIER
    assert history.events[-1].flag is TrackingFlag.OUT_OF_SEQUENCE


def test_changes_after_hands_out_only_what_comes_after_the_applied() -> None:
    first = normalise([raw(4, "PUP"), raw(24, "OFD")], CODES)
    later = first.add([raw(10, "HUB"), raw(28, "DLV"), raw(24, "OFD")])
    # HUB (10h) happened before OFD (24h), which was already applied: not handed out again.
    assert statuses(later.changes_after(first)) == ["delivered"]
    assert statuses(later.changes_after(None)) == statuses(later.changes)
    assert later.add(later.raw_events) == later


def test_bad_calls_to_normalise_raise_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="several: A, B"):
        normalise([raw(1, "PUP", "A"), raw(2, "HUB", "B")], CODES)
    with pytest.raises(InvalidInput, match="RawTrackingEvent"):
        normalise(["PUP"], CODES)  # type: ignore[list-item]
    with pytest.raises(InvalidInput, match="name the parcel"):
        normalise([], CODES)
    empty = normalise([], CODES, tracking_number="TN9")
    assert (empty.status, empty.events, empty.tracking_number) == (None, (), "TN9")
    with pytest.raises(InvalidInput, match="timezone-aware"):
        RawTrackingEvent(tracking_number="A", code="PUP", occurred_at=datetime(2026, 11, 23))


def test_a_code_table_refuses_what_is_not_a_status() -> None:
    with pytest.raises(InvalidInput, match="'arrived', which is not a tracking status"):
        CodeTable(carrier="x", codes={"A": "arrived"})
    with pytest.raises(InvalidInput, match="leave unknown codes out"):
        CodeTable(carrier="x", codes={"A": "unknown"})


def test_statuses_name_the_shipment_state_they_lead_to() -> None:
    assert S.PICKED_UP_BY_CARRIER.shipment_state == "shipped"
    assert S.READY_FOR_PICKUP.shipment_state == "ready_for_pickup"
    assert S.LABEL_CREATED.shipment_state is None
    assert S.EXCEPTION.shipment_state is None
    assert {s for s in S if s.is_final} == {
        S.DELIVERED,
        S.PICKED_UP,
        S.RETURNED_TO_SENDER,
        S.LOST,
        S.CANCELED,
    }


# --- the fake carrier -------------------------------------------------------------------------


def make(noisy: bool = False) -> tuple[FakeCarrier, FixedClock]:
    clock = FixedClock(T0)
    return FakeCarrier("tw-post", clock, noisy=noisy), clock


def test_rates_are_hand_computed_from_the_table() -> None:
    carrier, _ = make()
    # Two tees, 400 g, one parcel to Taipei: cvs 60 a parcel, post 80 (1 kg tier),
    # home 100 (1 kg tier), rider 150 flat.
    quotes = carrier.rates(
        RateRequest(
            origin=WAREHOUSE,
            destination=TAIPEI,
            parcels=pack([ShipmentItem(TEE, 2)]),
            declared_value=nt(1180),
        )
    )
    assert [(q.service_id, q.fee) for q in quotes] == [
        ("cvs", nt(60)),
        ("post", nt(80)),
        ("home", nt(100)),
        ("rider", nt(150)),
    ]
    assert [q.kind for q in quotes] == [
        DeliveryKind.CVS_PICKUP,
        DeliveryKind.POST_OFFICE,
        DeliveryKind.COURIER,
        DeliveryKind.SAME_DAY_RIDER,
    ]
    # To Penghu with cash on delivery: cvs 60 + COD 0 = 60; home 100 + 100 islands + 30 COD = 230;
    # the post office and the rider collect no cash, and the rider does not go there.
    quotes = carrier.rates(
        RateRequest(
            origin=WAREHOUSE,
            destination=PENGHU,
            parcels=pack([ShipmentItem(TEE, 2)]),
            declared_value=nt(1180),
            cod_amount=nt(1180),
        )
    )
    assert [(q.service_id, q.fee) for q in quotes] == [("cvs", nt(60)), ("home", nt(230))]


def test_rates_for_one_service_raise_its_refusal() -> None:
    carrier, _ = make()
    with pytest.raises(ParcelOverLimits):
        carrier.rates(booking(service="cvs", items=((BRICK, 1),)).rate_request())
    with pytest.raises(NotFound, match="'store'"):
        carrier.rates(booking(service="store").rate_request())  # in-store needs no carrier


def test_booking_is_idempotent_per_key() -> None:
    carrier, _ = make()
    first = carrier.book(booking("k-1"))
    assert first.tracking_number == "TWPOST00000001"
    assert [label.barcode for label in first.labels] == ["TWPOST00000001-01"]
    assert first.fee == nt(100)
    assert carrier.book(booking("k-1")) == first
    with pytest.raises(IdempotencyConflict, match="k-1"):
        carrier.book(booking("k-1", shipment="shp-2"))
    assert carrier.book(booking("k-2", shipment="shp-2")).tracking_number == "TWPOST00000002"
    assert len(carrier.bookings) == 2


def test_a_refused_booking_changes_nothing() -> None:
    carrier, _ = make()
    with pytest.raises(InvalidInput, match="pickup_point"):
        carrier.book(booking("k-1", service="cvs"))
    with pytest.raises(CodOverCap):
        carrier.book(booking("k-1", service="cvs", cod=nt(20001), pickup_point="7-11"))
    assert carrier.bookings == ()
    assert carrier.book(booking("k-1")).tracking_number == "TWPOST00000001"


def test_an_unanswered_booking_is_retried_under_its_key() -> None:
    carrier, _ = make()
    carrier.fail_next("book")
    with pytest.raises(CarrierUnavailable, match="before reaching"):
        carrier.book(booking("k-1"))
    before = carrier.bookings
    assert before == ()
    carrier.fail_next("book", after_success=True)
    with pytest.raises(CarrierUnavailable, match="after doing the work"):
        carrier.book(booking("k-1"))
    retried = carrier.book(booking("k-1"))
    assert carrier.bookings == (retried,)  # booked once, though asked three times


def test_cancel_before_pickup_and_not_after() -> None:
    carrier, clock = make()
    early = carrier.book(booking("k-1"))
    cancel = CancelRequest(idempotency_key="c-1", tracking_number=early.tracking_number)
    done = carrier.cancel(cancel)
    assert done.canceled_at == T0
    assert carrier.cancel(cancel) == done
    assert (
        carrier.cancel(CancelRequest(idempotency_key="c-2", tracking_number=early.tracking_number))
        == done
    )
    clock.advance(timedelta(hours=30))
    assert normalise(carrier.track(early.tracking_number), CODES).status is S.CANCELED
    late = carrier.book(booking("k-2", shipment="shp-2"))
    clock.advance(timedelta(hours=4))  # picked up at 4h
    with pytest.raises(NotEligible) as too_late:
        carrier.cancel(CancelRequest(idempotency_key="c-3", tracking_number=late.tracking_number))
    assert too_late.value.code == "too_late_to_cancel"


@pytest.mark.parametrize(
    ("timeline", "service", "hours", "final", "path"),
    [
        (
            Timeline.NORMAL,
            "home",
            28,
            S.DELIVERED,
            [
                "label_created",
                "picked_up_by_carrier",
                "in_transit",
                "out_for_delivery",
                "delivered",
            ],
        ),
        (
            Timeline.DELAYED,
            "home",
            75,
            S.OUT_FOR_DELIVERY,
            ["label_created", "picked_up_by_carrier", "in_transit", "out_for_delivery"],
        ),
        (
            Timeline.FAILED_ATTEMPT,
            "home",
            60,
            S.DELIVERED,
            [
                "label_created",
                "picked_up_by_carrier",
                "in_transit",
                "out_for_delivery",
                "delivery_failed",
                "out_for_delivery",
                "delivered",
            ],
        ),
        (
            Timeline.LOST,
            "home",
            200,
            S.LOST,
            ["label_created", "picked_up_by_carrier", "in_transit", "lost"],
        ),
        (
            Timeline.CVS_PICKUP,
            "cvs",
            50,
            S.PICKED_UP,
            [
                "label_created",
                "picked_up_by_carrier",
                "in_transit",
                "ready_for_pickup",
                "picked_up",
            ],
        ),
        (
            Timeline.PICKUP_EXPIRED,
            "cvs",
            246,
            S.RETURNED_TO_SENDER,
            [
                "label_created",
                "picked_up_by_carrier",
                "in_transit",
                "ready_for_pickup",
                "pickup_expired",
                "returned_to_sender",
            ],
        ),
    ],
)
def test_each_scripted_timeline_plays_out(
    timeline: Timeline, service: str, hours: int, final: S, path: list[str]
) -> None:
    carrier, clock = make(noisy=True)
    carrier.set_timeline("shp-1", timeline)
    booked = carrier.book(
        booking(service=service, pickup_point="7-11" if service == "cvs" else None)
    )
    clock.advance(timedelta(hours=hours))
    events = carrier.track(booked.tracking_number)
    history = normalise(events, carrier.codes)
    assert history.status is final
    assert statuses(history.changes) == path
    assert history.repeats * 2 == len(events)  # noisy: each event came twice


def test_the_delayed_timeline_flags_its_weather_hold() -> None:
    carrier, clock = make()
    carrier.set_timeline("shp-1", "delayed")
    booked = carrier.book(booking())
    clock.advance(timedelta(hours=21))
    history = normalise(carrier.track(booked.tracking_number), carrier.codes)
    assert (history.status, history.unknown_codes) == (S.IN_TRANSIT, ("WX",))


def test_tracking_shows_only_what_has_happened_by_now() -> None:
    carrier, clock = make()
    booked = carrier.book(booking())
    assert [e.code for e in carrier.track(booked.tracking_number)] == ["LBL"]
    clock.advance(timedelta(hours=10))
    assert [e.code for e in carrier.track(booked.tracking_number)] == ["LBL", "PUP", "HUB"]
    carrier.fail_next("track")
    with pytest.raises(CarrierUnavailable):
        carrier.track(booked.tracking_number)
    with pytest.raises(NotFound):
        carrier.track("NOPE")


def test_the_fake_refuses_bad_controls() -> None:
    carrier, _ = make()
    with pytest.raises(InvalidInput, match="unknown timeline"):
        carrier.set_timeline("shp-1", "teleported")
    with pytest.raises(InvalidInput, match="unknown operation"):
        carrier.fail_next("ship")
    with pytest.raises(InvalidInput, match="only book and cancel"):
        carrier.fail_next("track", after_success=True)


def test_the_fake_can_play_a_fulfilment_house() -> None:
    carrier = FakeCarrier("3pl-asia", FixedClock(T0), kinds={"home": "third_party"})
    quote = carrier.rates(booking().rate_request())
    assert [(q.service_id, q.kind) for q in quote] == [("home", DeliveryKind.THIRD_PARTY)]
    assert DeliveryOption(kind="third_party", carrier="3pl-asia", service_id="home", cod=True).cod
    with pytest.raises(InvalidInput, match="does not have"):
        FakeCarrier("x", FixedClock(T0), kinds={"boat": "courier"})
    with pytest.raises(InvalidInput, match="unknown delivery kind 'drone'"):
        FakeCarrier("x", FixedClock(T0), kinds={"home": "drone"})
    with pytest.raises(InvalidInput, match="letter or digit"):
        FakeCarrier("--", FixedClock(T0))
