"""Stored-value accounts: loads, spends and restores, each once, never below zero."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fourflows.cash.balances import (
    AccountKind,
    StoredValueAccount,
    gift_card_account,
    store_credit_account,
)
from fourflows.errors import CurrencyMismatch, InsufficientBalance, InvalidInput
from fourflows.money import Money


def twd(amount: int) -> Money:
    return Money(amount, "TWD")


def card(loaded: int = 500) -> StoredValueAccount:
    return StoredValueAccount.open(gift_card_account("GC-1"), "TWD").load(
        entry_id="issue", amount=twd(loaded)
    )


def test_account_ids_name_their_kind() -> None:
    assert gift_card_account("GC-1") == "gift_card:GC-1"
    assert store_credit_account("c-1") == "store_credit:c-1"
    assert card().kind is AccountKind.GIFT_CARD
    with pytest.raises(InvalidInput, match="without ':'"):
        gift_card_account("a:b")
    with pytest.raises(InvalidInput, match="'gift_card:<code>'"):
        StoredValueAccount.open("points:1", "TWD")


def test_spend_and_restore_move_the_balance() -> None:
    account = card(500).spend(entry_id="p-1", amount=twd(320))
    assert account.balance == twd(180)  # 500 - 320
    account = account.restore(entry_id="r-1", amount=twd(100))
    assert account.balance == twd(280)  # 180 + 100
    assert (account.loaded, account.spent, account.restored) == (twd(500), twd(320), twd(100))


def test_an_entry_repeated_changes_nothing_and_its_id_cannot_be_reused() -> None:
    spent = card(500).spend(entry_id="p-1", amount=twd(320))
    assert spent.spend(entry_id="p-1", amount=twd(320)) is spent
    with pytest.raises(InvalidInput, match=r"'p-1'.*already spends 320 TWD"):
        spent.spend(entry_id="p-1", amount=twd(10))
    with pytest.raises(InvalidInput, match="already spends"):
        spent.load(entry_id="p-1", amount=twd(320))


def test_spending_more_than_the_balance_is_refused() -> None:
    account = card(500)
    with pytest.raises(InsufficientBalance) as refused:
        account.spend(entry_id="p-1", amount=twd(501))
    assert refused.value.account == "gift_card:GC-1"
    assert (refused.value.requested, refused.value.available) == ("501 TWD", "500 TWD")
    assert account.balance == twd(500)  # unchanged: accounts are values


def test_restoring_more_than_was_spent_is_refused() -> None:
    account = card(500).spend(entry_id="p-1", amount=twd(100))
    with pytest.raises(InvalidInput, match="only 100 TWD was spent"):
        account.restore(entry_id="r-1", amount=twd(101))


@pytest.mark.parametrize("amount", [twd(0), twd(-5)])
def test_amounts_must_be_positive(amount: Money) -> None:
    with pytest.raises(InvalidInput, match="positive"):
        card().load(entry_id="top-up", amount=amount)


def test_another_currency_is_refused() -> None:
    with pytest.raises(CurrencyMismatch, match="USD with TWD"):
        card().spend(entry_id="p-1", amount=Money(5, "USD"))


operations = st.lists(
    st.tuples(st.sampled_from(["load", "spend", "restore"]), st.integers(1, 500)), max_size=30
)


@given(operations)
def test_the_balance_is_loads_minus_spends_plus_restores_and_never_negative(
    steps: list[tuple[str, int]],
) -> None:
    account = StoredValueAccount.open(store_credit_account("c-1"), "TWD")
    loaded = spent = restored = 0
    for number, (kind, amount) in enumerate(steps):
        try:
            account = getattr(account, kind)(entry_id=f"e-{number}", amount=twd(amount))
        except (InsufficientBalance, InvalidInput):
            continue  # refused: nothing moved
        loaded += amount if kind == "load" else 0
        spent += amount if kind == "spend" else 0
        restored += amount if kind == "restore" else 0
        assert account.balance.amount >= 0
        assert restored <= spent
    assert account.balance == twd(loaded - spent + restored)
