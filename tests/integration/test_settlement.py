"""A shop selling in USD and settling in TWD: frozen rates, settlements, FX gains, refunds.

The cap costs 19.99 USD (a store sale, no tax); the rate source quotes
USD/TWD 32.15 until 25 November 2026 and 30.00 from then on, so a refund made
in December shows that the order's own rate, frozen when it was placed, is
the one used.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from fourflows import Money
from fourflows.adapters.fakes import FixedClock, SequentialIds
from fourflows.app.checkout import CapturePayment, PlaceOrder, RefundPayment
from fourflows.app.messagebus import MessageBus
from fourflows.app.notify import merge_policies
from fourflows.app.settlement import RecordSettlement, Settlement, frozen_rate
from fourflows.app.shop import Shop
from fourflows.cash.fx import FxRate
from fourflows.cash.ledger import Account, AccountType, ChartOfAccounts, JournalEntry
from fourflows.commerce.catalog import Catalog, Product
from fourflows.commerce.order import OrderPlaced
from fourflows.errors import CurrencyMismatch, IdempotencyConflict, InvalidInput, NotFound
from fourflows.money import currency_code
from fourflows.tax import PriceMode, TaxTable

AT = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
NEW_RATE_FROM = datetime(2026, 11, 25, tzinfo=UTC)
CAP = Product(
    sku="CAP", name="Cap", price=Money("19.99", "USD"), weight_g=100, size_cm=(20, 20, 10)
)
YEN = Product(sku="FAN", name="Fan", price=Money("1500", "JPY"), weight_g=50, size_cm=(30, 3, 3))
TEE = Product(
    sku="TEE", name="T-shirt", price=Money("590", "TWD"), weight_g=200, size_cm=(30, 20, 3)
)


class DatedRates:
    """USD/TWD 32.15 before 25 November 2026, 30.00 from then on; nothing else."""

    def rate(self, from_currency: str, to_currency: str, at: datetime) -> FxRate:
        pair = (currency_code(from_currency), currency_code(to_currency))
        if pair != ("USD", "TWD"):
            raise NotFound("rate for the pair", "/".join(pair), ["USD/TWD"])
        if at < NEW_RATE_FROM:
            return FxRate("USD", "TWD", "32.15", as_of=datetime(2026, 11, 1, tzinfo=UTC))
        return FxRate("USD", "TWD", "30.00", as_of=NEW_RATE_FROM)


def usd(amount: str) -> Money:
    return Money(amount, "USD")


def twd(amount: str) -> Money:
    return Money(amount, "TWD")


def make(*, freeze_at_placement: bool = True) -> tuple[Shop, FixedClock]:
    """The shop settling in TWD; without freezing at placement, the rate is frozen on capture."""
    clock = FixedClock(AT)
    settlement = Settlement(DatedRates(), "TWD")
    if freeze_at_placement:  # the Shop wires it all
        wired = Shop.in_memory(
            catalog=Catalog([CAP, TEE, YEN]),
            tax=TaxTable(country="US", rates={"standard": "0"}, mode=PriceMode.EXCLUSIVE),
            clock=clock,
            ids=SequentialIds(),
            settlement=settlement,
        )
        return wired, clock
    policies = dict(settlement.policies())
    del policies[OrderPlaced]  # a shop that began settling after its orders were placed
    shop = Shop.in_memory(
        catalog=Catalog([CAP, TEE, YEN]),
        tax=TaxTable(country="US", rates={"standard": "0"}, mode=PriceMode.EXCLUSIVE),
        clock=clock,
        ids=SequentialIds(),
        chart=settlement.chart,
    )
    bus = shop.bus
    shop.bus = MessageBus(
        unit_of_work=shop.store.unit_of_work,
        clock=clock,
        ids=bus.ids,
        commands={**bus._commands, **settlement.handlers()},
        policies=merge_policies(bus._policies, policies),
    )
    return shop, clock


def place(shop: Shop, sku: str = "CAP", qty: int = 3, key: str = "order") -> tuple[str, str]:
    placed = shop.place_order(PlaceOrder(idempotency_key=key, items={sku: qty}, channel="store"))
    assert placed.payment_id is not None
    return placed.order_id, placed.payment_id


def capture(shop: Shop, payment_id: str, amount: Money, key: str = "ship") -> str:
    shop.capture_payment(CapturePayment(idempotency_key=key, payment_id=payment_id, amount=amount))
    return f"{key}:capture"


def lines(entry: JournalEntry) -> list[tuple[str, str, Money]]:
    return [(line.account, line.side.value, line.amount) for line in entry.lines]


def entry(shop: Shop, entry_id: str) -> JournalEntry:
    return shop.ledger().entry(entry_id)


def test_a_usd_order_settled_in_twd_with_a_gain_and_a_partial_refund() -> None:
    shop, clock = make()
    order_id, payment_id = place(shop)
    with shop.store.unit_of_work() as uow:
        frozen = frozen_rate(uow, order_id)
    assert frozen is not None
    assert (frozen.pair, frozen.rate, frozen.as_of) == (
        "USD/TWD",
        Decimal("32.15"),
        datetime(2026, 11, 1, tzinfo=UTC),
    )

    # Three caps, 3 x 19.99 = 59.97 USD, captured in full.
    capture_id = capture(shop, payment_id, usd("59.97"))
    # At the frozen rate: 59.97 x 32.15 = 1928.0355 -> 1928.04 TWD.
    assert lines(entry(shop, f"{payment_id}/fx/capture/{capture_id}")) == [
        ("currency_exchange", "debit", usd("59.97")),
        ("gateway_clearing", "credit", usd("59.97")),
        ("settlement_clearing", "debit", twd("1928.04")),
        ("currency_exchange", "credit", twd("1928.04")),
    ]

    # The provider pays out 1935.00 TWD and kept a 20.00 TWD fee: it converted at a
    # better rate than ours, a gain of 1935.00 + 20.00 - 1928.04 = 26.96 TWD.
    settled = shop.handle(
        RecordSettlement(
            payment_id=payment_id,
            capture_id=capture_id,
            amount=twd("1935.00"),
            fee=twd("20.00"),
            at=AT + timedelta(days=2),
        )
    )
    assert lines(settled) == [
        ("cash", "debit", twd("1935.00")),
        ("gateway_fees", "debit", twd("20.00")),
        ("settlement_clearing", "credit", twd("1928.04")),
        ("fx_gain_loss", "credit", twd("26.96")),
    ]
    assert settled.order_id == order_id

    # In December the source quotes 30.00, but the refund of one cap goes back at the
    # order's rate: 19.99 x 32.15 = 642.6785 -> 642.68 TWD (at 30.00 it would be 599.70).
    clock.set(datetime(2026, 12, 5, tzinfo=UTC))
    shop.refund_payment(
        RefundPayment(
            idempotency_key="back", payment_id=payment_id, amount=usd("19.99"), reason="returned"
        )
    )
    [refund] = [e for e in shop.ledger().entries if e.kind == "fx" and "/refund/" in e.id]
    assert lines(refund) == [
        ("currency_exchange", "credit", usd("19.99")),
        ("gateway_clearing", "debit", usd("19.99")),
        ("settlement_clearing", "credit", twd("642.68")),
        ("currency_exchange", "debit", twd("642.68")),
    ]

    trial = shop.trial_balance()
    assert trial.is_balanced
    assert trial.totals("USD") == (usd("59.97"), usd("59.97"))
    # TWD debits: cash 1935.00 + fees 20.00 = 1955.00; credits: settlement clearing
    # 642.68 (owed back to the provider for the refund) + currency exchange 1285.36
    # (1928.04 - 642.68) + fx gain 26.96 = 1955.00.
    assert trial.totals("TWD") == (twd("1955.00"), twd("1955.00"))
    assert trial.balance("settlement_clearing", "TWD") == twd("-642.68")
    assert trial.balance("fx_gain_loss", "TWD") == twd("26.96")
    # The exchange position: 39.98 USD still held against 1285.36 TWD (39.98 x 32.15).
    assert trial.balance("currency_exchange", "USD") == usd("-39.98")
    assert trial.balance("currency_exchange", "TWD") == twd("1285.36")
    assert trial.balance("gateway_clearing", "USD") == usd("0.00")
    # The customer's side stays in USD, and agrees with the payment.
    assert trial.balance("sales_revenue", "USD") == usd("59.97")
    assert trial.balance("refunds", "USD") == usd("19.99")
    assert shop.reconcile() == ()


def test_a_settlement_below_the_frozen_value_is_a_loss() -> None:
    shop, _ = make()
    _, payment_id = place(shop, qty=1)
    capture_id = capture(shop, payment_id, usd("19.99"))
    # 19.99 x 32.15 = 642.68 expected; 630.00 settled: a loss of 12.68 TWD.
    settled = shop.handle(
        RecordSettlement(payment_id=payment_id, capture_id=capture_id, amount=twd("630"), at=AT)
    )
    assert lines(settled) == [
        ("cash", "debit", twd("630")),
        ("settlement_clearing", "credit", twd("642.68")),
        ("fx_gain_loss", "debit", twd("12.68")),
    ]
    assert shop.trial_balance().balance("fx_gain_loss", "TWD") == twd("-12.68")
    assert shop.trial_balance().balance("settlement_clearing", "TWD") == twd("0.00")


def test_partial_captures_and_refunds_are_rounded_cumulatively() -> None:
    shop, _ = make()
    _, payment_id = place(shop)
    first = capture(shop, payment_id, usd("39.98"), key="one")
    second = capture(shop, payment_id, usd("19.99"), key="two")
    # 39.98 x 32.15 = 1285.357 -> 1285.36; all of it, 59.97 x 32.15 = 1928.0355 -> 1928.04,
    # so the second gets 1928.04 - 1285.36 = 642.68.
    book = shop.ledger()
    assert book.entry(f"{payment_id}/fx/capture/{first}").total("TWD") == twd("1285.36")
    assert book.entry(f"{payment_id}/fx/capture/{second}").total("TWD") == twd("642.68")
    for key in ("r1", "r2", "r3"):
        shop.refund_payment(
            RefundPayment(
                idempotency_key=key, payment_id=payment_id, amount=usd("19.99"), reason="returned"
            )
        )
    # Refunded in full in three parts: the TWD given back is all that was taken.
    trial = shop.trial_balance()
    assert trial.balance("settlement_clearing", "TWD") == twd("0.00")
    assert trial.balance("currency_exchange", "TWD") == twd("0.00")
    assert trial.balance("currency_exchange", "USD") == usd("0.00")
    assert trial.is_balanced


def test_a_settlement_recorded_twice_posts_once_and_other_figures_are_refused() -> None:
    shop, _ = make()
    _, payment_id = place(shop, qty=1)
    capture_id = capture(shop, payment_id, usd("19.99"))
    command = RecordSettlement(
        payment_id=payment_id, capture_id=capture_id, amount=twd("640"), at=AT
    )
    first = shop.handle(command)
    assert shop.handle(command) == first
    before = shop.ledger().entries
    with pytest.raises(IdempotencyConflict):
        shop.handle(command.model_copy(update={"amount": twd("641")}))
    assert shop.ledger().entries == before
    assert [e.kind for e in before].count("settlement") == 1


def test_bad_settlements_are_refused_and_change_nothing() -> None:
    shop, _ = make()
    _, payment_id = place(shop, qty=1)
    capture_id = capture(shop, payment_id, usd("19.99"))
    _, twd_payment = place(shop, sku="TEE", qty=1, key="tee")
    capture(shop, twd_payment, twd("590"), key="tee-ship")
    before = shop.ledger().entries

    def settle(**changes: object) -> None:
        fields: dict[str, object] = {
            "payment_id": payment_id,
            "capture_id": capture_id,
            "amount": twd("640"),
            "at": AT,
        }
        shop.handle(RecordSettlement(**{**fields, **changes}))

    with pytest.raises(CurrencyMismatch, match="USD"):
        settle(amount=usd("19.99"))
    with pytest.raises(CurrencyMismatch, match="JPY"):
        settle(fee=Money("5", "JPY"))
    with pytest.raises(NotFound, match="'nope'"):
        settle(capture_id="nope")
    with pytest.raises(NotFound):
        settle(payment_id="payment-9999")
    with pytest.raises(InvalidInput, match="settlement currency"):
        settle(payment_id=twd_payment, capture_id="tee-ship:capture")
    with pytest.raises(InvalidInput, match="positive"):
        settle(amount=twd("0"))
    with pytest.raises(InvalidInput, match="timezone"):
        settle(at=datetime(2026, 11, 20))
    assert shop.ledger().entries == before


def test_an_order_in_the_settlement_currency_is_left_as_it_is() -> None:
    shop, _ = make()
    order_id, payment_id = place(shop, sku="TEE", qty=1)
    capture(shop, payment_id, twd("590"))
    with shop.store.unit_of_work() as uow:
        assert frozen_rate(uow, order_id) is None
    assert [e.kind for e in shop.ledger().entries] == ["sale", "capture"]


def test_a_rate_not_frozen_at_placement_is_frozen_later_at_the_placement_time() -> None:
    shop, clock = make(freeze_at_placement=False)
    order_id, payment_id = place(shop, qty=1)
    with shop.store.unit_of_work() as uow:
        assert frozen_rate(uow, order_id) is None
    clock.set(datetime(2026, 11, 26, tzinfo=UTC))  # the source now quotes 30.00
    capture_id = capture(shop, payment_id, usd("19.99"))
    # Still the placement-time rate: 19.99 x 32.15 = 642.6785 -> 642.68 (not 599.70).
    conversion = entry(shop, f"{payment_id}/fx/capture/{capture_id}")
    assert conversion.total("TWD") == twd("642.68")
    with shop.store.unit_of_work() as uow:
        frozen = frozen_rate(uow, order_id)
    assert frozen is not None
    assert frozen.rate == Decimal("32.15")


def test_a_pair_the_source_does_not_quote_leaves_the_event_to_be_offered_again() -> None:
    shop, _ = make()
    order_id, payment_id = place(shop, sku="FAN", qty=1)
    assert shop.order(order_id).currency == "JPY"
    with shop.store.unit_of_work() as uow:
        assert frozen_rate(uow, order_id) is None
    [waiting] = [r for r in shop.bus.dispatch() if isinstance(r.event, OrderPlaced)]
    assert any("JPY/TWD" in error for _, error in waiting.failures)
    capture(shop, payment_id, Money("1500", "JPY"))
    assert [e.kind for e in shop.ledger().entries if e.order_id == order_id] == [
        "sale",
        "capture",
    ]


def test_a_settlement_keeps_the_shops_own_accounts() -> None:
    own = ChartOfAccounts.default().with_account(
        Account("marketing", "Marketing", AccountType.EXPENSE)
    )
    chart = Settlement(DatedRates(), "TWD").for_chart(own).chart
    assert {"marketing", "currency_exchange", "settlement_clearing", "fx_gain_loss"} <= set(
        chart.accounts
    )
    assert chart.get("fx_gain_loss").type is AccountType.REVENUE
