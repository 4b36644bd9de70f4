"""The FakeCarrier keeps the Carrier contract."""

from datetime import UTC, datetime

from fourflows.adapters.fake_carrier import FakeCarrier
from fourflows.adapters.fakes import FixedClock
from fourflows.commerce.catalog import Product
from fourflows.geo import Address
from fourflows.logistics.carriers import BookingRequest
from fourflows.logistics.packing import pack
from fourflows.logistics.shipping import ShipmentItem
from fourflows.money import Money
from fourflows.testing.carrier_contract import CarrierContract

TEE = Product(
    sku="TEE", name="T-shirt", price=Money("590", "TWD"), weight_g=200, size_cm=(30, 20, 3)
)
ANVIL = Product(sku="ANVIL", name="Anvil", price=Money("990", "TWD"), weight_g=6000)
WAREHOUSE = Address(country="TW", postal_code="300", city="Hsinchu")
CUSTOMER = Address(country="TW", region="TW-TPE", postal_code="106", city="Taipei")


class TestFakeCarrier(CarrierContract):
    def make_carrier(self) -> FakeCarrier:
        return FakeCarrier("tw-post", FixedClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC)))

    def booking_request(self, *, idempotency_key: str, shipment_id: str) -> BookingRequest:
        return BookingRequest(
            idempotency_key=idempotency_key,
            shipment_id=shipment_id,
            service_id="home",
            origin=WAREHOUSE,
            destination=CUSTOMER,
            parcels=pack([ShipmentItem(TEE, 2)]),
            declared_value=Money("1180", "TWD"),
        )

    def oversized_request(self, *, idempotency_key: str, shipment_id: str) -> BookingRequest:
        # A 6 kg anvil for the convenience store, which takes 5 kg at most.
        return BookingRequest(
            idempotency_key=idempotency_key,
            shipment_id=shipment_id,
            service_id="cvs",
            origin=WAREHOUSE,
            destination=CUSTOMER,
            parcels=pack([ShipmentItem(ANVIL, 1)]),
            declared_value=Money("990", "TWD"),
            pickup_point="7-ELEVEN 123456",
        )

    def cod_over_cap_request(self, *, idempotency_key: str, shipment_id: str) -> BookingRequest:
        # 34 T-shirts at 590 = 20,060 to collect, over the store's 20,000 cap.
        return BookingRequest(
            idempotency_key=idempotency_key,
            shipment_id=shipment_id,
            service_id="cvs",
            origin=WAREHOUSE,
            destination=CUSTOMER,
            parcels=pack([ShipmentItem(TEE, 1)]),
            declared_value=Money("20060", "TWD"),
            cod_amount=Money("20060", "TWD"),
            pickup_point="7-ELEVEN 123456",
        )
