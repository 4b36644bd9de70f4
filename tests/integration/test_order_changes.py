"""Order changes through the shop's bus: previewed, proposed, confirmed or declined, money moved.

Figures (prices include 5% TW tax, whole TWD): a T-shirt is 590, so two make 1180;
home delivery in Taipei costs 100 (up to 1 kg), on the islands 100 + 100 = 200, by a
same-day rider 150. An order of two T-shirts is 1180 + 100 = 1280.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fourflows.adapters.fake_gateway import FakeGateway, Scenario, Step
from fourflows.adapters.fakes import FixedClock, SequentialIds
from fourflows.adapters.memory import MemoryStore
from fourflows.app.bootstrap import COMMAND_HANDLERS
from fourflows.app.changes import (
    ChangeEffect,
    ConfirmOrderChange,
    DeclineOrderChange,
    OrderChanges,
    PreviewOrderChange,
    ProposeOrderChange,
    SkuChange,
)
from fourflows.app.checkout import (
    POLICIES,
    CapturePayment,
    Checkout,
    IssueStoreCredit,
    PlaceOrder,
    ShopResult,
)
from fourflows.app.messagebus import MessageBus
from fourflows.app.shop import Shop
from fourflows.commerce.catalog import Catalog
from fourflows.commerce.order import Order, PaymentStatus
from fourflows.errors import (
    CurrencyMismatch,
    GatewayUnavailable,
    GuardRejected,
    IdempotencyConflict,
    InvalidInput,
    NotFound,
)
from fourflows.logistics.shipping import ShippingTable
from fourflows.money import Money
from fourflows.tax import TaxTable
from shop_fixtures import AT, ONCE, SPRING, TAIPEI, TEE, twd

PENGHU = {"country": "TW", "city": "Magong", "postal_code": "880"}
KAOHSIUNG = {"country": "TW", "city": "Kaohsiung", "postal_code": "800"}


def make_shop() -> tuple[Shop, FakeGateway]:
    """A shop whose bus knows the checkout commands and the order-change commands."""
    clock = FixedClock(AT)
    gateway = FakeGateway(clock)
    checkout = Checkout(
        catalog=Catalog([TEE]),
        tax=TaxTable.preset("TW"),
        gateway=gateway,
        shipping=ShippingTable.example_taiwan(),
        promotions=[SPRING],
        coupons=[ONCE],
    )
    changes = OrderChanges.for_checkout(checkout)
    store = MemoryStore()
    bus = MessageBus(
        unit_of_work=store.unit_of_work,
        clock=clock,
        ids=SequentialIds(),
        commands={**COMMAND_HANDLERS, **checkout.handlers(), **changes.handlers()},
        policies=POLICIES,
    )
    return Shop(bus=bus, store=store, checkout=checkout), gateway


def place(shop: Shop, token: str = "fake-card-approve", **changes: Any) -> ShopResult:
    fields: dict[str, Any] = {
        "idempotency_key": "place-1",
        "items": {"TEE-M": 2},
        "customer_id": "c-1",
        "ship_to": TAIPEI,
        "service": "home",
        "payment_token": token,
    }
    fields.update(changes)
    result = shop.handle(PlaceOrder(**fields))
    assert isinstance(result, ShopResult)
    return result


def send(shop: Shop, command: Any) -> ShopResult:
    result = shop.handle(command)
    assert isinstance(result, ShopResult)
    return result


def propose(shop: Shop, order_id: str, change_id: str = "ch-1", **asked: Any) -> ShopResult:
    return send(
        shop,
        ProposeOrderChange(
            idempotency_key=f"propose-{change_id}", order_id=order_id, change_id=change_id, **asked
        ),
    )


def confirm(shop: Shop, order_id: str, change_id: str = "ch-1", **more: Any) -> ShopResult:
    key = more.pop("idempotency_key", f"confirm-{change_id}")
    return send(
        shop,
        ConfirmOrderChange(idempotency_key=key, order_id=order_id, change_id=change_id, **more),
    )


# --- before payment ----------------------------------------------------------------------------


def test_quantity_down_before_payment_reprices_and_the_payment_follows() -> None:
    shop, gateway = make_shop()
    placed = place(shop, token="fake-card-3ds")  # the customer has not passed 3-D Secure yet
    order_id, old = placed.order_id, placed.payment_id
    assert (placed.order_state, placed.payment_state) == ("pending_payment", "requires_action")

    effect = shop.handle(
        PreviewOrderChange(order_id=order_id, change_id="ch-1", quantities={"TEE-M": 1})
    )
    assert isinstance(effect, ChangeEffect)
    # 1 × 590 + 100 home delivery = 690: 590 less than 1280
    assert (effect.previous_total, effect.new_total, effect.difference) == (
        twd(1280),
        twd(690),
        twd(-590),
    )
    assert effect.repriced
    assert effect.skus == (SkuChange(sku="TEE-M", before=2, after=1),)
    assert effect.to_collect == twd(690)  # nothing is held yet: the new payment asks for all
    assert shop.order(order_id).pending_change is None  # a preview records nothing

    assert propose(shop, order_id, quantities={"TEE-M": 1}).outcome == "proposed"
    done = confirm(shop, order_id)

    assert done.outcome == "confirmed"
    assert done.payment_id != old
    assert done.payment_state == "requires_action"
    assert shop.order(order_id).totals.total == twd(690)
    first, second = shop.payments_of(order_id)
    assert (first.id, first.state) == (old, "voided")  # the pending payment was canceled
    assert (second.amount, second.state) == (twd(690), "requires_action")
    # The customer passes 3-D Secure for the new payment: the order is paid for 690.
    assert second.action is not None
    gateway.complete_action(second.action.reference)
    for notice in gateway.take_notifications():
        shop.apply_notification(notice)
    assert shop.order(order_id).state == "awaiting_fulfilment"
    assert shop.figures(order_id).authorized == twd(690)


def test_quantity_up_before_payment_keeps_the_orders_own_coupon() -> None:
    shop, _ = make_shop()
    placed = place(shop, token="fake-card-3ds", coupon_codes=["SPRING10"])
    order_id = placed.order_id
    # SPRING10 may be used once, and this order holds that one use: it still applies.
    # 3 × 590 = 1770, 10% off = 177, so 1593 + 100 home delivery = 1693.
    assert propose(shop, order_id, quantities={"TEE-M": 3}).outcome == "proposed"
    assert confirm(shop, order_id).outcome == "confirmed"
    order = shop.order(order_id)
    assert order.totals.total == twd(1693)
    assert order.coupon_codes == ("SPRING10",)
    assert [(p.amount, p.state) for p in shop.payments_of(order_id)] == [
        (twd(1062 + 100), "voided"),  # the first payment: 1180 − 118 + 100
        (twd(1693), "requires_action"),
    ]


def test_a_declined_new_payment_before_payment_declines_the_change() -> None:
    shop, _ = make_shop()
    placed = place(shop, token="fake-card-3ds")
    propose(shop, placed.order_id, quantities={"TEE-M": 1})
    done = confirm(shop, placed.order_id, payment_token="fake-card-declined")
    assert done.outcome == "payment_declined"
    order = shop.order(placed.order_id)
    assert order.totals.total == twd(1280)
    assert order.decided_changes == {"ch-1": "declined"}
    (payment,) = shop.payments_of(placed.order_id)  # the old payment still waits for 3-D Secure
    assert payment.state == "requires_action"


def test_an_approved_new_payment_pays_the_order_and_a_late_old_one_is_given_back() -> None:
    shop, gateway = make_shop()
    placed = place(shop, token="fake-card-3ds")
    old = shop.payment(str(placed.payment_id))
    assert old.action is not None
    propose(shop, placed.order_id, quantities={"TEE-M": 1})
    done = confirm(shop, placed.order_id, payment_token="fake-card-approve")
    assert (done.outcome, done.payment_state) == ("confirmed", "authorized")
    assert shop.order(placed.order_id).state == "awaiting_fulfilment"  # 690 held covers 690
    # The customer finishes 3-D Secure on the replaced payment after all: the provider
    # holds 1280 for it, and the shop releases that hold at once.
    gateway.complete_action(old.action.reference)
    outcomes = [shop.apply_notification(n).outcome for n in gateway.take_notifications()]
    assert "compensated" in outcomes
    assert gateway.balance(old.id).released == twd(1280)
    assert shop.figures(placed.order_id).authorized == twd(690)


def test_a_bank_transfer_gets_a_new_virtual_account_for_the_new_total() -> None:
    shop, _ = make_shop()
    placed = place(shop, token="fake-bank-transfer", payment_method="bank_transfer")
    assert placed.virtual_account is not None
    propose(shop, placed.order_id, quantities={"TEE-M": 1})
    done = confirm(shop, placed.order_id)
    assert done.outcome == "confirmed"
    assert done.virtual_account is not None
    assert done.virtual_account != placed.virtual_account
    assert done.deadline is not None
    assert shop.payment(str(done.payment_id)).amount == twd(690)


# --- after payment: the total goes down --------------------------------------------------------


def test_quantity_down_after_authorisation_captures_what_is_due_and_voids_the_rest() -> None:
    shop, gateway = make_shop()
    placed = place(shop)
    order_id, pay = placed.order_id, placed.payment_id
    assert pay is not None
    effect = shop.handle(
        PreviewOrderChange(order_id=order_id, change_id="ch-1", quantities={"TEE-M": 1})
    )
    assert isinstance(effect, ChangeEffect)
    # After payment the prices paid stand and the shipping fee paid stays: 590 + 100 = 690.
    assert not effect.repriced
    assert effect.new_total == twd(690)
    assert (effect.to_collect, effect.to_refund) == (twd(0), twd(0))  # nothing was captured

    propose(shop, order_id, quantities={"TEE-M": 1})
    done = confirm(shop, order_id)

    assert done.outcome == "confirmed"
    # The port voids only all of what is left: 690 is captured, the other 590 released.
    balance = gateway.balance(pay)
    assert (balance.captured, balance.released) == (twd(690), twd(590))
    assert shop.payment(pay).state == "captured"
    assert shop.order(order_id).totals.total == twd(690)
    assert shop.payment_status(order_id) is PaymentStatus.PAID


def test_quantity_down_after_capture_refunds_the_difference() -> None:
    shop, gateway = make_shop()
    placed = place(shop)
    pay = placed.payment_id
    assert pay is not None
    send(shop, CapturePayment(idempotency_key="cap-1", payment_id=pay, amount=twd(1280)))
    propose(shop, placed.order_id, quantities={"TEE-M": 1})
    done = confirm(shop, placed.order_id)
    assert done.outcome == "confirmed"
    # 1280 captured, the order now costs 690: 590 goes back.
    assert gateway.balance(pay).refunded == twd(590)
    assert shop.figures(placed.order_id).kept == twd(690)
    assert shop.payment_status(placed.order_id) is PaymentStatus.PARTIALLY_REFUNDED


def test_a_split_tender_gives_back_the_card_hold_first_then_store_credit() -> None:
    shop, gateway = make_shop()
    shop.handle(
        IssueStoreCredit(idempotency_key="sc-1", customer_id="c-1", amount=twd(1080), reason="gift")
    )
    placed = place(
        shop,
        tenders=[
            {"method": "card", "amount": {"amount": "200", "currency": "TWD"}},
            {"method": "store_credit", "amount": {"amount": "1080", "currency": "TWD"}},
        ],
    )
    card, credit = shop.payments_of(placed.order_id)
    propose(shop, placed.order_id, quantities={"TEE-M": 1})
    done = confirm(shop, placed.order_id)
    assert done.outcome == "confirmed"
    # 590 goes back: the card's whole 200 hold is voided, then 590 - 200 = 390 of the
    # store credit is refunded to the account; 1080 - 390 = 690 is what the order costs.
    assert gateway.balance(card.id).released == twd(200)
    assert shop.payment(credit.id).totals.refunded == twd(390)
    assert shop.figures(placed.order_id).kept == twd(690)
    again = shop.handle(
        IssueStoreCredit(idempotency_key="sc-2", customer_id="c-1", amount=twd(10), reason="x")
    )
    assert again.balance == twd(390 + 10)  # the 390 is back on the customer's store credit


# --- after payment: the total goes up ----------------------------------------------------------


def test_address_on_the_islands_after_payment_takes_an_extra_payment() -> None:
    shop, gateway = make_shop()
    placed = place(shop)
    order_id = placed.order_id
    effect = shop.handle(PreviewOrderChange(order_id=order_id, change_id="ch-1", ship_to=PENGHU))
    assert isinstance(effect, ChangeEffect)
    # Home delivery to Penghu is 100 + 100 = 200: the order goes from 1280 to 1380.
    assert (effect.new_total, effect.difference, effect.to_collect) == (
        twd(1380),
        twd(100),
        twd(100),
    )
    propose(shop, order_id, ship_to=PENGHU)
    done = confirm(shop, order_id)

    assert done.outcome == "confirmed"
    assert done.payment_id is not None
    assert gateway.balance(done.payment_id).authorized == twd(100)
    order = shop.order(order_id)
    assert order.shipping_address is not None
    assert order.shipping_address.postal_code == "880"
    assert order.totals.total == twd(1380)
    assert shop.figures(order_id).authorized == twd(1380)  # 1280 + 100 held
    assert [p.amount for p in shop.payments_of(order_id)] == [twd(1280), twd(100)]


def test_a_dearer_service_with_the_extra_payment_declined_declines_the_change() -> None:
    shop, _ = make_shop()
    placed = place(shop)
    order_id = placed.order_id
    propose(shop, order_id, service="rider")  # a rider costs 150: 1280 + 50 = 1330
    done = confirm(shop, order_id, payment_token="fake-card-insufficient-funds")

    assert done.outcome == "payment_declined"
    assert "insufficient_funds" in done.message
    order = shop.order(order_id)
    assert order.shipping is not None
    assert order.shipping.service_id == "home"
    assert order.totals.total == twd(1280)
    assert order.decided_changes == {"ch-1": "declined"}
    assert len(shop.payments_of(order_id)) == 1  # nothing else moved


def test_an_extra_payment_that_needs_the_customer_leaves_the_change_proposed() -> None:
    shop, _ = make_shop()
    placed = place(shop)
    propose(shop, placed.order_id, service="rider")
    waiting = confirm(shop, placed.order_id, payment_token="fake-card-3ds")
    assert waiting.outcome == "payment_not_approved"
    assert shop.order(placed.order_id).pending_change is not None
    # Confirmed again under a new key with a card that needs no action, it goes through.
    done = confirm(shop, placed.order_id, idempotency_key="confirm-again")
    assert done.outcome == "confirmed"
    assert shop.order(placed.order_id).totals.total == twd(1330)
    assert shop.figures(placed.order_id).authorized == twd(1330)


def test_quantity_up_after_payment_is_refused_and_changes_nothing() -> None:
    shop, _ = make_shop()
    placed = place(shop)
    with pytest.raises(InvalidInput, match="cannot go up from 2 to 3 after payment"):
        propose(shop, placed.order_id, quantities={"TEE-M": 3})
    assert shop.order(placed.order_id).pending_change is None


# --- address, decline, cash on delivery --------------------------------------------------------


def test_address_change_at_the_same_fee_moves_no_money() -> None:
    shop, _ = make_shop()
    placed = place(shop)
    propose(shop, placed.order_id, ship_to=KAOHSIUNG)
    done = confirm(shop, placed.order_id)
    assert (done.outcome, done.message) == ("confirmed", "no money moves")
    order = shop.order(placed.order_id)
    assert order.shipping_address is not None
    assert order.shipping_address.city == "Kaohsiung"
    assert order.totals.total == twd(1280)


def test_decline_leaves_the_order_and_its_money_as_they_were() -> None:
    shop, gateway = make_shop()
    placed = place(shop)
    pay = placed.payment_id
    assert pay is not None
    propose(shop, placed.order_id, quantities={"TEE-M": 1})
    declined = send(
        shop,
        DeclineOrderChange(
            idempotency_key="no-1",
            order_id=placed.order_id,
            change_id="ch-1",
            reason="customer kept both",
        ),
    )
    assert (declined.outcome, declined.message) == ("declined", "customer kept both")
    order = shop.order(placed.order_id)
    assert order.pending_change is None
    assert order.totals.total == twd(1280)
    assert gateway.balance(pay).captured == twd(0)
    with pytest.raises(InvalidInput, match="was declined"):
        confirm(shop, placed.order_id)


def test_cash_on_delivery_replaces_what_the_carrier_collects() -> None:
    shop, _ = make_shop()
    placed = place(shop, payment_method="cash_on_delivery")
    order_id = placed.order_id
    # Home delivery with COD: 100 + 30 = 130, so two T-shirts come to 1180 + 130 = 1310.
    assert shop.order(order_id).totals.total == twd(1310)
    propose(shop, order_id, quantities={"TEE-M": 1})
    done = confirm(shop, order_id)
    assert done.outcome == "confirmed"
    first, second = shop.payments_of(order_id)
    assert first.state == "voided"
    assert (second.amount, second.state) == (twd(720), "authorized")  # 590 + 130


# --- idempotency and bad input -----------------------------------------------------------------


def test_repeated_keys_return_the_first_result_and_move_money_once() -> None:
    shop, gateway = make_shop()
    placed = place(shop)
    pay = placed.payment_id
    assert pay is not None
    assert propose(shop, placed.order_id, quantities={"TEE-M": 1}) == propose(
        shop, placed.order_id, quantities={"TEE-M": 1}
    )
    first = confirm(shop, placed.order_id)
    assert confirm(shop, placed.order_id) == first
    assert gateway.balance(pay).captured == twd(690)  # captured once, not twice
    with pytest.raises(IdempotencyConflict):
        confirm(shop, placed.order_id, payment_token="another-card")
    # Another key for the confirmed change changes nothing either.
    again = confirm(shop, placed.order_id, idempotency_key="confirm-other")
    assert again.outcome == "unchanged"
    assert gateway.balance(pay).captured == twd(690)


def test_gateway_unavailable_leaves_the_change_proposed_until_retried() -> None:
    shop, gateway = make_shop()
    placed = place(shop)
    propose(shop, placed.order_id, service="rider")
    extra = f"{placed.order_id}:ch-1:confirm-ch-1"  # the extra payment's id, from the key
    gateway.set_scenario(extra, Scenario(authorize=Step.TIMEOUT))
    with pytest.raises(GatewayUnavailable):
        confirm(shop, placed.order_id)
    order = shop.order(placed.order_id)
    assert order.pending_change is not None
    assert order.totals.total == twd(1280)
    assert len(shop.payments_of(placed.order_id)) == 1
    done = confirm(shop, placed.order_id)  # the same key again: the provider answers
    assert done.outcome == "confirmed"
    assert done.payment_id == extra
    assert shop.order(placed.order_id).totals.total == twd(1330)


BadCall = Callable[[Shop, str], object]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda s, o: propose(s, "no-such-order", "ch-2", quantities={"TEE-M": 1}),
            NotFound,
            "Order",
        ),
        (
            lambda s, o: propose(s, o, "ch-2", quantities={"CAP": 1}),
            InvalidInput,
            "no line with sku",
        ),
        (
            lambda s, o: propose(s, o, "ch-2", quantities={"TEE-M": 0}),
            InvalidInput,
            "cancel it instead",
        ),
        (lambda s, o: confirm(s, o, change_id="ch-9"), NotFound, "ch-9"),
        (
            lambda s, o: confirm(s, o, expected_total=Money(40, "USD")),
            CurrencyMismatch,
            "USD",
        ),
        (lambda s, o: confirm(s, o, expected_total=twd(700)), InvalidInput, "690"),
        (lambda s, o: propose(s, o, "ch-2", ship_to=PENGHU), GuardRejected, "no_change_pending"),
    ],
)
def test_bad_input_raises_a_named_error_and_changes_nothing(
    call: BadCall, error: type[Exception], message: str
) -> None:
    shop, gateway = make_shop()
    placed = place(shop)
    pay = placed.payment_id
    assert pay is not None
    propose(shop, placed.order_id, quantities={"TEE-M": 1})
    before = shop.order(placed.order_id)
    with pytest.raises(error, match=message):
        call(shop, placed.order_id)
    after = shop.order(placed.order_id)
    assert after.version == before.version
    assert after.pending_change == before.pending_change
    assert gateway.balance(pay).captured == twd(0)
    assert len(shop.payments_of(placed.order_id)) == 1


def test_a_change_below_what_has_shipped_is_refused() -> None:
    shop, _ = make_shop()
    placed = place(shop)
    with shop.store.unit_of_work() as uow:  # one T-shirt leaves the warehouse
        order = uow.repository(Order).get(placed.order_id)
        order.allocate("TEE-M", 2, allocation_id="al-1", at=AT)
        order.record_shipment("sh-1", {"TEE-M": 1}, at=AT)
        uow.commit()
    with pytest.raises(InvalidInput, match="1 units have shipped"):
        propose(shop, placed.order_id, quantities={"TEE-M": 0})
    assert shop.order(placed.order_id).pending_change is None


def test_commands_reject_bad_fields() -> None:
    with pytest.raises(InvalidInput, match="quantities, ship_to or service"):
        PreviewOrderChange(order_id="o-1", change_id="ch-1")
    with pytest.raises(InvalidInput, match="quantities"):
        PreviewOrderChange.parse('{"order_id": "o-1", "change_id": "c", "quantities": {"A": -1}}')


@given(keep=st.integers(min_value=1, max_value=4))
def test_any_quantity_down_after_authorisation_captures_the_new_total_exactly(keep: int) -> None:
    shop, gateway = make_shop()
    placed = place(shop, items={"TEE-M": 5})  # 5 × 590 = 2950 + 150 (1 kg to 5 kg) = 3100
    pay = placed.payment_id
    assert pay is not None
    propose(shop, placed.order_id, quantities={"TEE-M": keep})
    confirm(shop, placed.order_id)
    new_total = shop.order(placed.order_id).totals.total
    assert new_total == twd(590 * keep + 150)  # the shipping fee paid stays
    balance = gateway.balance(pay)
    assert balance.captured == new_total
    assert balance.captured + balance.released == twd(3100)  # every dollar held is accounted for
