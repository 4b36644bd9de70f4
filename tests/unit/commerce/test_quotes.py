"""B2B sales quotes, price lists, payment terms and receivables.

Figures used throughout (TW preset: prices include 5% tax; store channel, so no shipping):
paper lists at 150 and toner at 2400. The "wholesale" group gets 10% off everything
(paper 150 × 0.9 = 135, toner 2400 × 0.9 = 2160); Acme's own list sets toner at 2100.
So Acme, in the wholesale group, pays 135 for paper (its own list says nothing of paper)
and 2100 for toner (its own list first): 10 × 135 + 2 × 2100 = 1350 + 4200 = 5550.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from fourflows import (
    CurrencyMismatch,
    GuardRejected,
    IdempotencyConflict,
    InvalidInput,
    InvalidTransition,
    Money,
)
from fourflows.cash.invoices import InvalidBusinessNumber, Party, invoice_order
from fourflows.commerce.cart import Channel, Customer
from fourflows.commerce.catalog import Catalog, Product
from fourflows.commerce.order import Order
from fourflows.commerce.quotes import (
    SALES_QUOTE_MACHINE,
    Buyer,
    PaymentTerms,
    PriceList,
    QuoteExpired,
    QuotePricing,
    Receivable,
    ReceivableStatus,
    SalesQuote,
    SalesQuoteAccepted,
    SalesQuoteConverted,
    SalesQuoteDrafted,
    SalesQuoteExpired,
    SalesQuoteRejected,
    SalesQuoteRevised,
    SalesQuoteSent,
    contract_catalog,
    contract_price,
    overdue,
)
from fourflows.money import Precision
from fourflows.tax import TaxTable


def twd(amount: str) -> Money:
    return Money(amount, "TWD")


AT = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # 12:00 in Taipei
EXPIRES = AT + timedelta(days=14)
PAPER = Product(sku="PAPER", name="A4 paper, 500 sheets", price=twd("150"))
TONER = Product(sku="TONER", name="Toner cartridge", price=twd("2400"))
CATALOG = Catalog([PAPER, TONER])
ACME_LIST = PriceList(id="acme", customer_id="acme", prices={"TONER": twd("2100")})
WHOLESALE = PriceList(id="wholesale", group="wholesale", percent_off="10")
LISTS = (ACME_LIST, WHOLESALE)
ACME = Buyer(id="acme", company="Acme Ltd", country="TW", tax_id="04595257", groups={"wholesale"})
PRICING = QuotePricing(
    catalog=CATALOG, tax=TaxTable.preset("TW"), price_lists=LISTS, channel=Channel.STORE
)
ITEMS = {"PAPER": 10, "TONER": 2}


def drafted(**changes: object) -> SalesQuote:
    options: dict[str, object] = {
        "id": "q-1",
        "buyer": ACME,
        "items": ITEMS,
        "pricing": PRICING,
        "expires_at": EXPIRES,
        "terms": PaymentTerms.net(30),
        "at": AT,
    }
    options.update(changes)
    return SalesQuote.draft(**options)  # type: ignore[arg-type]


def sent() -> SalesQuote:
    quote = drafted()
    quote.send(at=AT + timedelta(hours=1))
    return quote


# --- price lists -------------------------------------------------------------------------


def test_the_customer_list_comes_before_the_group_list_before_the_list_price() -> None:
    acme = ACME.customer
    toner = contract_price(TONER, acme, LISTS)
    paper = contract_price(PAPER, acme, LISTS)
    stranger = contract_price(TONER, Customer(id="walk-in"), LISTS)
    member = contract_price(TONER, Customer(id="beta", groups={"wholesale"}), LISTS)
    assert (toner.price, toner.price_list) == (twd("2100"), "acme")  # own list: 2100
    assert (paper.price, paper.price_list) == (twd("135.00"), "wholesale")  # 150 - 15
    assert (member.price, member.price_list) == (twd("2160.00"), "wholesale")  # 2400 - 240
    assert (stranger.price, stranger.price_list) == (twd("2400"), None)  # no list applies


def test_a_customer_list_with_a_percentage_covers_every_product() -> None:
    own = PriceList(id="acme", customer_id="acme", percent_off="5")
    # 5% off beats nothing: it is the customer's own list, even though 10% is lower.
    assert contract_price(PAPER, ACME.customer, [own, WHOLESALE]).price == twd("142.50")


def test_among_group_lists_the_lowest_price_wins() -> None:
    vip = PriceList(id="vip", group="vip", prices={"PAPER": twd("120")})
    both = Customer(id="beta", groups={"wholesale", "vip"})
    assert contract_price(PAPER, both, [WHOLESALE, vip]).price == twd("120")  # 120 < 135
    assert contract_price(TONER, both, [WHOLESALE, vip]).price == twd("2160.00")  # vip is silent


def test_a_percentage_is_rounded_half_up_to_the_list_precision() -> None:
    odd = Product(sku="PEN", name="Pen", price=twd("25"))
    whole = PriceList(id="w", group="wholesale", percent_off="10", precision=Precision.of(0))
    cents = PriceList(id="c", group="wholesale", percent_off="10")
    member = Customer(id="beta", groups={"wholesale"})
    assert contract_price(odd, member, [whole]).price == twd("23")  # 22.5 rounds up to 23
    assert contract_price(odd, member, [cents]).price == twd("22.50")


def test_the_contract_catalog_replaces_list_prices_and_keeps_the_rest() -> None:
    priced = contract_catalog(CATALOG, ACME.customer, LISTS)
    assert [p.price for p in priced] == [twd("135.00"), twd("2100")]
    assert priced["TONER"].name == TONER.name
    assert contract_catalog(CATALOG, Customer(id="walk-in"), LISTS)["TONER"] == TONER


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"id": "x", "customer_id": "a", "group": "g", "percent_off": "5"}, "exactly one"),
        ({"id": "x", "customer_id": "a"}, "no prices and no percent_off"),
        ({"id": "x", "group": "g", "percent_off": "100"}, "below 100"),
        ({"id": "x", "group": "g", "percent_off": 0.5}, "float"),
        ({"id": "x", "group": "g", "prices": {"PAPER": twd("-1")}}, "0 or more"),
    ],
)
def test_a_bad_price_list_is_refused(options: dict[str, object], words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        PriceList(**options)  # type: ignore[arg-type]


def test_two_lists_for_one_group_and_a_price_in_another_currency_are_refused() -> None:
    with pytest.raises(InvalidInput, match="two price lists"):
        contract_price(
            PAPER,
            ACME.customer,
            [WHOLESALE, PriceList(id="w2", group="wholesale", percent_off="1")],
        )
    dollars = PriceList(id="usd", customer_id="acme", prices={"PAPER": Money("5", "USD")})
    with pytest.raises(CurrencyMismatch):
        contract_price(PAPER, ACME.customer, [dollars])


# --- the buyer ---------------------------------------------------------------------------


def test_a_bad_taiwanese_business_number_is_refused() -> None:
    # 0·1 4·2 5·1 9·2 5·1 2·2 5·4 8·1 → 0+8+5+(1+8)+5+4+(2+0)+8 = 41: not divisible by 5.
    with pytest.raises(InvalidBusinessNumber, match="04595258"):
        Buyer(id="acme", company="Acme Ltd", country="TW", tax_id="04595258")
    with pytest.raises(InvalidInput, match="統一編號"):
        Buyer(id="acme", company="Acme Ltd", country="TW")
    foreign = Buyer(id="kk", company="Kabushiki", country="JP")
    assert foreign.tax_id is None
    assert ACME.party.tax_id == "04595257"


# --- the machine -------------------------------------------------------------------------


def test_a_draft_is_priced_at_the_contract_prices() -> None:
    quote = drafted()
    assert (quote.state, quote.version, quote.revision) == ("draft", 1, 1)
    assert [(line.sku, line.amount) for line in quote.priced.lines] == [
        ("PAPER", twd("1350.00")),  # 10 × 135
        ("TONER", twd("4200")),  # 2 × 2100
    ]
    assert quote.total == twd("5550.00")
    (event,) = quote.pending_events
    assert isinstance(event, SalesQuoteDrafted)
    assert (event.buyer_id, event.total, event.terms) == ("acme", twd("5550.00"), "net 30")


def test_sent_accepted_and_converted_gives_the_frozen_quote_to_place_the_order() -> None:
    quote = sent()
    frozen = quote.priced
    quote.accept(at=AT + timedelta(days=3), purchase_order="PO-2026-118")
    placed_at = AT + timedelta(days=3, hours=1)
    given = quote.convert(order_id="o-1", at=placed_at)
    assert given is frozen
    order = Order.place(id="o-1", quote=given, at=placed_at)
    assert order.totals.total == twd("5550.00")
    assert (quote.state, quote.order_id, quote.purchase_order) == (
        "converted",
        "o-1",
        "PO-2026-118",
    )
    kinds = [type(e) for e in quote.pending_events]
    assert kinds == [SalesQuoteDrafted, SalesQuoteSent, SalesQuoteAccepted, SalesQuoteConverted]
    assert [e.sequence for e in quote.pending_events] == [1, 2, 3, 4]
    assert quote.is_final


def test_accepting_after_the_quote_lapsed_raises_quote_expired_and_changes_nothing() -> None:
    quote = sent()
    before = (quote.state, quote.version, quote.purchase_order)
    with pytest.raises(QuoteExpired, match="expired at 2026-12-04") as caught:
        quote.accept(at=EXPIRES, purchase_order="PO-late")  # at the moment it lapses: too late
    assert caught.value.expires_at == EXPIRES
    assert isinstance(caught.value, GuardRejected)
    assert (quote.state, quote.version, quote.purchase_order) == before
    quote.accept(at=EXPIRES - timedelta(seconds=1))  # a second earlier: accepted
    assert quote.state == "accepted"


def test_a_rejected_quote_keeps_the_reason_and_needs_one() -> None:
    quote = sent()
    with pytest.raises(GuardRejected, match="reason_given"):
        quote.reject(reason=" ", at=AT + timedelta(days=1))
    assert isinstance(
        quote.reject(reason="too dear", at=AT + timedelta(days=1)), SalesQuoteRejected
    )
    assert (quote.state, quote.rejection) == ("rejected", "too dear")


def test_a_quote_expires_only_once_its_validity_ended() -> None:
    quote = sent()
    with pytest.raises(GuardRejected, match="lapsed"):
        quote.expire(at=EXPIRES - timedelta(minutes=1))
    assert isinstance(quote.expire(at=EXPIRES), SalesQuoteExpired)
    assert quote.state == "expired"
    unsent = drafted(id="q-2")
    unsent.expire(at=EXPIRES + timedelta(days=1))
    assert unsent.state == "expired"


def test_a_lapsed_draft_cannot_be_sent() -> None:
    quote = drafted()
    with pytest.raises(QuoteExpired):
        quote.send(at=EXPIRES + timedelta(hours=1))
    assert quote.state == "draft"


def test_revising_a_sent_quote_prices_it_again_and_it_must_be_sent_again() -> None:
    quote = sent()
    cheaper = QuotePricing(
        catalog=CATALOG,
        tax=TaxTable.preset("TW"),
        price_lists=(PriceList(id="acme", customer_id="acme", prices={"TONER": twd("2000")}),),
        channel=Channel.STORE,
    )
    event = quote.revise(pricing=cheaper, items={"TONER": 3}, at=AT + timedelta(days=1))
    assert isinstance(event, SalesQuoteRevised)
    assert (quote.state, quote.revision, event.revision) == ("draft", 2, 2)
    assert quote.total == twd("6000")  # 3 × 2000
    with pytest.raises(InvalidTransition, match="'accept'"):
        quote.accept(at=AT + timedelta(days=2))
    quote.send(at=AT + timedelta(days=2))
    assert quote.sent_revision == 2


@pytest.mark.parametrize(
    ("move", "state"),
    [
        (lambda q: q.accept(at=AT), "draft"),
        (lambda q: q.convert(order_id="o-1", at=AT), "draft"),
        (lambda q: q.reject(reason="no", at=AT), "draft"),
    ],
)
def test_moves_not_declared_from_draft_are_refused(move, state) -> None:  # type: ignore[no-untyped-def]
    quote = drafted()
    with pytest.raises(InvalidTransition, match="allowed from 'draft': 'expire', 'revise', 'send'"):
        move(quote)
    assert (quote.state, quote.version) == (state, 1)


def test_nothing_happens_after_a_final_state() -> None:
    quote = sent()
    quote.reject(reason="bought elsewhere", at=AT + timedelta(days=1))
    moves: tuple[Callable[[], object], ...] = (
        lambda: quote.accept(at=AT + timedelta(days=2)),
        lambda: quote.send(at=AT + timedelta(days=2)),
        lambda: quote.revise(pricing=PRICING, at=AT + timedelta(days=2)),
    )
    for move in moves:
        with pytest.raises(InvalidTransition, match="none, it is a final state"):
            move()
    assert quote.version == 3


def test_converting_needs_an_order_id_and_an_accepted_quote() -> None:
    quote = sent()
    with pytest.raises(InvalidTransition):
        quote.convert(order_id="o-1", at=AT + timedelta(days=1))
    quote.accept(at=AT + timedelta(days=1))
    with pytest.raises(GuardRejected, match="order_given"):
        quote.convert(order_id="", at=AT + timedelta(days=1))
    assert quote.state == "accepted"


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"expires_at": AT}, "must expire after"),
        ({"expires_at": datetime(2026, 12, 1)}, "timezone-aware"),
        ({"items": {}}, "at least one"),
        ({"items": {"PAPER": 0}}, "at least 1"),
        ({"items": {"INK": 1}}, "unknown sku 'INK'"),
        ({"terms": "net 30"}, "PaymentTerms"),
    ],
)
def test_a_bad_draft_is_refused(changes: dict[str, object], words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        drafted(**changes)


def test_the_machine_is_registered_with_its_final_states() -> None:
    spec = SALES_QUOTE_MACHINE.spec
    assert spec.name == "sales_quote"
    assert set(spec.final) == {"rejected", "expired", "converted"}
    assert SALES_QUOTE_MACHINE.allowed_events("accepted") == ("convert",)


# --- payment terms -----------------------------------------------------------------------


def test_net_30_counts_calendar_days_across_a_month_end() -> None:
    # 31 January 2027 + 30 days: 28 days of February (2027 is no leap year), then 2 March.
    assert PaymentTerms.net(30).due_date(date(2027, 1, 31)) == date(2027, 3, 2)
    # 20 November + 30: 10 days left in November, then 20 December.
    assert PaymentTerms.net(30).due_date(date(2026, 11, 20)) == date(2026, 12, 20)
    assert PaymentTerms.net(60).due_date(date(2026, 11, 20)) == date(2027, 1, 19)


def test_other_terms_and_their_labels() -> None:
    assert PaymentTerms.due_on_receipt().due_date(date(2026, 11, 20)) == date(2026, 11, 20)
    # 月結30天: the end of November, then 30 days.
    assert PaymentTerms.end_of_month(30).due_date(date(2026, 11, 5)) == date(2026, 12, 30)
    assert PaymentTerms.end_of_month().due_date(date(2028, 2, 3)) == date(2028, 2, 29)  # leap
    labels = [t.label for t in (PaymentTerms.net(30), PaymentTerms.end_of_month(30))]
    assert labels == ["net 30", "end of month + 30"]
    with pytest.raises(InvalidInput, match="at least 1 day"):
        PaymentTerms.net(0)
    with pytest.raises(InvalidInput, match="from 0 to 366"):
        PaymentTerms.net(-5)


# --- receivables -------------------------------------------------------------------------


def receivable(order_id: str = "o-1", issued_on: date = date(2026, 12, 1)) -> Receivable:
    return Receivable(
        order_id=order_id,
        amount=twd("5550"),
        terms=PaymentTerms.net(30),
        issued_on=issued_on,
        timezone="Asia/Taipei",
    )


def test_an_invoice_becomes_a_receivable_dated_in_the_shop_timezone() -> None:
    quote = sent()
    quote.accept(at=AT + timedelta(days=1), purchase_order="PO-9")
    order = Order.place(id="o-1", quote=quote.convert(order_id="o-1", at=AT), at=AT)
    invoice = invoice_order(
        order,
        number="AB12345678",
        at=datetime(2026, 11, 30, 18, 0, tzinfo=UTC),  # 1 December 02:00 in Taipei
        seller=Party(name="Paper Shop", country="TW", tax_id="04595257"),
        buyer=ACME.party,
        purchase_order=quote.purchase_order,
    )
    owed = Receivable.for_invoice(invoice, quote.terms, timezone="Asia/Taipei")
    assert (owed.issued_on, owed.due_on) == (date(2026, 12, 1), date(2026, 12, 31))
    assert (owed.amount, owed.purchase_order, owed.invoice_number) == (
        twd("5550.00"),
        "PO-9",
        "AB12345678",
    )


def test_overdue_starts_the_day_after_the_due_date_in_the_shop_timezone() -> None:
    owed = receivable()  # due 31 December
    last_minute = datetime(2026, 12, 31, 15, 59, tzinfo=UTC)  # 23:59 on the 31st in Taipei
    next_day = datetime(2026, 12, 31, 16, 0, tzinfo=UTC)  # 00:00 on 1 January in Taipei
    assert not owed.is_overdue(last_minute)
    assert owed.is_overdue(next_day)
    assert owed.days_overdue(next_day + timedelta(days=4)) == 5  # 5 January
    assert owed.status(last_minute) is ReceivableStatus.OPEN


def test_a_partial_then_late_payment_settles_the_receivable() -> None:
    owed = receivable()
    part = owed.pay(amount=twd("3000"), at=datetime(2026, 12, 20, 2, tzinfo=UTC), reference="TX-1")
    assert owed.paid() == twd("0")  # a value: the original is unchanged
    assert part.outstanding() == twd("2550")  # 5550 - 3000
    assert part.status(datetime(2026, 12, 21, tzinfo=UTC)) is ReceivableStatus.PARTLY_PAID
    january = datetime(2027, 1, 10, tzinfo=UTC)
    assert part.status(january) is ReceivableStatus.OVERDUE
    settled = part.pay(
        amount=twd("2550"), at=datetime(2027, 1, 12, 3, tzinfo=UTC), reference="TX-2"
    )
    assert settled.is_settled
    assert settled.paid_late
    assert settled.settled_on == date(2027, 1, 12)
    assert settled.status(january) is ReceivableStatus.OVERDUE  # as it stood on 10 January
    assert settled.status(datetime(2027, 1, 13, tzinfo=UTC)) is ReceivableStatus.PAID
    assert not settled.is_overdue(datetime(2027, 2, 1, tzinfo=UTC))


def test_a_repeated_transfer_counts_once_and_overpaying_is_refused() -> None:
    at = datetime(2026, 12, 20, 2, tzinfo=UTC)
    once = receivable().pay(amount=twd("1000"), at=at, reference="TX-1")
    assert once.pay(amount=twd("1000"), at=at, reference="TX-1") is once
    with pytest.raises(IdempotencyConflict, match="TX-1"):
        once.pay(amount=twd("900"), at=at, reference="TX-1")
    with pytest.raises(InvalidInput, match=r"only 4550.* is owed"):
        once.pay(amount=twd("4551"), at=at, reference="TX-2")
    with pytest.raises(CurrencyMismatch):
        once.pay(amount=Money("10", "USD"), at=at, reference="TX-3")
    with pytest.raises(InvalidInput, match="before the invoice date"):
        once.pay(amount=twd("10"), at=datetime(2026, 11, 1, tzinfo=UTC), reference="TX-4")
    with pytest.raises(InvalidInput, match="timezone"):
        Receivable(
            order_id="o",
            amount=twd("1"),
            terms=PaymentTerms.net(30),
            issued_on=date(2026, 1, 1),
            timezone="Mars/Olympus",
        )


def test_overdue_lists_the_overdue_receivables_longest_overdue_first() -> None:
    at = datetime(2027, 1, 20, tzinfo=UTC)
    paid = receivable("o-paid", date(2026, 11, 1)).pay(
        amount=twd("5550"), at=datetime(2026, 11, 20, tzinfo=UTC), reference="TX-9"
    )
    recent = receivable("o-recent", date(2027, 1, 5))  # due 4 February: not yet
    late = receivable("o-late", date(2026, 12, 1))  # due 31 December
    later = receivable("o-later", date(2026, 11, 15))  # due 15 December
    found = overdue([paid, recent, late, later], at)
    assert [r.order_id for r in found] == ["o-later", "o-late"]
    assert overdue([], at) == []
    with pytest.raises(InvalidInput, match="Receivable"):
        overdue([Decimal(1)], at)  # type: ignore[list-item]


def test_a_naive_time_or_a_bad_pricing_is_refused_and_changes_nothing() -> None:
    quote = sent()
    with pytest.raises(InvalidInput, match="timezone-aware"):
        quote.accept(at=datetime(2026, 11, 21, 12, 0))
    assert (quote.state, quote.version) == ("sent", 2)
    with pytest.raises(InvalidInput, match=r"TaxTable\.preset"):
        QuotePricing(catalog=CATALOG, tax="TW")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="ship_to must be Address"):
        QuotePricing(catalog=CATALOG, tax=TaxTable.preset("TW"), ship_to="Taipei")  # type: ignore[arg-type]
