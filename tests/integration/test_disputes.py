"""Disputes (chargebacks) through the shop: provider notices, the shop's answers, the order.

Figures: two T-shirts at 590 make 1180 (prices include 5% TW tax) and home delivery
in Taipei costs 100, so every order here is 1180 + 100 = 1280, authorised and then
captured in full before the customer's bank disputes it.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fourflows.adapters.fake_gateway import Delivery, FakeGateway, Scenario, Step
from fourflows.adapters.fakes import FixedClock, SequentialIds
from fourflows.adapters.memory import MemoryStore
from fourflows.app.bootstrap import COMMAND_HANDLERS
from fourflows.app.checkout import POLICIES, CapturePayment, Checkout, PlaceOrder, ShopResult
from fourflows.app.disputes import (
    AcceptDispute,
    ApplyDisputeNotification,
    Disputes,
    MissDisputeDeadlines,
    SubmitDisputeEvidence,
    contested_amount,
    disputes_of,
)
from fourflows.app.messagebus import MessageBus
from fourflows.app.shop import Shop
from fourflows.cash.dispute import Dispute
from fourflows.cash.gateway import (
    DisputeReason,
    GatewayNotification,
    GatewayOperation,
    NotificationKind,
)
from fourflows.cash.payment import Payment
from fourflows.commerce.catalog import Catalog
from fourflows.commerce.order import Order, PaymentFigures, PaymentStatus
from fourflows.errors import (
    GatewayUnavailable,
    GuardRejected,
    IdempotencyConflict,
    InvalidInput,
    InvalidTransition,
    NotFound,
)
from fourflows.logistics.shipping import ShippingTable
from fourflows.tax import TaxTable
from shop_fixtures import AT, TAIPEI, TEE, twd

WEEK = timedelta(days=7)
RESPOND_BY = AT + WEEK  # the fake gives the shop respond_within=7 days from the clock


def make_shop(scenario: Scenario | None = None) -> tuple[Shop, FakeGateway, FixedClock]:
    """A shop whose bus runs the checkout and the dispute handlers over one store."""
    clock = FixedClock(AT)
    gateway = FakeGateway(clock)
    if scenario is not None:
        gateway.set_scenario("payment-0001", scenario)
    checkout = Checkout(
        catalog=Catalog([TEE]),
        tax=TaxTable.preset("TW"),
        gateway=gateway,
        shipping=ShippingTable.example_taiwan(),
    )
    store = MemoryStore()
    bus = MessageBus(
        unit_of_work=store.unit_of_work,
        clock=clock,
        ids=SequentialIds(),
        commands={
            **COMMAND_HANDLERS,
            **checkout.handlers(),
            **Disputes(gateway=gateway).handlers(),
        },
        policies=POLICIES,
    )
    return Shop(bus=bus, store=store, checkout=checkout), gateway, clock


def paid_order(shop: Shop) -> tuple[str, str]:
    """Place an order of 1280 by card and capture all of it; return (order id, payment id)."""
    placed = shop.place_order(
        PlaceOrder(
            idempotency_key="k-1",
            items={"TEE-M": 2},
            ship_to=TAIPEI,
            service="home",
            payment_token="fake-card-approve",
        )
    )
    assert placed.payment_id is not None
    captured = shop.capture_payment(
        CapturePayment(idempotency_key="cap-1", payment_id=placed.payment_id, amount=twd(1280))
    )
    assert (captured.order_state, captured.payment_state) == ("awaiting_fulfilment", "captured")
    return placed.order_id, placed.payment_id


def notify(shop: Shop, notice: GatewayNotification) -> ShopResult:
    payload = notice.to_payload()
    result = shop.handle(
        ApplyDisputeNotification(body=payload.body.decode("utf-8"), headers=payload.headers)
    )
    assert isinstance(result, ShopResult)
    return result


def deliver(shop: Shop, gateway: FakeGateway) -> list[ShopResult]:
    return [notify(shop, notice) for notice in gateway.take_notifications()]


def dispute(shop: Shop, dispute_id: str) -> Dispute:
    with shop.store.unit_of_work() as uow:
        return uow.repository(Dispute).get(dispute_id)


def figures(shop: Shop, order_id: str) -> PaymentFigures:
    return shop.figures(order_id)


def open_dispute(
    shop: Shop, gateway: FakeGateway, payment_id: str, amount: int = 1280
) -> tuple[str, ShopResult]:
    gateway.take_notifications()  # the capture's notifications: checkout already applied them
    opened = gateway.open_dispute(
        payment_id, amount=twd(amount), reason=DisputeReason.PRODUCT_NOT_RECEIVED
    )
    assert opened.dispute_id is not None
    (result,) = deliver(shop, gateway)
    return opened.dispute_id, result


def test_opened_then_evidence_then_won_holds_the_order_and_releases_it() -> None:
    shop, gateway, clock = make_shop()
    order_id, payment_id = paid_order(shop)
    dispute_id, opened = open_dispute(shop, gateway, payment_id)
    assert (opened.outcome, opened.order_state) == ("dispute_opened", "on_hold")
    assert "product_not_received" in shop.order(order_id).hold_reason  # type: ignore[operator]
    assert dispute(shop, dispute_id).state == "needs_response"

    clock.advance(timedelta(days=2))
    answer = SubmitDisputeEvidence(
        idempotency_key="ev-1", dispute_id=dispute_id, evidence="signed delivery receipt"
    )
    answered = shop.handle(answer)
    assert answered.outcome == "evidence_submitted"
    assert dispute(shop, dispute_id).state == "under_review"
    assert gateway.dispute_status(dispute_id) == "under_review"  # the provider got it
    assert shop.handle(answer) == answered  # same key: the first result, nothing twice
    assert dispute(shop, dispute_id).version == 2

    gateway.close_dispute(dispute_id, won=True)
    (won,) = deliver(shop, gateway)
    assert (won.outcome, won.order_state) == ("dispute_won", "awaiting_fulfilment")
    assert dispute(shop, dispute_id).taken_back == twd(0)
    # Nothing went back: captured 1280, refunded 0 → still paid.
    assert figures(shop, order_id) == PaymentFigures.of("TWD", captured=1280)


def test_lost_takes_the_disputed_amount_back_in_the_figures() -> None:
    shop, gateway, _ = make_shop()
    order_id, payment_id = paid_order(shop)
    dispute_id, _ = open_dispute(shop, gateway, payment_id, amount=500)
    shop.handle(SubmitDisputeEvidence(idempotency_key="ev-1", dispute_id=dispute_id, evidence="x"))
    gateway.close_dispute(dispute_id, won=False)
    (lost,) = deliver(shop, gateway)
    assert lost.outcome == "dispute_lost"
    assert "took back 500" in lost.message
    # 1280 captured, 500 taken back by the bank: returned 500, kept 1280 - 500 = 780.
    money = figures(shop, order_id)
    assert (money.returned, money.kept) == (twd(500), twd(780))
    order = shop.order(order_id)
    assert order.payment_status(money) is PaymentStatus.PARTIALLY_REFUNDED
    assert order.state == "on_hold"  # the money is short: nothing ships until someone decides
    with shop.store.unit_of_work() as uow:
        payment = uow.repository(Payment).get(payment_id)
        assert contested_amount(uow, payment) == twd(500)
    assert gateway.balance(payment_id).refundable == twd(780)


def test_accepting_loses_at_once_and_a_later_lost_notice_changes_nothing() -> None:
    shop, gateway, _ = make_shop()
    order_id, payment_id = paid_order(shop)
    dispute_id, _ = open_dispute(shop, gateway, payment_id)
    accept = AcceptDispute(idempotency_key="acc-1", dispute_id=dispute_id)
    accepted = shop.handle(accept)
    assert accepted.outcome == "dispute_lost"
    assert shop.handle(accept) == accepted
    with pytest.raises(IdempotencyConflict):
        shop.handle(AcceptDispute(idempotency_key="acc-1", dispute_id=dispute_id, reason="other"))
    # All 1280 went back through the bank: refunded status, nothing kept.
    money = figures(shop, order_id)
    assert (money.returned, money.kept) == (twd(1280), twd(0))
    assert shop.order(order_id).payment_status(money) is PaymentStatus.REFUNDED
    gateway.close_dispute(dispute_id, won=False)
    (late,) = deliver(shop, gateway)
    assert late.outcome == "unchanged"
    assert dispute(shop, dispute_id).version == 2


def test_missed_deadline_loses_the_dispute_once() -> None:
    shop, gateway, _ = make_shop()
    order_id, payment_id = paid_order(shop)
    dispute_id, _ = open_dispute(shop, gateway, payment_id)
    before = MissDisputeDeadlines(now=RESPOND_BY - timedelta(seconds=1))
    assert shop.handle(before) == ()
    (missed,) = shop.handle(MissDisputeDeadlines(now=RESPOND_BY))
    assert (missed.outcome, missed.order_id) == ("dispute_lost", order_id)
    assert dispute(shop, dispute_id).state == "lost"
    assert shop.handle(MissDisputeDeadlines(now=RESPOND_BY + WEEK)) == ()
    assert figures(shop, order_id).returned == twd(1280)


def test_evidence_after_respond_by_is_refused_before_the_provider_is_asked() -> None:
    shop, gateway, clock = make_shop()
    _, payment_id = paid_order(shop)
    dispute_id, _ = open_dispute(shop, gateway, payment_id)
    clock.advance(WEEK)  # exactly respond_by: too late
    with pytest.raises(GuardRejected, match="respond_by"):
        shop.handle(SubmitDisputeEvidence(idempotency_key="e", dispute_id=dispute_id, evidence="x"))
    assert gateway.dispute_status(dispute_id) == "needs_response"
    assert dispute(shop, dispute_id).state == "needs_response"


def test_evidence_lost_on_the_way_is_sent_again_under_the_same_key() -> None:
    shop, gateway, _ = make_shop(Scenario(evidence=Step.TIMEOUT))
    _, payment_id = paid_order(shop)
    dispute_id, _ = open_dispute(shop, gateway, payment_id)
    answer = SubmitDisputeEvidence(idempotency_key="ev-1", dispute_id=dispute_id, evidence="x")
    with pytest.raises(GatewayUnavailable):
        shop.handle(answer)
    assert dispute(shop, dispute_id).state == "needs_response"  # nothing recorded
    assert shop.handle(answer).outcome == "evidence_submitted"
    assert gateway.dispute_status(dispute_id) == "under_review"


def test_duplicate_notices_apply_once() -> None:
    shop, gateway, _ = make_shop(Scenario(notifications=Delivery.TWICE))
    order_id, payment_id = paid_order(shop)
    gateway.take_notifications()
    gateway.open_dispute(payment_id)
    first, again = deliver(shop, gateway)
    assert first == again  # the first result, replayed
    assert first.outcome == "dispute_opened"
    with shop.store.unit_of_work() as uow:
        (only,) = disputes_of(uow, order_id)
        assert only.version == 1
    # The same dispute under a new notification id (a provider's "updated" event).
    with shop.store.unit_of_work() as uow:
        known = uow.repository(Dispute).get(only.id)
    resent = GatewayNotification(
        notification_id="evt-other",
        kind=NotificationKind.DISPUTE_OPENED,
        operation=GatewayOperation.CAPTURE,
        payment_id=payment_id,
        provider_ref="whatever",
        amount=known.amount,
        occurred_at=AT,
        dispute_id=known.id,
        dispute_reason=DisputeReason.FRAUDULENT,
        respond_by=RESPOND_BY,
    )
    assert notify(shop, resent).outcome == "unchanged"


@pytest.mark.parametrize(
    ("won", "order_state", "returned"), [(True, "awaiting_fulfilment", 0), (False, "on_hold", 1280)]
)
def test_a_ruling_before_the_opening_is_kept_and_applied_after_it(
    won: bool, order_state: str, returned: int
) -> None:
    shop, gateway, _ = make_shop(Scenario(notifications=Delivery.REVERSED))
    order_id, payment_id = paid_order(shop)
    gateway.take_notifications()
    opened = gateway.open_dispute(payment_id)
    assert opened.dispute_id is not None
    gateway.close_dispute(opened.dispute_id, won=won)
    ruling, opening = deliver(shop, gateway)  # newest first: the ruling, then the opening
    assert (ruling.outcome, ruling.order_state) == ("deferred", "awaiting_fulfilment")
    assert opening.outcome == ("dispute_won" if won else "dispute_lost")
    assert opening.order_state == order_state
    assert figures(shop, order_id).returned == twd(returned)


def test_a_notice_for_an_unknown_payment_is_not_found_and_recorded_nowhere() -> None:
    shop, _, _ = make_shop()
    paid_order(shop)
    stranger = GatewayNotification(
        notification_id="evt-1",
        kind=NotificationKind.DISPUTE_OPENED,
        operation=GatewayOperation.CAPTURE,
        payment_id="payment-9999",
        provider_ref="cap-x",
        amount=twd(100),
        occurred_at=AT,
        dispute_id="dp-1",
        dispute_reason=DisputeReason.FRAUDULENT,
        respond_by=RESPOND_BY,
    )
    with pytest.raises(NotFound, match="payment-9999"):
        notify(shop, stranger)
    with pytest.raises(NotFound):  # raised again: no result was stored under evt-1
        notify(shop, stranger)


def test_a_dispute_above_what_is_disputable_is_refused_and_changes_nothing() -> None:
    shop, gateway, _ = make_shop()
    order_id, payment_id = paid_order(shop)
    dispute_id, _ = open_dispute(shop, gateway, payment_id, amount=1000)

    def second(amount: int) -> GatewayNotification:
        return GatewayNotification(
            notification_id=f"evt-{amount}",
            kind=NotificationKind.DISPUTE_OPENED,
            operation=GatewayOperation.CAPTURE,
            payment_id=payment_id,
            provider_ref="cap-x",
            amount=twd(amount),
            occurred_at=AT,
            dispute_id=f"dp-{amount}",
            dispute_reason=DisputeReason.DUPLICATE,
            respond_by=RESPOND_BY,
        )

    # 1280 captured − 1000 already disputed = 280 left: 281 is one too many.
    version = shop.order(order_id).version
    with pytest.raises(InvalidInput, match="280"):
        notify(shop, second(281))
    assert shop.order(order_id).version == version
    with shop.store.unit_of_work() as uow:
        assert [d.id for d in disputes_of(uow, order_id)] == [dispute_id]
    assert notify(shop, second(280)).outcome == "dispute_opened"


def test_a_dispute_after_shipment_holds_nothing() -> None:
    shop, gateway, _ = make_shop()
    order_id, payment_id = paid_order(shop)
    with shop.store.unit_of_work() as uow:
        order = uow.repository(Order).get(order_id)
        order.allocate("TEE-M", 2, allocation_id="a-1", at=AT)
        order.record_shipment("s-1", {"TEE-M": 2}, at=AT)
        uow.commit()
    _, opened = open_dispute(shop, gateway, payment_id)
    assert (opened.outcome, opened.order_state) == ("dispute_opened", "shipped")
    assert "nothing to hold" in opened.message


def test_a_won_dispute_keeps_the_hold_while_another_is_open() -> None:
    shop, gateway, _ = make_shop()
    _, payment_id = paid_order(shop)
    first, _ = open_dispute(shop, gateway, payment_id, amount=280)
    second, _ = open_dispute(shop, gateway, payment_id, amount=1000)
    for each in (first, second):
        shop.handle(SubmitDisputeEvidence(idempotency_key=each, dispute_id=each, evidence="x"))
    gateway.close_dispute(first, won=True)
    (won,) = deliver(shop, gateway)
    assert (won.outcome, won.order_state) == ("dispute_won", "on_hold")
    gateway.close_dispute(second, won=True)
    (also,) = deliver(shop, gateway)
    assert also.order_state == "awaiting_fulfilment"


def test_a_withdrawn_dispute_is_won_without_the_shop_answering() -> None:
    shop, gateway, _ = make_shop()
    _, payment_id = paid_order(shop)
    dispute_id, _ = open_dispute(shop, gateway, payment_id)
    gateway.close_dispute(dispute_id, won=True)
    (won,) = deliver(shop, gateway)
    assert (won.outcome, won.order_state) == ("dispute_won", "awaiting_fulfilment")
    assert dispute(shop, dispute_id).evidence is not None  # notes that the provider closed it


def test_a_ruling_against_the_recorded_end_is_ignored() -> None:
    shop, gateway, _ = make_shop()
    _, payment_id = paid_order(shop)
    dispute_id, _ = open_dispute(shop, gateway, payment_id)
    shop.handle(AcceptDispute(idempotency_key="acc", dispute_id=dispute_id))
    gateway.close_dispute(dispute_id, won=True)
    (contradicting,) = deliver(shop, gateway)
    assert contradicting.outcome == "ignored"
    assert dispute(shop, dispute_id).state == "lost"


def test_accepting_again_changes_nothing_and_a_won_dispute_cannot_be_accepted() -> None:
    shop, gateway, _ = make_shop()
    _, payment_id = paid_order(shop)
    first, _ = open_dispute(shop, gateway, payment_id, amount=280)
    shop.handle(AcceptDispute(idempotency_key="acc-1", dispute_id=first))
    again = shop.handle(AcceptDispute(idempotency_key="acc-2", dispute_id=first))
    assert again.outcome == "unchanged"
    assert dispute(shop, first).version == 2
    second, _ = open_dispute(shop, gateway, payment_id, amount=1000)
    gateway.close_dispute(second, won=True)
    deliver(shop, gateway)
    with pytest.raises(InvalidTransition):
        shop.handle(AcceptDispute(idempotency_key="acc-3", dispute_id=second))
    assert dispute(shop, second).state == "won"


@settings(max_examples=40)  # 2 rulings x 2 orders x a few repeats: a small space
@given(
    won=st.booleans(),
    order=st.permutations([0, 1]),
    repeats=st.lists(st.sampled_from([0, 1]), max_size=3),
)
def test_any_arrival_order_with_repeats_gives_one_result(
    won: bool, order: list[int], repeats: list[int]
) -> None:
    """The opening and the ruling, in any order and repeated, end the same way."""
    shop, gateway, _ = make_shop()
    order_id, payment_id = paid_order(shop)
    gateway.take_notifications()
    gateway.open_dispute(payment_id, amount=twd(300))
    opened = gateway.take_notifications()
    dispute_id = opened[0].dispute_id
    assert dispute_id is not None
    shop_notices = [opened[0]]
    gateway.close_dispute(dispute_id, won=won)
    shop_notices += gateway.take_notifications()
    for index in itertools.chain(order, repeats):
        notify(shop, shop_notices[index])
    assert dispute(shop, dispute_id).state == ("won" if won else "lost")
    # 300 of 1280 disputed: lost → 300 returned; won → nothing returned.
    assert figures(shop, order_id).returned == twd(0 if won else 300)
    assert shop.order(order_id).state == ("awaiting_fulfilment" if won else "on_hold")
