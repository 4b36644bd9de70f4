"""The double-entry ledger: worked journals, posting rules, and bad input that changes nothing."""

from datetime import UTC, datetime, timedelta

import pytest

from fourflows.cash.ledger import (
    CASH,
    COD_IN_TRANSIT,
    CUSTOMER_COMPENSATION,
    CUSTOMER_RECEIVABLE,
    DISCOUNTS_GIVEN,
    GATEWAY_CLEARING,
    GATEWAY_FEES,
    REFUNDS,
    SALES_REVENUE,
    SHIPPING_REVENUE,
    STORE_CREDIT_LIABILITY,
    TAX_PAYABLE,
    Account,
    AccountType,
    Cause,
    ChartOfAccounts,
    Difference,
    JournalEntry,
    JournalLine,
    Ledger,
    Side,
    UnbalancedEntry,
    UnknownAccount,
    authorization_hold,
    capture_entry,
    cod_remittance_entry,
    fee_entry,
    gateway_payout_entry,
    payment_event_entry,
    reconcile,
    refund_entry,
    sale_entry,
    store_credit_issued_entry,
)
from fourflows.cash.payment import Payment, PaymentMethod
from fourflows.errors import (
    FloatNotAllowed,
    IdempotencyConflict,
    InsufficientBalance,
    InvalidInput,
    NotFound,
)
from fourflows.money import Money

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def twd(amount: str) -> Money:
    return Money(amount, "TWD")


def lines_of(entry: JournalEntry) -> list[tuple[str, str, Money]]:
    return [(line.side.value, line.account, line.amount) for line in entry.lines]


def balances(ledger: Ledger, *accounts: str, order_id: str | None = None) -> dict[str, Money]:
    return {code: ledger.balance(code, "TWD", order_id=order_id) for code in accounts}


def simple(id: str, debit: str, credit: str, amount: Money, **links: object) -> JournalEntry:
    return JournalEntry(
        id=id,
        at=AT,
        description=f"test {id}",
        lines=[JournalLine.debit(debit, amount), JournalLine.credit(credit, amount)],
        **links,  # type: ignore[arg-type]
    )


# --- worked examples ---------------------------------------------------------------------


def test_a_card_order_with_a_gateway_fee() -> None:
    # Goods 1,000 net + 5% tax 50 + shipping 60: the customer owes 1,110.
    sale = sale_entry(
        id="o-1/sale",
        at=AT,
        order_id="o-1",
        goods=twd("1000"),
        shipping=twd("60"),
        tax=twd("50"),
    )
    assert lines_of(sale) == [
        ("debit", CUSTOMER_RECEIVABLE, twd("1110")),
        ("credit", SALES_REVENUE, twd("1000")),
        ("credit", SHIPPING_REVENUE, twd("60")),
        ("credit", TAX_PAYABLE, twd("50")),
    ]
    capture = capture_entry(
        id="p-1/capture/c-1",
        at=AT,
        order_id="o-1",
        payment_id="p-1",
        method=PaymentMethod.CARD,
        amount=twd("1110"),
    )
    # The gateway keeps 2.8%: 1,110 x 0.028 = 31.08, and pays out 1,110 - 31.08 = 1,078.92.
    fee = fee_entry(id="p-1/fee", at=AT, amount=twd("31.08"), order_id="o-1", payment_id="p-1")
    payout = gateway_payout_entry(id="payout-1", at=AT + DAY, amount=twd("1078.92"))
    ledger = Ledger.open().post_all([sale, capture, fee, payout])

    assert balances(
        ledger,
        CUSTOMER_RECEIVABLE,
        GATEWAY_CLEARING,
        CASH,
        SALES_REVENUE,
        SHIPPING_REVENUE,
        TAX_PAYABLE,
        GATEWAY_FEES,
    ) == {
        CUSTOMER_RECEIVABLE: twd("0"),  # 1,110 owed - 1,110 paid
        GATEWAY_CLEARING: twd("0"),  # 1,110 captured - 31.08 fee - 1,078.92 paid out
        CASH: twd("1078.92"),
        SALES_REVENUE: twd("1000"),
        SHIPPING_REVENUE: twd("60"),
        TAX_PAYABLE: twd("50"),
        GATEWAY_FEES: twd("31.08"),
    }
    trial = ledger.trial_balance()
    # Debit column: cash 1,078.92 + fees 31.08 = 1,110; credit column: 1,000 + 60 + 50 = 1,110.
    assert trial.totals("TWD") == (twd("1110"), twd("1110"))
    assert trial.is_balanced
    assert trial.balance(CASH, "TWD") == twd("1078.92")
    assert trial.balance(REFUNDS, "TWD") == twd("0")  # never posted to
    assert trial.format().splitlines()[-1].split() == ["total", "1110.00", "1110.00"]


def test_a_partial_refund_through_the_payment_events() -> None:
    # A 1,050 order (1,000 + 50 tax) paid by card; one of its two items (350) comes back.
    payment = Payment.create(id="p-2", order_id="o-2", method="card", amount=twd("1050"), at=AT)
    ledger = Ledger.open().post(
        sale_entry(id="o-2/sale", at=AT, order_id="o-2", goods=twd("1000"), tax=twd("50"))
    )
    events = [
        payment.authorize(amount=twd("1050"), at=AT),
        payment.capture_succeeded(capture_id="c-1", amount=twd("1050"), at=AT),
        payment.request_refund(refund_id="r-1", amount=twd("350"), at=AT + DAY),
        payment.refund_succeeded(refund_id="r-1", at=AT + DAY),
    ]
    for event in events:
        assert event is not None
        entry = payment_event_entry(event, method="card")
        if entry is not None:
            ledger = ledger.post(entry)

    refund = ledger.entry("p-2/refund/r-1")
    assert lines_of(refund) == [
        ("debit", REFUNDS, twd("350")),
        ("credit", GATEWAY_CLEARING, twd("350")),
    ]
    # created 1, authorised 2, captured 3, refund requested 4, refunded 5
    assert refund.cause == Cause("p-2", 5)
    assert balances(ledger, GATEWAY_CLEARING, REFUNDS, CUSTOMER_RECEIVABLE) == {
        GATEWAY_CLEARING: twd("700"),  # 1,050 captured - 350 refunded
        REFUNDS: twd("350"),
        CUSTOMER_RECEIVABLE: twd("0"),
    }
    # Net sales: 1,000 revenue - 350 refunds = 650 (the credit note splits out the tax).
    assert ledger.balance(SALES_REVENUE, "TWD") - ledger.balance(REFUNDS, "TWD") == twd("650")
    assert reconcile(ledger, {"p-2": payment.totals}) == ()


def test_a_cod_order_remitted_by_the_carrier() -> None:
    # 800 goods + 40 tax + 60 shipping = 900, collected at the door, remitted less a 30 fee.
    payment = Payment.create(
        id="p-3", order_id="o-3", method="cash_on_delivery", amount=twd("900"), at=AT
    )
    payment.authorize(amount=twd("900"), at=AT)
    collected = payment.capture_succeeded(capture_id="parcel-1", amount=twd("900"), at=AT + DAY)
    remitted = payment.record_remittance(
        capture_id="parcel-1", remittance_ref="rem-7", at=AT + 3 * DAY
    )
    assert collected is not None
    assert remitted is not None
    collection = payment_event_entry(collected, method="cash_on_delivery")
    remittance = payment_event_entry(remitted, method="cash_on_delivery", collection_fee=twd("30"))
    assert collection is not None
    assert remittance is not None
    assert lines_of(collection) == [
        ("debit", COD_IN_TRANSIT, twd("900")),
        ("credit", CUSTOMER_RECEIVABLE, twd("900")),
    ]
    assert lines_of(remittance) == [
        ("debit", CASH, twd("870")),  # 900 - 30
        ("debit", GATEWAY_FEES, twd("30")),
        ("credit", COD_IN_TRANSIT, twd("900")),
    ]
    sale = sale_entry(
        id="o-3/sale", at=AT, order_id="o-3", goods=twd("800"), tax=twd("40"), shipping=twd("60")
    )
    ledger = Ledger.open().post_all([sale, collection])
    # Between collection and remittance, the carrier holds the 900.
    assert ledger.balance(COD_IN_TRANSIT, "TWD") == twd("900")
    ledger = ledger.post(remittance)
    assert balances(ledger, COD_IN_TRANSIT, CASH, GATEWAY_FEES, CUSTOMER_RECEIVABLE) == {
        COD_IN_TRANSIT: twd("0"),
        CASH: twd("870"),
        GATEWAY_FEES: twd("30"),
        CUSTOMER_RECEIVABLE: twd("0"),
    }
    assert reconcile(ledger, {"p-3": payment.totals}) == ()


def test_a_discount_is_a_debit_to_discounts_given() -> None:
    # 1,200 goods - 100 discount + 55 tax = 1,155 owed.
    sale = sale_entry(
        id="s", at=AT, order_id="o", goods=twd("1200"), discount=twd("100"), tax=twd("55")
    )
    assert lines_of(sale) == [
        ("debit", CUSTOMER_RECEIVABLE, twd("1155")),
        ("debit", DISCOUNTS_GIVEN, twd("100")),
        ("credit", SALES_REVENUE, twd("1200")),
        ("credit", TAX_PAYABLE, twd("55")),
    ]


# --- entries -----------------------------------------------------------------------------


def test_an_unbalanced_entry_cannot_be_built() -> None:
    with pytest.raises(UnbalancedEntry, match="does not balance in TWD: debits 100, credits 90"):
        JournalEntry(
            id="bad",
            at=AT,
            description="x",
            lines=[
                JournalLine.debit(CASH, twd("100")),
                JournalLine.credit(SALES_REVENUE, twd("90")),
            ],
        )
    with pytest.raises(UnbalancedEntry, match="at least a debit and a credit"):
        JournalEntry(id="one", at=AT, description="x", lines=[JournalLine.debit(CASH, twd("1"))])


def test_each_currency_balances_on_its_own() -> None:
    usd = Money("10", "USD")
    with pytest.raises(UnbalancedEntry, match="in TWD: debits 10, credits 0"):
        # 10 TWD debit against 10 USD credit: equal numbers, different money.
        JournalEntry(
            id="fx",
            at=AT,
            description="x",
            lines=[JournalLine.debit(CASH, twd("10")), JournalLine.credit(SALES_REVENUE, usd)],
        )
    two = JournalEntry(
        id="two",
        at=AT,
        description="x",
        lines=[
            JournalLine.debit(CASH, twd("10")),
            JournalLine.credit(SALES_REVENUE, twd("10")),
            JournalLine.debit(CASH, usd),
            JournalLine.credit(SALES_REVENUE, usd),
        ],
    )
    assert two.currencies == ("TWD", "USD")
    assert two.total("USD") == usd
    with pytest.raises(InvalidInput, match="name the currency"):
        two.total()


@pytest.mark.parametrize(
    ("amount", "error", "match"),
    [
        (twd("0"), InvalidInput, "positive"),
        (twd("-5"), InvalidInput, "positive"),
        (twd("1.005"), InvalidInput, "minor units"),
        (10, InvalidInput, "Money"),
    ],
)
def test_a_line_holds_a_positive_amount_in_whole_minor_units(
    amount: object, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        JournalLine(CASH, Side.DEBIT, amount)  # type: ignore[arg-type]


def test_floats_and_naive_times_are_refused() -> None:
    with pytest.raises(InvalidInput, match=r"must be Money, not 1\.5"):
        JournalLine.debit(CASH, 1.5)  # type: ignore[arg-type]
    with pytest.raises(FloatNotAllowed):
        sale_entry(id="s", at=AT, order_id="o", goods=twd("10"), tax=Money(0.5, "TWD"))
    with pytest.raises(InvalidInput, match="timezone-aware"):
        simple("x", CASH, SALES_REVENUE, twd("1")).reversed(id="y", at=datetime(2026, 1, 1))


# --- posting -----------------------------------------------------------------------------


def test_posting_is_idempotent_per_entry_id() -> None:
    entry = simple("e-1", CASH, SALES_REVENUE, twd("100"))
    once = Ledger.open().post(entry)
    assert once.post(entry) is once
    with pytest.raises(IdempotencyConflict, match="'e-1'"):
        once.post(simple("e-1", CASH, SALES_REVENUE, twd("101")))
    assert once.entries == (entry,)


def test_an_unknown_account_is_named_and_nothing_is_posted() -> None:
    ledger = Ledger.open().post(simple("ok", CASH, SALES_REVENUE, twd("5")))
    with pytest.raises(UnknownAccount, match="no account 'petty_cash'") as caught:
        ledger.post_all(
            [
                simple("good", CASH, SALES_REVENUE, twd("7")),
                simple("bad", "petty_cash", CASH, twd("1")),
            ]
        )
    assert isinstance(caught.value, LookupError)
    assert [entry.id for entry in ledger.entries] == ["ok"]
    assert ledger.balance(CASH, "TWD") == twd("5")


def test_a_shop_extends_the_chart() -> None:
    petty = Account("petty_cash", "Petty cash", AccountType.ASSET)
    ledger = Ledger.open().with_account(petty)
    ledger = ledger.post(simple("float", "petty_cash", CASH, twd("300")))
    assert ledger.balance("petty_cash", "TWD") == twd("300")
    assert ledger.with_account(petty) is ledger
    with pytest.raises(InvalidInput, match="already 'Cash'"):
        ChartOfAccounts.default().with_account(Account(CASH, "Till", AccountType.ASSET))
    with pytest.raises(InvalidInput, match="account type"):
        Account("x", "X", "income")


def test_normal_sides_follow_the_account_type() -> None:
    assert {kind: kind.normal_side for kind in AccountType} == {
        AccountType.ASSET: Side.DEBIT,
        AccountType.EXPENSE: Side.DEBIT,
        AccountType.CONTRA_REVENUE: Side.DEBIT,
        AccountType.LIABILITY: Side.CREDIT,
        AccountType.EQUITY: Side.CREDIT,
        AccountType.REVENUE: Side.CREDIT,
    }


# --- reversal ----------------------------------------------------------------------------


def test_a_reversal_undoes_an_entry_once() -> None:
    ledger = Ledger.open().post(
        simple("fee", GATEWAY_FEES, GATEWAY_CLEARING, twd("12"), order_id="o")
    )
    reversed_ = ledger.reverse("fee", id="fee/rev", at=AT + DAY)
    reversal = reversed_.entry("fee/rev")
    assert (reversal.reverses, reversal.order_id) == ("fee", "o")
    assert lines_of(reversal) == [
        ("credit", GATEWAY_FEES, twd("12")),
        ("debit", GATEWAY_CLEARING, twd("12")),
    ]
    assert reversed_.balance(GATEWAY_FEES, "TWD") == twd("0")
    assert reversed_.reversal_of("fee") == reversal
    # The same reversal again is the same entry: nothing changes.
    assert reversed_.reverse("fee", id="fee/rev", at=AT + DAY) is reversed_
    with pytest.raises(InvalidInput, match="already reversed by 'fee/rev'"):
        reversed_.reverse("fee", id="fee/rev2", at=AT + DAY)
    with pytest.raises(InvalidInput, match="itself a reversal"):
        reversed_.reverse("fee/rev", id="fee/rev/rev", at=AT + DAY)
    # The original is still there, unedited.
    assert reversed_.entry("fee") == ledger.entry("fee")


def test_a_hand_made_reversal_must_mirror_the_original() -> None:
    ledger = Ledger.open().post(simple("a", CASH, SALES_REVENUE, twd("10")))
    wrong = JournalEntry(
        id="a/rev",
        at=AT,
        description="x",
        lines=[JournalLine.debit(SALES_REVENUE, twd("9")), JournalLine.credit(CASH, twd("9"))],
        reverses="a",
    )
    with pytest.raises(UnbalancedEntry, match="does not mirror"):
        ledger.post(wrong)
    with pytest.raises(NotFound):
        ledger.reverse("missing", id="m/rev", at=AT)


# --- two-phase entries -------------------------------------------------------------------


def hold(amount: str = "1000") -> JournalEntry:
    return authorization_hold(
        id="p-9/auth", at=AT, order_id="o-9", payment_id="p-9", method="card", amount=twd(amount)
    )


def test_a_pending_entry_is_listed_but_counts_in_no_balance() -> None:
    ledger = Ledger.open().hold(hold())
    assert [entry.id for entry in ledger.pending_entries()] == ["p-9/auth"]
    assert ledger.balance(GATEWAY_CLEARING, "TWD") == twd("0")
    assert ledger.trial_balance().rows == ()
    assert ledger.hold(hold()) is ledger
    with pytest.raises(IdempotencyConflict):
        ledger.hold(hold("999"))
    with pytest.raises(InvalidInput, match="is pending; settle it with post_pending"):
        ledger.post(hold())


def test_a_pending_entry_posted_in_full() -> None:
    ledger = Ledger.open().hold(hold()).post_pending("p-9/auth", entry_id="p-9/capture", at=AT)
    assert ledger.balance(GATEWAY_CLEARING, "TWD") == twd("1000")
    assert ledger.pending_entries() == ()
    settled = ledger.settlement("p-9/auth")
    assert settled is not None
    assert (settled.posted, settled.released) == ((twd("1000"),), ())


def test_a_pending_entry_partly_posted_releases_the_rest() -> None:
    ledger = Ledger.open().hold(hold())
    posted = ledger.post_pending("p-9/auth", entry_id="p-9/c", at=AT, amount=twd("600"))
    assert posted.balance(GATEWAY_CLEARING, "TWD") == twd("600")
    settled = posted.settlement("p-9/auth")
    assert settled is not None
    assert settled.released == (twd("400"),)  # 1,000 held - 600 posted
    # The same settlement again changes nothing; any other is refused.
    again = posted.post_pending("p-9/auth", entry_id="p-9/c", at=AT, amount=twd("600"))
    assert again is posted
    with pytest.raises(InvalidInput, match="already settled"):
        posted.post_pending("p-9/auth", entry_id="p-9/c", at=AT, amount=twd("700"))
    with pytest.raises(InvalidInput, match="already settled"):
        posted.void_pending("p-9/auth", at=AT)
    with pytest.raises(InvalidInput, match="holds only 1000 TWD"):
        ledger.post_pending("p-9/auth", entry_id="p-9/c", at=AT, amount=twd("1000.01"))


def test_a_partial_post_scales_every_line() -> None:
    # Held: debit clearing 1,000; credit receivable 600 and seller payable 400. Post 500:
    # the credits scale by 500/1000 to 300 and 200.
    split = JournalEntry(
        id="h",
        at=AT,
        description="split",
        lines=[
            JournalLine.debit(GATEWAY_CLEARING, twd("1000")),
            JournalLine.credit(CUSTOMER_RECEIVABLE, twd("600")),
            JournalLine.credit("seller_payable", twd("400")),
        ],
    )
    ledger = Ledger.open().hold(split).post_pending("h", entry_id="h/1", at=AT, amount=twd("500"))
    assert lines_of(ledger.entry("h/1")) == [
        ("debit", GATEWAY_CLEARING, twd("500")),
        ("credit", CUSTOMER_RECEIVABLE, twd("300")),
        ("credit", "seller_payable", twd("200")),
    ]


def test_a_voided_pending_entry_posts_nothing() -> None:
    ledger = Ledger.open().hold(hold()).void_pending("p-9/auth", at=AT + DAY)
    assert ledger.entries == ()
    assert ledger.pending_entries() == ()
    assert ledger.void_pending("p-9/auth", at=AT + DAY) is ledger
    with pytest.raises(InvalidInput, match="already settled"):
        ledger.post_pending("p-9/auth", entry_id="x", at=AT)
    with pytest.raises(NotFound, match="pending entry 'nope'"):
        ledger.void_pending("nope", at=AT)


# --- store credit, balances by order and period ------------------------------------------


def test_store_credit_liability_never_goes_below_zero() -> None:
    issued = store_credit_issued_entry(
        id="sc-1", at=AT, amount=twd("200"), debit_account=CUSTOMER_COMPENSATION
    )
    ledger = Ledger.open().post(issued)
    use = capture_entry(
        id="p-5/use",
        at=AT,
        order_id="o-5",
        payment_id="p-5",
        method="store_credit",
        amount=twd("150"),
    )
    ledger = ledger.post(use)
    assert ledger.balance(STORE_CREDIT_LIABILITY, "TWD") == twd("50")  # 200 issued - 150 used
    too_much = capture_entry(
        id="p-6/use",
        at=AT,
        order_id="o-6",
        payment_id="p-6",
        method="store_credit",
        amount=twd("60"),
    )
    with pytest.raises(InsufficientBalance, match="cannot give 60 TWD: its balance is 50 TWD"):
        ledger.post(too_much)
    assert ledger.balance(STORE_CREDIT_LIABILITY, "TWD") == twd("50")


def test_balances_per_order_and_per_period() -> None:
    ledger = Ledger.open().post_all(
        [
            sale_entry(id="a", at=AT, order_id="o-a", goods=twd("100")),
            sale_entry(id="b", at=AT + DAY, order_id="o-b", goods=twd("250")),
            sale_entry(id="c", at=AT + 2 * DAY, order_id="o-a", goods=twd("40")),
        ]
    )
    assert ledger.balance(SALES_REVENUE, "TWD") == twd("390")  # 100 + 250 + 40
    assert ledger.balance(SALES_REVENUE, "TWD", order_id="o-a") == twd("140")  # 100 + 40
    # The period includes its start and excludes its end.
    assert ledger.balance(SALES_REVENUE, "TWD", start=AT + DAY, end=AT + 2 * DAY) == twd("250")
    assert ledger.trial_balance(order_id="o-b").totals("TWD") == (twd("250"), twd("250"))
    assert [e.id for e in ledger.entries_for(order_id="o-a")] == ["a", "c"]
    with pytest.raises(InvalidInput, match="timezone-aware"):
        ledger.balance(SALES_REVENUE, "TWD", start=datetime(2026, 11, 22))
    with pytest.raises(InvalidInput, match="before its start"):
        ledger.trial_balance(start=AT + DAY, end=AT)


# --- posting rules -----------------------------------------------------------------------


def test_refunds_leave_by_the_tender_they_came_in() -> None:
    def credited(method: str) -> str:
        entry = refund_entry(
            id="r", at=AT, order_id="o", payment_id="p", method=method, amount=twd("1")
        )
        return entry.lines[1].account

    assert credited("card") == GATEWAY_CLEARING
    assert credited("cash_on_delivery") == CASH
    assert credited("store_credit") == STORE_CREDIT_LIABILITY
    with pytest.raises(InvalidInput, match="payment method must be one of"):
        credited("cheque")


def test_sale_entries_refuse_bad_figures() -> None:
    with pytest.raises(InvalidInput, match="leaves nothing owed"):
        sale_entry(id="s", at=AT, order_id="o", goods=twd("100"), discount=twd("100"))
    with pytest.raises(InvalidInput, match="shipping is in USD"):
        sale_entry(id="s", at=AT, order_id="o", goods=twd("100"), shipping=Money("5", "USD"))
    with pytest.raises(InvalidInput, match="zero or more"):
        sale_entry(id="s", at=AT, order_id="o", goods=twd("100"), tax=twd("-1"))
    with pytest.raises(InvalidInput, match="less than the amount"):
        cod_remittance_entry(
            id="r", at=AT, order_id="o", payment_id="p", amount=twd("30"), fee=twd("30")
        )


def test_a_redelivered_payment_event_posts_once() -> None:
    payment = Payment.create(id="p-7", order_id="o-7", method="e_wallet", amount=twd("300"), at=AT)
    captured = payment.capture_succeeded(capture_id="c", amount=twd("300"), at=AT)
    assert captured is not None
    entry = payment_event_entry(captured, method="e_wallet")
    assert entry is not None
    assert entry.id == "p-7/capture/c"
    ledger = Ledger.open().post(entry)
    again = payment_event_entry(captured, method="e_wallet")
    assert again is not None
    assert ledger.post(again) is ledger
    created = Payment.create(id="p-8", order_id="o-8", method="card", amount=twd("1"), at=AT)
    assert payment_event_entry(created.pending_events[0], method="card") is None


# --- reconciliation ----------------------------------------------------------------------


def test_reconciliation_reports_each_difference() -> None:
    payment = Payment.create(id="p-4", order_id="o-4", method="card", amount=twd("500"), at=AT)
    payment.authorize(amount=twd("500"), at=AT)
    payment.capture_succeeded(capture_id="c-1", amount=twd("500"), at=AT)
    payment.request_refund(refund_id="r-1", amount=twd("100"), at=AT)
    payment.refund_succeeded(refund_id="r-1", at=AT)
    # The ledger heard of the capture only, and of a capture of a payment nobody listed.
    ledger = Ledger.open().post_all(
        [
            capture_entry(
                id="c", at=AT, order_id="o-4", payment_id="p-4", method="card", amount=twd("500")
            ),
            capture_entry(
                id="x", at=AT, order_id="o-x", payment_id="p-x", method="card", amount=twd("20")
            ),
        ]
    )
    assert reconcile(ledger, {"p-4": payment.totals}) == (
        Difference(payment_id="p-4", figure="refunded", payments=twd("100"), ledger=twd("0")),
        Difference(payment_id="p-x", figure="captured", payments=twd("0"), ledger=twd("20")),
    )
    fixed = ledger.post(
        refund_entry(
            id="r", at=AT, order_id="o-4", payment_id="p-4", method="card", amount=twd("100")
        )
    ).reverse("x", id="x/rev", at=AT)
    assert reconcile(fixed, {"p-4": payment.totals}) == ()
    (gap,) = reconcile(ledger, {"p-4": payment.totals, "p-x": payment.totals})[:1]
    assert gap.gap == twd("-100")  # the ledger holds 100 less refunded than the payment


def test_a_trial_balance_keeps_currencies_apart() -> None:
    usd = Money("12.50", "USD")
    ledger = Ledger.open().post_all(
        [
            sale_entry(id="t", at=AT, order_id="o-t", goods=twd("300")),
            sale_entry(id="u", at=AT, order_id="o-u", goods=usd),
        ]
    )
    trial = ledger.trial_balance()
    assert trial.currencies == ("TWD", "USD")
    assert trial.totals("USD") == (usd, usd)
    assert trial.balance(SALES_REVENUE, "TWD") == twd("300")
    assert ledger.balance(CUSTOMER_RECEIVABLE, "USD") == usd
