"""The FakeGateway keeps the PaymentGateway contract, in more than one currency."""

from datetime import UTC, datetime

from fourflows.adapters.fake_gateway import FakeGateway
from fourflows.adapters.fakes import FixedClock
from fourflows.cash.gateway import (
    AuthorizeRequest,
    DeclineReason,
    GatewayNotification,
    NotificationPayload,
)
from fourflows.money import Money
from fourflows.testing.gateway_contract import GatewayContract


class TestFakeGateway(GatewayContract):
    declined_reason = DeclineReason.DECLINED

    def make_gateway(self) -> FakeGateway:
        return FakeGateway(FixedClock(datetime(2026, 11, 22, 9, 0, tzinfo=UTC)))

    def approvable_authorization(
        self, *, idempotency_key: str, payment_id: str, amount: Money
    ) -> AuthorizeRequest:
        return AuthorizeRequest(
            idempotency_key=idempotency_key,
            payment_id=payment_id,
            amount=amount,
            payment_method="fake-card-approve",
        )

    def declinable_authorization(
        self, *, idempotency_key: str, payment_id: str, amount: Money
    ) -> AuthorizeRequest:
        return AuthorizeRequest(
            idempotency_key=idempotency_key,
            payment_id=payment_id,
            amount=amount,
            payment_method="fake-card-declined",
        )

    def notification_payload(self, notification: GatewayNotification) -> NotificationPayload:
        return notification.to_payload()


class TestFakeGatewayInYen(TestFakeGateway):
    """JPY has no minor unit: "one unit more" is 1 yen, not 0.01."""

    currency = "JPY"
    declined_reason = DeclineReason.INSUFFICIENT_FUNDS

    def declinable_authorization(
        self, *, idempotency_key: str, payment_id: str, amount: Money
    ) -> AuthorizeRequest:
        return AuthorizeRequest(
            idempotency_key=idempotency_key,
            payment_id=payment_id,
            amount=amount,
            payment_method="fake-card-insufficient-funds",
        )
