"""Gift cards and store credit through the Shop: issued, spent at checkout, given back.

Figures: two T-shirts at 590 make 1180 (5% TW tax included); home delivery in Taipei
costs 100, so every order here is 1180 + 100 = 1280.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fourflows.app.checkout import (
    CancelOrder,
    CapturePayment,
    IssueStoreCredit,
    LoadGiftCard,
    PlaceOrder,
    RefundOrder,
    RefundPayment,
)
from fourflows.cash.balances import gift_card_account, store_credit_account
from fourflows.commerce.order import Order
from fourflows.errors import (
    CurrencyMismatch,
    IdempotencyConflict,
    InsufficientBalance,
    InvalidInput,
    NotFound,
)
from fourflows.money import Money
from shop_fixtures import TAIPEI, make_shop, twd

CREDIT = store_credit_account("c-1")
GIFT = gift_card_account("GC-1")


def credit(key: str, amount: int, customer: str = "c-1") -> IssueStoreCredit:
    return IssueStoreCredit(
        idempotency_key=key, customer_id=customer, amount=twd(amount), reason="late delivery"
    )


def gift(key: str, amount: int, code: str = "GC-1") -> LoadGiftCard:
    return LoadGiftCard(idempotency_key=key, code=code, amount=twd(amount))


def place(*tenders: dict[str, Any], key: str = "k-1", customer: str | None = "c-1") -> PlaceOrder:
    return PlaceOrder(
        idempotency_key=key,
        items={"TEE-M": 2},
        customer_id=customer,
        ship_to=TAIPEI,
        service="home",
        tenders=tenders,
    )


def by_credit(amount: int) -> dict[str, Any]:
    return {"method": "store_credit", "amount": twd(amount)}


def by_gift(amount: int, code: str = "GC-1") -> dict[str, Any]:
    return {"method": "gift_card", "amount": twd(amount), "account": code}


def by_card(amount: int, token: str = "fake-card-approve") -> dict[str, Any]:
    return {"method": "card", "amount": twd(amount), "token": token}


def test_issuing_and_loading_are_idempotent_and_add_up() -> None:
    shop, _, _ = make_shop()
    first = shop.issue_store_credit(credit("i-1", 500))
    assert (first.account, first.balance, first.outcome) == (CREDIT, twd(500), "issued")
    more = shop.issue_store_credit(credit("i-2", 200))
    assert (more.balance, more.outcome) == (twd(700), "loaded")  # 500 + 200
    records = dict(shop.store.records)
    assert shop.issue_store_credit(credit("i-2", 200)) == more  # a repeat changes nothing
    assert shop.store.records == records
    with pytest.raises(IdempotencyConflict):
        shop.issue_store_credit(credit("i-2", 300))
    assert shop.balance(CREDIT) == twd(700)
    card = shop.load_gift_card(gift("g-1", 1000))
    assert (card.account, card.balance, card.outcome) == ("gift_card:GC-1", twd(1000), "issued")
    assert shop.load_gift_card(gift("g-2", 250)).balance == twd(1250)  # topped up


def test_a_balance_never_issued_is_not_found_and_currencies_do_not_mix() -> None:
    shop, _, _ = make_shop()
    with pytest.raises(NotFound, match="gift_card:NOPE"):
        shop.balance(gift_card_account("NOPE"))
    shop.load_gift_card(gift("g-1", 100))
    records = dict(shop.store.records)
    usd = LoadGiftCard(idempotency_key="g-2", code="GC-1", amount=Money("5", "USD"))
    with pytest.raises(CurrencyMismatch, match="USD with TWD"):
        shop.load_gift_card(usd)
    assert shop.store.records == records
    with pytest.raises(InvalidInput, match="code"):
        LoadGiftCard(idempotency_key="g-3", code="a:b", amount=twd(1))  # ':' is reserved


def test_a_checkout_spends_the_balances_it_names() -> None:
    shop, gateway, _ = make_shop()
    shop.issue_store_credit(credit("i-1", 500))
    shop.load_gift_card(gift("g-1", 300))
    placed = shop.place_order(place(by_credit(400), by_gift(300), by_card(580)))
    assert (placed.outcome, placed.order_state) == ("authorized", "awaiting_fulfilment")
    # 500 - 400 = 100 of credit left; the 300 card is used up; 400 + 300 + 580 = 1280
    assert shop.balance(CREDIT) == twd(100)
    assert shop.balance(GIFT) == twd(0)
    assert gateway.balance(placed.payment_id or "").capturable == twd(580)


def test_a_balance_too_small_refuses_the_checkout_before_anything_is_saved() -> None:
    shop, gateway, _ = make_shop()
    shop.load_gift_card(gift("g-1", 100))
    rows, records = dict(shop.store.rows), dict(shop.store.records)
    with pytest.raises(InsufficientBalance, match="gift_card:GC-1") as refused:
        shop.place_order(place(by_gift(200), by_card(1080)))
    assert (refused.value.requested, refused.value.available) == ("200 TWD", "100 TWD")
    # no order, no payment, no gateway call, the card untouched
    assert (shop.store.rows, shop.store.records) == (rows, records)
    assert gateway.take_notifications() == []
    assert shop.balance(GIFT) == twd(100)
    with pytest.raises(NotFound, match="gift_card:OTHER"):
        shop.place_order(place(by_gift(200, code="OTHER"), by_card(1080)))


def test_two_tenders_on_one_account_cannot_overdraw_it() -> None:
    shop, _, _ = make_shop()
    shop.load_gift_card(gift("g-1", 1000))
    # 700 + 580 = 1280 is the total, but the card holds only 1000
    with pytest.raises(InsufficientBalance, match="cannot give 580 TWD: its balance is 300 TWD"):
        shop.place_order(place(by_gift(700), by_gift(580)))
    assert shop.balance(GIFT) == twd(1000)


@pytest.mark.parametrize(
    ("tenders", "customer", "problem"),
    [
        ((by_credit(1280),), None, "needs the order's customer_id"),
        (({**by_credit(1280), "account": "c-2"},), "c-1", "only the customer's own credit"),
        (({"method": "gift_card", "amount": twd(1280)},), "c-1", "gift card's code"),
        (({**by_card(1280), "account": "GC-1"},), "c-1", "card tender has no account"),
    ],
)
def test_tenders_must_name_accounts_they_may_spend(
    tenders: tuple[dict[str, Any], ...], customer: str | None, problem: str
) -> None:
    with pytest.raises(InvalidInput, match=problem):
        place(*tenders, customer=customer)


def test_refunds_to_shop_held_tenders_restore_their_balances() -> None:
    shop, _, _ = make_shop()
    shop.issue_store_credit(credit("i-1", 1000))
    shop.load_gift_card(gift("g-1", 200))
    placed = shop.place_order(place(by_credit(300), by_gift(200), by_card(780)))
    credit_payment, gift_payment, card = shop.payments_of(placed.order_id)
    shop.capture_payment(CapturePayment(idempotency_key="c", payment_id=card.id, amount=twd(780)))
    assert shop.balance(CREDIT) == twd(700)  # 1000 - 300
    # 900: the card's 780 first, then 900 - 780 = 120 back to the store credit (the older)
    shop.refund_order(
        RefundOrder(idempotency_key="r-1", order_id=placed.order_id, amount=twd(900), reason="r")
    )
    assert shop.balance(CREDIT) == twd(820)  # 700 + 120
    assert shop.balance(GIFT) == twd(0)
    # a refund of one payment: 50 straight back to the gift card
    shop.refund_payment(
        RefundPayment(idempotency_key="r-2", payment_id=gift_payment.id, amount=twd(50), reason="r")
    )
    assert shop.balance(GIFT) == twd(50)
    assert shop.payment(credit_payment.id).totals.refunded == twd(120)


def test_cancel_restores_every_shop_held_tender() -> None:
    shop, _, _ = make_shop()
    shop.issue_store_credit(credit("i-1", 1000))
    shop.load_gift_card(gift("g-1", 200))
    placed = shop.place_order(place(by_credit(300), by_gift(200), by_card(780)))
    shop.cancel_order(CancelOrder(idempotency_key="x", order_id=placed.order_id, reason="no"))
    assert (shop.balance(CREDIT), shop.balance(GIFT)) == (twd(1000), twd(200))
    records = dict(shop.store.records)
    shop.cancel_order(CancelOrder(idempotency_key="x", order_id=placed.order_id, reason="no"))
    assert shop.store.records == records  # a repeated cancel restores nothing twice


def test_a_failed_checkout_restores_the_balances() -> None:
    def out_of_stock(order: Order) -> None:
        raise InvalidInput(f"no stock for {order.id}")

    shop, _, _ = make_shop(confirm=out_of_stock)
    shop.issue_store_credit(credit("i-1", 1000))
    placed = shop.place_order(place(by_credit(500), by_card(780)))
    assert placed.outcome == "compensated"
    assert shop.balance(CREDIT) == twd(1000)


def test_a_declined_card_gives_the_balances_back_and_holds_the_order() -> None:
    shop, _, _ = make_shop()
    shop.issue_store_credit(credit("i-1", 1000))
    placed = shop.place_order(place(by_credit(500), by_card(780, "fake-card-declined")))
    assert (placed.outcome, placed.order_state) == ("declined", "on_hold")
    assert "declined" in shop.order(placed.order_id).hold_reason  # type: ignore[operator]
    assert shop.balance(CREDIT) == twd(1000)
    assert shop.figures(placed.order_id).secured == twd(0)


@given(loaded=st.integers(1, 3000), spent=st.integers(0, 1280), refund=st.integers(1, 1280))
def test_a_balance_is_loaded_minus_spent_plus_restored(
    loaded: int, spent: int, refund: int
) -> None:
    shop, _, _ = make_shop()
    shop.issue_store_credit(credit("i-1", loaded))
    tenders = [by_credit(spent)] if spent else []
    if spent < 1280:
        tenders.append(by_card(1280 - spent))
    try:
        placed = shop.place_order(place(*tenders))
    except InsufficientBalance:
        assert spent > loaded
        assert shop.balance(CREDIT) == twd(loaded)
        return
    assert shop.balance(CREDIT) == twd(loaded - spent)
    for payment in shop.payments_of(placed.order_id):
        if payment.method.value == "card":
            capture = CapturePayment(
                idempotency_key="c", payment_id=payment.id, amount=payment.amount
            )
            shop.capture_payment(capture)
    shop.refund_order(
        RefundOrder(idempotency_key="r", order_id=placed.order_id, amount=twd(refund), reason="r")
    )
    # the card (1280 - spent) gives back first; the credit gets the rest, never below zero
    restored = max(0, refund - (1280 - spent))
    assert shop.balance(CREDIT) == twd(loaded - spent + restored)
