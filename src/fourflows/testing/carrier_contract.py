"""The contract of `fourflows.logistics.carriers.Carrier`, as a pytest class any adapter can run.

Subclass `CarrierContract` in your own test file, name the subclass
``Test...`` and supply two factories: the carrier, and a booking request its
sandbox accepts. Optionally supply requests it must refuse (a parcel over a
service's limits, cash on delivery above a service's cap)::

    from fourflows.testing.carrier_contract import CarrierContract

    class TestMyCarrier(CarrierContract):
        def make_carrier(self):
            return MyCarrier(api_key=SANDBOX_KEY)

        def booking_request(self, *, idempotency_key, shipment_id):
            return BookingRequest(idempotency_key=idempotency_key, shipment_id=shipment_id,
                                  service_id="home", origin=..., destination=...,
                                  parcels=(parcel,), declared_value=Money("990", "TWD"))

fourflows runs the same class against `fourflows.adapters.fake_carrier.FakeCarrier`.
A sandbox remembers idempotency keys between runs: override `unique` so that
each run uses keys and shipment ids of its own. The suite checks what the
shipment relies on: rates, one booking per key, a key reused for another
request refused, cancelling before pickup, tracking read through the
carrier's code table without a crash, unknown tracking numbers, and refusals
that book nothing.
"""

from __future__ import annotations

import abc

import attrs
import pytest

from fourflows.errors import IdempotencyConflict, NotFound
from fourflows.logistics.carriers import (
    Booking,
    BookingRequest,
    CancelRequest,
    Carrier,
    CodOverCap,
    ParcelOverLimits,
    RateQuote,
    TrackingStatus,
    normalise,
)

__all__ = ["CarrierContract"]


class CarrierContract(abc.ABC):
    """Promises of `fourflows.logistics.carriers.Carrier`, for the fake and real carriers."""

    @abc.abstractmethod
    def make_carrier(self) -> Carrier:
        """Return a new carrier to check; override in your subclass."""

    @abc.abstractmethod
    def booking_request(self, *, idempotency_key: str, shipment_id: str) -> BookingRequest:
        """A booking the carrier accepts and can still cancel at once; override it."""

    def oversized_request(self, *, idempotency_key: str, shipment_id: str) -> BookingRequest | None:
        """A booking with a parcel over its service's limits, or ``None`` to skip that test."""
        return None

    def cod_over_cap_request(
        self, *, idempotency_key: str, shipment_id: str
    ) -> BookingRequest | None:
        """A booking collecting more cash than its service may, or ``None`` to skip that test."""
        return None

    def unique(self, name: str) -> str:
        """``name`` made unique to this run (override when the sandbox remembers keys)."""
        return name

    # --- helpers ---------------------------------------------------------------------------

    def request(self, name: str, shipment: str | None = None) -> BookingRequest:
        """The accepted booking, under key ``name`` for shipment ``shipment`` (default ``name``)."""
        return self.booking_request(
            idempotency_key=self.unique(name), shipment_id=self.unique(shipment or name)
        )

    def booked(self, carrier: Carrier, name: str) -> Booking:
        """Book `request` ``name`` and check the answer names it."""
        request = self.request(name)
        booking = carrier.book(request)
        assert booking.idempotency_key == request.idempotency_key
        assert booking.shipment_id == request.shipment_id
        assert booking.service_id == request.service_id
        assert booking.carrier == carrier.name
        return booking

    # --- the promises ----------------------------------------------------------------------

    def test_rates_price_the_booking_service_in_its_currency(self) -> None:
        """Every quote is for these parcels, cheapest first, and the booked service is priced."""
        carrier = self.make_carrier()
        request = self.request("rates").rate_request()
        quotes = carrier.rates(attrs.evolve(request, service_id=None))
        assert quotes, "a service that books these parcels must also price them"
        assert all(isinstance(quote, RateQuote) for quote in quotes)
        assert [q.fee for q in quotes] == sorted(q.fee for q in quotes)
        assert {q.fee.code for q in quotes} == {request.declared_value.code}
        assert all(q.parcels == len(request.parcels) for q in quotes)
        only = carrier.rates(request)
        assert [q.service_id for q in only] == [request.service_id]
        assert only[0] in quotes

    def test_a_booking_has_a_tracking_number_and_a_label_per_parcel(self) -> None:
        """A tracking number, one label for each parcel, and a fee in the goods' currency."""
        carrier = self.make_carrier()
        booking = self.booked(carrier, "book")
        request = self.request("book")
        assert booking.tracking_number.strip()
        assert [label.parcel for label in booking.labels] == list(range(len(request.parcels)))
        assert len({label.barcode for label in booking.labels}) == len(booking.labels)
        assert booking.fee.code == request.declared_value.code
        assert booking.booked_at.tzinfo is not None

    def test_a_repeated_booking_returns_the_first_and_books_once(self) -> None:
        """Same key, same request: the same booking, not a second parcel pickup."""
        carrier = self.make_carrier()
        first = self.booked(carrier, "repeat")
        assert carrier.book(self.request("repeat")) == first
        other = self.booked(carrier, "repeat-other")
        assert other.tracking_number != first.tracking_number

    def test_a_key_reused_for_another_request_is_refused(self) -> None:
        """`IdempotencyConflict` naming the key, and the first booking stands alone."""
        carrier = self.make_carrier()
        first = self.booked(carrier, "conflict")
        changed = self.request("conflict", shipment="conflict-other-shipment")
        with pytest.raises(IdempotencyConflict, match=changed.idempotency_key):
            carrier.book(changed)
        as_cancel = CancelRequest(
            idempotency_key=changed.idempotency_key, tracking_number=first.tracking_number
        )
        with pytest.raises(IdempotencyConflict):
            carrier.cancel(as_cancel)
        assert carrier.book(self.request("conflict")) == first

    def test_tracking_reads_through_the_code_table(self) -> None:
        """A new booking's events are its own and normalise, without a crash, to a status."""
        carrier = self.make_carrier()
        booking = self.booked(carrier, "track")
        events = carrier.track(booking.tracking_number)
        assert all(event.tracking_number == booking.tracking_number for event in events)
        assert all(event.occurred_at.tzinfo is not None for event in events)
        history = normalise(events, carrier.codes, tracking_number=booking.tracking_number)
        assert history.tracking_number == booking.tracking_number
        assert history.status in (None, TrackingStatus.LABEL_CREATED)
        twice = normalise(
            [*events, *events], carrier.codes, tracking_number=history.tracking_number
        )
        assert twice.status == history.status

    def test_an_unknown_tracking_number_is_not_found(self) -> None:
        """`NotFound` from track and cancel for a number the carrier never gave."""
        carrier = self.make_carrier()
        missing = self.unique("no-such-parcel-0000")
        with pytest.raises(NotFound):
            carrier.track(missing)
        with pytest.raises(NotFound):
            carrier.cancel(
                CancelRequest(
                    idempotency_key=self.unique("cancel-missing"), tracking_number=missing
                )
            )

    def test_a_booking_cancelled_before_pickup_tracks_as_canceled(self) -> None:
        """Cancel once per key; the repeat answers the same; tracking ends in ``canceled``."""
        carrier = self.make_carrier()
        booking = self.booked(carrier, "cancel")
        request = CancelRequest(
            idempotency_key=self.unique("cancel-cancel"), tracking_number=booking.tracking_number
        )
        cancellation = carrier.cancel(request)
        assert cancellation.tracking_number == booking.tracking_number
        assert cancellation.idempotency_key == request.idempotency_key
        assert carrier.cancel(request) == cancellation
        history = normalise(carrier.track(booking.tracking_number), carrier.codes)
        assert history.status is TrackingStatus.CANCELED

    def test_a_parcel_over_the_limits_is_refused_and_books_nothing(self) -> None:
        """`ParcelOverLimits`; the key stays unused, so the good request books under it."""
        request = self.oversized_request(
            idempotency_key=self.unique("oversized"), shipment_id=self.unique("oversized")
        )
        if request is None:
            pytest.skip("no oversized request given")
        carrier = self.make_carrier()
        with pytest.raises(ParcelOverLimits):
            carrier.rates(request.rate_request())
        with pytest.raises(ParcelOverLimits):
            carrier.book(request)
        assert carrier.book(self.request("oversized")).idempotency_key == request.idempotency_key

    def test_cash_on_delivery_over_the_cap_is_refused_and_books_nothing(self) -> None:
        """`CodOverCap`; the key stays unused, so the good request books under it."""
        request = self.cod_over_cap_request(
            idempotency_key=self.unique("cod-cap"), shipment_id=self.unique("cod-cap")
        )
        if request is None:
            pytest.skip("no cash-on-delivery request over the cap given")
        carrier = self.make_carrier()
        with pytest.raises(CodOverCap):
            carrier.book(request)
        assert carrier.book(self.request("cod-cap")).idempotency_key == request.idempotency_key
