"""The marketplace: a worked two-seller order with commission, payouts, statements, bad input."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from fourflows.cash.ledger import (
    CASH,
    COMMISSION_REVENUE,
    CUSTOMER_RECEIVABLE,
    GATEWAY_CLEARING,
    GATEWAY_FEES,
    REFUNDS,
    SALES_REVENUE,
    SELLER_PAYABLE,
    JournalEntry,
    Ledger,
    capture_entry,
    refund_entry,
    sale_entry,
)
from fourflows.cash.marketplace import (
    Marketplace,
    PayoutExceedsPayable,
    Seller,
    UnassignedSku,
    UnknownSeller,
    marketplace_capture_entries,
    marketplace_refund_entries,
    seller_fee_entry,
    seller_kind,
    seller_of,
    seller_payable,
    seller_payout_entry,
    seller_statement,
)
from fourflows.commerce.cart import Cart, Customer, PricingContext
from fourflows.commerce.catalog import Catalog, Product
from fourflows.commerce.order import Order
from fourflows.commerce.pricing import price_cart
from fourflows.errors import CurrencyMismatch, FloatNotAllowed, InvalidInput, NotFound
from fourflows.geo import Address
from fourflows.logistics.shipping import ShippingTable
from fourflows.money import Money, Precision
from fourflows.tax import TaxTable

AT = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
LATER = AT + timedelta(days=5)
TAIPEI = Address(country="TW", city="Taipei", postal_code="106")


def twd(amount: str) -> Money:
    return Money(amount, "TWD")


TEE = Product(sku="TEE-M", name="T-shirt", price=twd("590"), weight_g=200, size_cm=(30, 20, 3))
MUG = Product(sku="MUG", name="Mug", price=twd("350"), weight_g=300, size_cm=(20, 10, 10))
SELLERS = [Seller("s-tee", "Tee Co"), Seller("s-mug", "Mug Co", commission_rate=Decimal("5"))]
MARKET = Marketplace(
    sellers=SELLERS,
    sku_sellers={"TEE-M": "s-tee", "MUG": "s-mug"},
    default_rate=Decimal("12"),
    minimum=twd("50"),
)


@functools.cache
def _quote() -> object:
    return price_cart(
        Cart("TWD").add(TEE, 2).add(MUG, 1),
        context=PricingContext(at=AT, customer=Customer(id="c-1")),
        tax=TaxTable.preset("TW"),
        shipping=ShippingTable.example_taiwan(),
        ship_to=TAIPEI,
        service="home",
    )


def order() -> Order:
    """Two tees (590 each, seller s-tee), a mug (350, s-mug), home delivery 100: 1630."""
    return Order.place(id="o-1", quote=_quote(), at=AT)  # type: ignore[arg-type]


def lines_of(entry: JournalEntry) -> list[tuple[str, str, Money]]:
    return [(line.side.value, line.account, line.amount) for line in entry.lines]


def journal() -> Ledger:
    """The order sold, captured by card, and split between its two sellers."""
    placed = order()
    ledger = Ledger.open().post(
        sale_entry(
            id="o-1/sale",
            at=AT,
            order_id="o-1",
            goods=twd("1457"),
            shipping=twd("95"),
            tax=twd("78"),
        )
    )
    split = MARKET.split(placed, twd("1630"))
    return ledger.post_all(
        [
            capture_entry(
                id="p-1/capture/c-1",
                at=AT,
                order_id="o-1",
                payment_id="p-1",
                method="card",
                amount=twd("1630"),
            ),
            *marketplace_capture_entries(split, id="p-1/split/c-1", at=AT, payment_id="p-1"),
        ]
    )


class TestWorkedTwoSellerOrder:
    def test_the_capture_is_split_by_the_value_of_each_sellers_lines(self) -> None:
        split = MARKET.split(order(), twd("1630"))
        # Weights: tee line 2 x 590 = 1180, mug line 350; together 1530.
        # s-tee: 1630 x 1180 / 1530 = 1257.124.. -> 1257.12 (remainder 0.4 of a cent)
        # s-mug: 1630 x  350 / 1530 =  372.875.. ->  372.87 (remainder 0.5 of a cent),
        #        and the one cent left goes to the larger remainder: 372.88.
        assert [(s.seller_id, s.amount) for s in split.sellers] == [
            ("s-tee", twd("1257.12")),
            ("s-mug", twd("372.88")),
        ]
        tee, mug = split.sellers
        # s-tee has no rate of its own: the default 12 %. 1257.12 x 0.12 = 150.8544 -> 150.85,
        # above the minimum of 50.
        assert (tee.commission, tee.payable) == (twd("150.85"), twd("1106.27"))
        # s-mug's own 5 %: 372.88 x 0.05 = 18.644 -> 18.64, below the minimum: 50.
        assert (mug.commission, mug.payable) == (twd("50.00"), twd("322.88"))
        assert split.commission + split.payable == twd("1630")

    def test_the_journal(self) -> None:
        ledger = journal()
        # sale        Dr receivable 1630  / Cr sales revenue 1457, shipping 95, tax 78
        # capture     Dr gateway clearing 1630 / Cr receivable 1630
        # split s-tee Dr sales revenue 1257.12 / Cr seller payable 1106.27, commission 150.85
        # split s-mug Dr sales revenue  372.88 / Cr seller payable  322.88, commission  50.00
        tee, mug = ledger.entries[2:]
        assert (tee.id, tee.kind) == ("p-1/split/c-1/s-tee", "marketplace_sale:s-tee")
        assert lines_of(tee) == [
            ("debit", SALES_REVENUE, twd("1257.12")),
            ("credit", SELLER_PAYABLE, twd("1106.27")),
            ("credit", COMMISSION_REVENUE, twd("150.85")),
        ]
        assert lines_of(mug) == [
            ("debit", SALES_REVENUE, twd("372.88")),
            ("credit", SELLER_PAYABLE, twd("322.88")),
            ("credit", COMMISSION_REVENUE, twd("50.00")),
        ]
        # Sales revenue left to the platform: 1457 - 1257.12 - 372.88 = -173 (the tax and
        # shipping of the sellers' goods, which the sale entry booked as its own).
        assert ledger.balance(SALES_REVENUE, "TWD") == twd("-173")
        assert ledger.balance(SELLER_PAYABLE, "TWD") == twd("1429.15")  # 1106.27 + 322.88
        assert ledger.balance(COMMISSION_REVENUE, "TWD") == twd("200.85")  # 150.85 + 50
        assert ledger.balance(GATEWAY_CLEARING, "TWD") == twd("1630")
        assert ledger.trial_balance().is_balanced

    def test_a_refund_of_the_mug_gives_the_commission_back_to_its_seller(self) -> None:
        ledger = journal()
        split = MARKET.split(order(), twd("350"), units={1: 1})
        # Only the mug line weighs: s-mug takes back all 350. Commission 5 % = 17.50, raised to
        # the minimum 50 x 350 / 350 = 50: the seller loses 350 - 50 = 300.
        (entry,) = marketplace_refund_entries(split, id="p-1/split/r-1", at=LATER)
        assert entry.kind == "marketplace_refund:s-mug"
        assert lines_of(entry) == [
            ("debit", SELLER_PAYABLE, twd("300.00")),
            ("debit", COMMISSION_REVENUE, twd("50.00")),
            ("credit", SALES_REVENUE, twd("350")),
        ]
        refund = refund_entry(
            id="p-1/refund/r-1",
            at=LATER,
            order_id="o-1",
            payment_id="p-1",
            method="card",
            amount=twd("350"),
        )
        ledger = ledger.post_all([refund, entry])
        assert seller_payable(ledger, "s-mug", "TWD") == twd("22.88")  # 322.88 - 300
        assert ledger.balance(COMMISSION_REVENUE, "TWD") == twd("150.85")
        assert ledger.balance(REFUNDS, "TWD") == twd("350")
        assert ledger.balance(CUSTOMER_RECEIVABLE, "TWD") == twd("0")

    def test_statements_fees_and_payouts(self) -> None:
        ledger = journal()
        fee = seller_fee_entry(MARKET, "s-tee", twd("30"), id="fee-1", at=AT, order_id="o-1")
        assert lines_of(fee) == [
            ("debit", SELLER_PAYABLE, twd("30")),
            ("credit", GATEWAY_FEES, twd("30")),
        ]
        ledger = ledger.post(fee)
        payout = seller_payout_entry(ledger, MARKET, "s-tee", twd("1000"), id="pay-1", at=LATER)
        assert lines_of(payout) == [
            ("debit", SELLER_PAYABLE, twd("1000")),
            ("credit", CASH, twd("1000")),
        ]
        ledger = ledger.post(payout)
        statement = seller_statement(ledger, "s-tee", "TWD")
        # sales 1257.12 - commission 150.85 - fees 30 = 1076.27 net payable; paid 1000.
        assert (statement.sales, statement.refunds) == (twd("1257.12"), twd("0"))
        assert (statement.commission, statement.fees) == (twd("150.85"), twd("30"))
        assert statement.net_payable == twd("1076.27")
        assert statement.paid_out == twd("1000")
        assert statement.closing == twd("76.27") == seller_payable(ledger, "s-tee", "TWD")
        assert "net payable" in statement.format()
        # A period after the capture holds only the payout; the opening is what was owed then.
        later = seller_statement(ledger, "s-tee", "TWD", start=AT + timedelta(days=1))
        assert (later.opening, later.sales, later.paid_out) == (
            twd("1076.27"),
            twd("0"),
            twd("1000"),
        )
        assert later.closing == twd("76.27")
        # The statements and the ledger agree: payable 76.27 + 322.88.
        mug = seller_statement(ledger, "s-mug", "TWD")
        assert statement.closing + mug.closing == ledger.balance(SELLER_PAYABLE, "TWD")

    def test_a_payout_repeated_under_its_id_is_the_same_entry(self) -> None:
        ledger = journal()
        payout = seller_payout_entry(ledger, MARKET, "s-mug", twd("322.88"), id="pay-2", at=LATER)
        ledger = ledger.post(payout)
        assert seller_payable(ledger, "s-mug", "TWD") == twd("0")
        again = seller_payout_entry(ledger, MARKET, "s-mug", twd("322.88"), id="pay-2", at=LATER)
        assert again == payout
        assert ledger.post(again) is ledger

    def test_a_reversed_split_counts_against_the_statement(self) -> None:
        ledger = journal().reverse("p-1/split/c-1/s-mug", id="undo", at=LATER)
        statement = seller_statement(ledger, "s-mug", "TWD")
        assert (statement.sales, statement.commission) == (twd("0"), twd("0"))
        assert statement.closing == twd("0")


class TestBadInput:
    def test_a_payout_above_the_payable_raises_and_changes_nothing(self) -> None:
        ledger = journal()
        with pytest.raises(PayoutExceedsPayable, match=r"322\.88"):
            seller_payout_entry(ledger, MARKET, "s-mug", twd("322.89"), id="pay-3", at=LATER)
        assert ledger.balance(SELLER_PAYABLE, "TWD") == twd("1429.15")
        assert len(ledger.entries) == 4

    def test_a_payout_for_an_unknown_seller_raises(self) -> None:
        with pytest.raises(UnknownSeller, match=r"'s-hat'.*known: 's-mug', 's-tee'"):
            seller_payout_entry(journal(), MARKET, "s-hat", twd("1"), id="pay-4", at=LATER)
        assert issubclass(UnknownSeller, NotFound)

    def test_a_payout_must_be_positive_money(self) -> None:
        with pytest.raises(InvalidInput):
            seller_payout_entry(journal(), MARKET, "s-tee", twd("0"), id="pay-5", at=LATER)
        with pytest.raises(InvalidInput):
            seller_payout_entry(journal(), MARKET, "s-tee", "10", id="pay-5", at=LATER)  # type: ignore[arg-type]

    def test_a_sku_nobody_sells_raises(self) -> None:
        market = Marketplace(sellers=SELLERS, sku_sellers={"TEE-M": "s-tee"})
        with pytest.raises(UnassignedSku, match="'MUG'"):
            market.split(order(), twd("100"))

    def test_the_amount_split_must_be_positive_in_the_orders_currency(self) -> None:
        with pytest.raises(CurrencyMismatch):
            MARKET.split(order(), Money("10", "USD"))
        with pytest.raises(InvalidInput, match="positive"):
            MARKET.split(order(), twd("0"))
        with pytest.raises(InvalidInput, match="no line 7"):
            MARKET.split(order(), twd("10"), units={7: 1})
        with pytest.raises(InvalidInput, match="from 1 to 2"):
            MARKET.split(order(), twd("10"), units={0: 3})

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"sku_sellers": {"MUG": "s-hat"}}, "s-hat"),
            ({"sku_sellers": {}, "default_rate": Decimal("101")}, "0 to 100"),
            ({"sku_sellers": {}, "default_rate": Decimal("-1")}, "0 to 100"),
            ({"sku_sellers": {}, "sku_categories": {"MUG": "home"}}, "no rate"),
            ({"sku_sellers": {}, "minimum": "50"}, "Money"),
        ],
    )
    def test_a_bad_marketplace_raises_naming_the_value(
        self, options: dict[str, object], message: str
    ) -> None:
        with pytest.raises(InvalidInput, match=message):
            Marketplace(sellers=SELLERS, **options)

    def test_a_float_rate_is_refused(self) -> None:
        with pytest.raises(FloatNotAllowed):
            Seller("s-1", "One", commission_rate=0.1)


class TestRates:
    def test_seller_over_category_over_default(self) -> None:
        market = Marketplace(
            sellers=[Seller("s-1", "One", commission_rate=Decimal("3")), Seller("s-2", "Two")],
            sku_sellers={"A": "s-1", "B": "s-2", "C": "s-2"},
            default_rate=Decimal("10"),
            category_rates={"books": Decimal("6")},
            sku_categories={"A": "books", "B": "books"},
        )
        assert market.rate_for("A") == Decimal("3")  # the seller's own rate wins
        assert market.rate_for("B") == Decimal("6")  # then the category's
        assert market.rate_for("C") == Decimal("10")  # then the default

    def test_from_catalog_reads_sellers_and_categories(self) -> None:
        catalog = Catalog(
            [
                Product(sku="A", name="A", price=twd("100"), seller_id="s-1", categories={"books"}),
                Product(sku="B", name="B", price=twd("100"), seller_id="s-2"),
                Product(sku="C", name="C", price=twd("100")),
            ]
        )
        market = Marketplace.from_catalog(
            catalog,
            [Seller("s-1", "One"), Seller("s-2", "Two")],
            default_rate=8,
            category_rates={"books": "4.5"},
        )
        assert dict(market.sku_sellers) == {"A": "s-1", "B": "s-2"}
        assert (market.rate_for("A"), market.rate_for("B")) == (Decimal("4.5"), Decimal("8"))

    def test_commission_in_whole_dollars_with_a_cash_precision(self) -> None:
        market = Marketplace(
            sellers=SELLERS,
            sku_sellers={"TEE-M": "s-tee", "MUG": "s-mug"},
            default_rate=Decimal("12"),
            precision=Precision.cash("TWD"),
        )
        tee, mug = market.split(order(), twd("1630")).sellers
        # 1257.12 x 0.12 = 150.85.. -> 151; 372.88 x 0.05 = 18.64.. -> 19 (no minimum here).
        assert (tee.commission, mug.commission) == (twd("151"), twd("19"))

    def test_the_minimum_is_paid_in_proportion_to_the_part_captured(self) -> None:
        # Half the mug's value: 175; 5 % = 8.75, below half the minimum (25): 25.
        split = MARKET.split(order(), twd("175"), units={1: 1})
        assert split.share("s-mug").commission == twd("25.00")
        # The commission never exceeds the share.
        tiny = Marketplace(
            sellers=SELLERS, sku_sellers={"TEE-M": "s-tee", "MUG": "s-mug"}, minimum=twd("5000")
        )
        assert tiny.split(order(), twd("10")).commission == twd("10")


def test_entries_are_tagged_with_their_seller() -> None:
    assert seller_kind("seller_payout", "s-1") == "seller_payout:s-1"
    tagged = journal().entries
    assert [seller_of(entry) for entry in tagged] == [
        None,
        None,
        ("marketplace_sale", "s-tee"),
        ("marketplace_sale", "s-mug"),
    ]
    with pytest.raises(InvalidInput):
        seller_kind("sale", "s-1")
