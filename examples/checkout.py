"""Take orders through payment with the Shop facade and the fake gateway.

A card order is authorised, captured at shipment and partly refunded; a card
that is declined puts its order on hold; a 3-D Secure order is completed by
the provider's notification (delivered twice: applied once); a
cash-on-delivery order is approved without any gateway call.

Run it: ``python examples/checkout.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fourflows import Money
from fourflows.adapters.fake_gateway import FakeGateway
from fourflows.adapters.fakes import FixedClock, SequentialIds
from fourflows.app.checkout import CapturePayment, PlaceOrder, RefundPayment, ShopResult
from fourflows.app.shop import Shop
from fourflows.commerce.catalog import Catalog, Product
from fourflows.logistics.shipping import ShippingTable
from fourflows.tax import TaxTable

TAIPEI = {"country": "TW", "city": "Taipei", "postal_code": "106"}


def show(shop: Shop, what: str, result: ShopResult) -> None:
    """Print one step: the outcome, the order's state and its derived payment status."""
    status = shop.payment_status(result.order_id).value
    print(f"{what:<28} {result.outcome:<16} order {result.order_state:<20} money {status}")


def main() -> None:
    """Run the walkthrough."""
    clock = FixedClock(datetime(2026, 11, 20, 4, 0, tzinfo=UTC))
    gateway = FakeGateway(clock)
    tee = Product(
        sku="TEE-M", name="T-shirt", price=Money("590", "TWD"), weight_g=200, size_cm=(30, 20, 3)
    )
    shop = Shop.in_memory(
        catalog=Catalog([tee]),
        tax=TaxTable.preset("TW"),
        shipping=ShippingTable.example_taiwan(),
        gateway=gateway,
        clock=clock,
        ids=SequentialIds(),
    )

    def order(key: str, token: str = "fake-card-approve", method: str = "card") -> PlaceOrder:
        return PlaceOrder(
            idempotency_key=key,
            items={"TEE-M": 2},
            ship_to=TAIPEI,
            service="home",
            payment_method=method,
            payment_token=token,
        )

    card = shop.place_order(order("web-1"))
    show(shop, "card order placed", card)
    assert shop.place_order(order("web-1")) == card  # a repeat changes nothing
    assert card.payment_id is not None
    total = shop.order(card.order_id).totals.total  # 2 × 590 + 100 home delivery = 1280
    captured = shop.capture_payment(
        CapturePayment(idempotency_key="ship-1", payment_id=card.payment_id, amount=total)
    )
    show(shop, f"captured {total}", captured)
    refund = RefundPayment(
        idempotency_key="rma-1",
        payment_id=card.payment_id,
        amount=Money("590", "TWD"),
        reason="one shirt returned",
    )
    show(shop, "refunded 590 TWD", shop.refund_payment(refund))

    declined = shop.place_order(order("web-2", "fake-card-insufficient-funds"))
    show(shop, "card declined", declined)
    print(f"  hold reason: {shop.order(declined.order_id).hold_reason}")

    secure = shop.place_order(order("web-3", "fake-card-3ds"))
    show(shop, "3-D Secure asked", secure)
    assert secure.payment_id is not None
    action = shop.payment(secure.payment_id).action
    assert action is not None
    gateway.complete_action(action.reference)
    for notice in gateway.take_notifications() * 2:  # every webhook arrives twice
        shop.apply_notification(notice)
    print(f"  after the webhooks: order {shop.order(secure.order_id).state}")

    cod = shop.place_order(order("web-4", method="cash_on_delivery"))
    show(shop, "cash on delivery", cod)


if __name__ == "__main__":
    main()
