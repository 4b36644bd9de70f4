"""The FakeGateway keeps the DisputeGateway contract: evidence on a dispute it opened."""

from datetime import UTC, datetime

from fourflows.adapters.fake_gateway import FakeGateway
from fourflows.adapters.fakes import FixedClock
from fourflows.cash.gateway import AuthorizeRequest, CaptureRequest, DisputeGateway
from fourflows.money import Money
from fourflows.testing.gateway_contract import DisputeContract


class TestFakeGatewayDisputes(DisputeContract):
    def make_gateway(self) -> FakeGateway:
        return FakeGateway(FixedClock(datetime(2026, 11, 22, 9, 0, tzinfo=UTC)))

    def disputed_payment(self, gateway: DisputeGateway, name: str) -> tuple[str, str]:
        assert isinstance(gateway, FakeGateway)
        amount = Money("1000", "TWD")
        auth = gateway.authorize(
            AuthorizeRequest(
                idempotency_key=f"{name}-auth",
                payment_id=name,
                amount=amount,
                payment_method="fake-card-approve",
            )
        )
        gateway.capture(
            CaptureRequest(
                idempotency_key=f"{name}-capture",
                payment_id=name,
                authorization_ref=auth.provider_ref,
                amount=amount,
            )
        )
        opened = gateway.open_dispute(name)
        assert opened.dispute_id is not None
        return opened.dispute_id, name
