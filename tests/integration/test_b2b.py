"""B2B through the shop: a quote accepted, an order on account, invoiced, paid late by transfer.

Figures (see b2b_fixtures): the accepted quote is 5000 TWD with tax: goods
4 × 135 + 2 × 2100 = 4740, shipping 260, 238 of tax inside. Net 30 terms.
The invoice is issued at 18:00 UTC on 30 November, which is 02:00 on
1 December in Taipei: it is dated 1 December and due 30 days later, on
31 December.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from b2b_fixtures import (
    ACME,
    DRAFTED,
    ITEMS,
    TAIPEI,
    accepted_quote,
    make_b2b_shop,
    order_on_account,
    twd,
)
from fourflows.adapters.fakes import FixedClock
from fourflows.app.accounting import reconcile_shop, sale_id
from fourflows.app.b2b import (
    AcceptSalesQuote,
    DraftSalesQuote,
    ExpireSalesQuote,
    InvoiceOnAccount,
    OverdueAccounts,
    PlaceQuotedOrder,
    QuoteResult,
    RecordTransfer,
    RejectSalesQuote,
    ReviseSalesQuote,
    SendSalesQuote,
    invoice_of,
    parse_terms,
    receivable_of,
)
from fourflows.app.checkout import CancelOrder
from fourflows.app.shop import Shop
from fourflows.cash.ledger import CASH, CUSTOMER_RECEIVABLE
from fourflows.commerce.order import Order, PaymentPlan, PaymentStatus
from fourflows.commerce.quotes import (
    PaymentTerms,
    QuoteExpired,
    Receivable,
    ReceivableStatus,
    SalesQuote,
)
from fourflows.errors import (
    CurrencyMismatch,
    IdempotencyConflict,
    InsufficientStock,
    InvalidInput,
    InvalidTransition,
    NotFound,
)
from fourflows.money import Money

INVOICED = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)  # 1 December, 02:00 in Taipei
ON_TIME = datetime(2026, 12, 28, 3, 0, tzinfo=UTC)
JANUARY_8 = datetime(2027, 1, 8, 2, 0, tzinfo=UTC)
SETTLED = datetime(2027, 1, 12, 3, 0, tzinfo=UTC)


def invoiced(shop: Shop, clock: FixedClock) -> str:
    """An order on account, invoiced on 1 December (Taipei); its id."""
    placed = order_on_account(shop, clock)
    clock.set(INVOICED)
    shop.handle(InvoiceOnAccount(idempotency_key="invoice", order_id=placed.order_id))
    return placed.order_id


def transfer(shop: Shop, order_id: str, reference: str, amount: int, at: datetime) -> Receivable:
    result = shop.handle(
        RecordTransfer(
            order_id=order_id, bank_reference=reference, amount=twd(amount), received_at=at
        )
    )
    assert isinstance(result, Receivable)
    return result


def receivable(shop: Shop, order_id: str) -> Receivable:
    with shop.store.unit_of_work() as uow:
        found = receivable_of(uow, order_id)
    assert found is not None
    return found


def sales_quote(shop: Shop, quote_id: str = "Q-1") -> SalesQuote:
    with shop.store.unit_of_work() as uow:
        return uow.repository(SalesQuote).get(quote_id)


def overdue_at(shop: Shop, at: datetime) -> tuple[Receivable, ...]:
    found = shop.handle(OverdueAccounts(at=at))
    assert isinstance(found, tuple)
    return found


def books(shop: Shop) -> tuple[object, ...]:
    """Everything a refused command must leave as it was."""
    return (
        shop.ledger().entries,
        tuple(p.totals for p in shop.payments_of("order-0001")),
        receivable(shop, "order-0001"),
    )


class TestTheSaleOnAccount:
    def test_the_accepted_quote_becomes_an_approved_order_on_account(self) -> None:
        shop, clock = make_b2b_shop()
        placed = order_on_account(shop, clock)
        assert (placed.order_state, placed.payment_state, placed.outcome) == (
            "awaiting_fulfilment",
            "pending",
            "approved",
        )
        order = shop.order(placed.order_id)
        assert order.payment_plan is PaymentPlan.ON_ACCOUNT
        assert order.purchase_order == "PO-7781"
        assert order.customer_id == "acme"
        assert order.totals.total == twd(5000)  # the accepted prices: 4740 + 260
        (payment,) = shop.payments_of(order.id)
        assert (payment.method.value, payment.amount, payment.state) == (
            "bank_transfer",
            twd(5000),
            "pending",
        )
        quote = sales_quote(shop)
        assert (quote.state, quote.order_id) == ("converted", order.id)
        assert shop.payment_status(order.id) is PaymentStatus.UNPAID

    def test_the_sale_is_posted_to_the_receivable_when_the_order_is_approved(self) -> None:
        shop, clock = make_b2b_shop()
        placed = order_on_account(shop, clock)
        sale = shop.ledger().entry(sale_id(placed.order_id))
        # 5000 owed: 238 of tax, 260 of shipping of which 12 is tax (260 × 5/105 = 12.38 → 12),
        # so 248 of shipping revenue, and 5000 − 238 − 248 = 4514 of sales revenue
        assert [(line.account, line.side.value, line.amount) for line in sale.lines] == [
            ("customer_receivable", "debit", twd(5000)),
            ("sales_revenue", "credit", twd(4514)),
            ("shipping_revenue", "credit", twd(248)),
            ("tax_payable", "credit", twd(238)),
        ]

    def test_the_invoice_carries_the_purchase_order_and_the_buyers_tax_id(self) -> None:
        shop, clock = make_b2b_shop()
        order_id = invoiced(shop, clock)
        with shop.store.unit_of_work() as uow:
            invoice = invoice_of(uow, order_id)
        assert invoice is not None
        assert invoice.number == "AB12345000"  # the first of the range allocated for Nov/Dec
        assert invoice.purchase_order == "PO-7781"
        assert invoice.buyer is not None
        assert invoice.buyer.tax_id == ACME.tax_id
        assert invoice.gross == twd(5000)
        owed = receivable(shop, order_id)
        assert (owed.invoice_number, owed.purchase_order) == ("AB12345000", "PO-7781")
        assert (owed.amount, owed.issued_on, owed.due_on) == (
            twd(5000),
            date(2026, 12, 1),  # 18:00 UTC on 30 November is 1 December in Taipei
            date(2026, 12, 31),  # net 30: 1 December + 30 days
        )

    def test_paid_late_in_two_transfers_it_is_overdue_then_settled(self) -> None:
        shop, clock = make_b2b_shop()
        order_id = invoiced(shop, clock)
        assert overdue_at(shop, ON_TIME) == ()

        owed = transfer(shop, order_id, "TX-88120", 3000, ON_TIME)  # on time, in part
        assert owed.status(ON_TIME) is ReceivableStatus.PARTLY_PAID
        assert shop.payment_status(order_id) is PaymentStatus.PARTIALLY_PAID
        assert overdue_at(shop, datetime(2026, 12, 31, 15, 59, tzinfo=UTC)) == ()  # 23:59 Taipei

        # 8 January: 5000 − 3000 = 2000 still owed, 8 days after 31 December
        (late,) = overdue_at(shop, JANUARY_8)
        assert late.order_id == order_id
        assert late.outstanding(JANUARY_8) == twd(2000)
        assert late.days_overdue(JANUARY_8) == 8

        owed = transfer(shop, order_id, "TX-90211", 2000, SETTLED)
        assert owed.is_settled
        assert owed.settled_on == date(2027, 1, 12)
        assert owed.paid_late
        assert overdue_at(shop, SETTLED) == ()
        assert overdue_at(shop, JANUARY_8) == (owed,)  # as things stood then
        assert shop.payment_status(order_id) is PaymentStatus.PAID
        assert shop.order(order_id).state == "awaiting_fulfilment"  # approved at placement
        (payment,) = shop.payments_of(order_id)
        assert payment.totals.captured == twd(5000)

    def test_the_ledger_balances_and_reconciles_once_the_transfers_are_in(self) -> None:
        shop, clock = make_b2b_shop()
        order_id = invoiced(shop, clock)
        transfer(shop, order_id, "TX-88120", 3000, ON_TIME)
        ledger = shop.ledger()
        assert ledger.balance(CUSTOMER_RECEIVABLE, "TWD") == twd(2000)  # 5000 − 3000
        transfer(shop, order_id, "TX-90211", 2000, SETTLED)
        ledger = shop.ledger()
        payment_id = shop.payments_of(order_id)[0].id
        capture = ledger.entry(f"{payment_id}/capture/transfer:TX-90211")
        assert [(line.account, line.side.value, line.amount) for line in capture.lines] == [
            ("cash", "debit", twd(2000)),
            ("customer_receivable", "credit", twd(2000)),
        ]
        assert ledger.balance(CUSTOMER_RECEIVABLE, "TWD", order_id=order_id) == twd(0)
        assert ledger.balance(CASH, "TWD") == twd(5000)  # 3000 + 2000
        assert shop.trial_balance().is_balanced
        assert shop.reconcile() == ()
        with shop.store.unit_of_work() as uow:
            assert reconcile_shop(uow) == ()


class TestIdempotency:
    def test_a_transfer_reported_twice_is_recorded_once(self) -> None:
        shop, clock = make_b2b_shop()
        order_id = invoiced(shop, clock)
        first = transfer(shop, order_id, "TX-88120", 3000, ON_TIME)
        again = transfer(shop, order_id, "TX-88120", 3000, ON_TIME)
        assert again == first
        assert receivable(shop, order_id).paid() == twd(3000)
        assert shop.payments_of(order_id)[0].totals.captured == twd(3000)
        assert shop.ledger().balance(CASH, "TWD") == twd(3000)

    def test_a_repeated_bank_reference_with_another_amount_is_refused(self) -> None:
        shop, clock = make_b2b_shop()
        order_id = invoiced(shop, clock)
        transfer(shop, order_id, "TX-88120", 3000, ON_TIME)
        before = books(shop)
        with pytest.raises(IdempotencyConflict, match="TX-88120"):
            transfer(shop, order_id, "TX-88120", 2000, ON_TIME)
        assert books(shop) == before

    def test_repeated_quote_commands_return_the_first_result(self) -> None:
        shop, clock = make_b2b_shop()
        accepted_quote(shop, clock)
        again = shop.handle(
            AcceptSalesQuote(idempotency_key="Q-1:accept", quote_id="Q-1", purchase_order="PO-7781")
        )
        assert isinstance(again, QuoteResult)
        assert (again.state, again.purchase_order) == ("accepted", "PO-7781")
        with pytest.raises(IdempotencyConflict):
            shop.handle(
                AcceptSalesQuote(idempotency_key="Q-1:accept", quote_id="Q-1", purchase_order="X")
            )
        first = shop.handle(PlaceQuotedOrder(idempotency_key="place", quote_id="Q-1"))
        assert shop.handle(PlaceQuotedOrder(idempotency_key="place", quote_id="Q-1")) == first
        with shop.store.unit_of_work() as uow:
            assert uow.repository(Order).find(first.order_id) is not None
            assert uow.repository(Order).find("order-0002") is None  # placed once


class TestBadInput:
    def test_accepting_an_expired_quote_is_refused_and_changes_nothing(self) -> None:
        shop, clock = make_b2b_shop()
        shop.handle(
            DraftSalesQuote(
                idempotency_key="draft",
                quote_id="Q-1",
                buyer_id="acme",
                items=ITEMS,
                expires_at=DRAFTED + timedelta(days=14),
                ship_to=TAIPEI,
                service="home",
            )
        )
        shop.handle(SendSalesQuote(idempotency_key="send", quote_id="Q-1"))
        clock.set(DRAFTED + timedelta(days=14))  # the very moment it lapses
        with pytest.raises(QuoteExpired):
            shop.handle(AcceptSalesQuote(idempotency_key="accept", quote_id="Q-1"))
        assert sales_quote(shop).state == "sent"
        expired = shop.handle(ExpireSalesQuote(idempotency_key="expire", quote_id="Q-1"))
        assert expired.state == "expired"
        with pytest.raises(InvalidInput, match="is expired"):
            shop.handle(PlaceQuotedOrder(idempotency_key="place", quote_id="Q-1"))

    @pytest.mark.parametrize("stage", ["draft", "sent", "rejected"])
    def test_placing_from_a_quote_not_accepted_is_refused(self, stage: str) -> None:
        shop, _ = make_b2b_shop()
        shop.handle(
            DraftSalesQuote(
                idempotency_key="draft",
                quote_id="Q-1",
                buyer_id="acme",
                items=ITEMS,
                expires_at=DRAFTED + timedelta(days=14),
                ship_to=TAIPEI,
                service="home",
            )
        )
        if stage != "draft":
            shop.handle(SendSalesQuote(idempotency_key="send", quote_id="Q-1"))
        if stage == "rejected":
            shop.handle(RejectSalesQuote(idempotency_key="no", quote_id="Q-1", reason="too dear"))
        with pytest.raises(InvalidInput, match=f"is {stage}: only an accepted quote"):
            shop.handle(PlaceQuotedOrder(idempotency_key="place", quote_id="Q-1"))
        assert sales_quote(shop).state == stage
        with shop.store.unit_of_work() as uow:
            assert uow.repository(Order).find("order-0001") is None
        assert shop.ledger().entries == ()

    def test_a_quote_becomes_one_order_only(self) -> None:
        shop, clock = make_b2b_shop()
        order_on_account(shop, clock)
        with pytest.raises(InvalidInput, match="is converted"):
            shop.handle(PlaceQuotedOrder(idempotency_key="again", quote_id="Q-1"))

    def test_a_failure_while_placing_converts_nothing(self) -> None:
        class NoStock:
            def hold(self, order: Order, at: datetime) -> None:
                raise InsufficientStock("TONER", requested=2, available=0)

            def free(self, order_id: str, reason: str, at: datetime) -> None:
                raise AssertionError("nothing was held")

        shop, clock = make_b2b_shop(stock=NoStock())
        accepted_quote(shop, clock)
        with pytest.raises(InsufficientStock):
            shop.handle(PlaceQuotedOrder(idempotency_key="place", quote_id="Q-1"))
        quote = sales_quote(shop)
        assert (quote.state, quote.order_id) == ("accepted", None)
        with shop.store.unit_of_work() as uow:
            assert uow.repository(Order).find("order-0001") is None

    def test_a_transfer_above_what_is_owed_is_refused(self) -> None:
        shop, clock = make_b2b_shop()
        order_id = invoiced(shop, clock)
        transfer(shop, order_id, "TX-88120", 3000, ON_TIME)
        before = books(shop)
        with pytest.raises(InvalidInput, match=r"only 2000\.00 TWD is owed"):
            transfer(shop, order_id, "TX-90211", 2001, SETTLED)  # 5000 − 3000 = 2000 left
        assert books(shop) == before
        # the reference was not used up: the right amount goes through under it
        assert transfer(shop, order_id, "TX-90211", 2000, SETTLED).is_settled

    def test_a_transfer_in_another_currency_is_refused(self) -> None:
        shop, clock = make_b2b_shop()
        order_id = invoiced(shop, clock)
        with pytest.raises(CurrencyMismatch):
            shop.handle(
                RecordTransfer(order_id=order_id, bank_reference="TX-1", amount=Money("100", "USD"))
            )

    def test_a_transfer_before_the_invoice_is_refused(self) -> None:
        shop, clock = make_b2b_shop()
        placed = order_on_account(shop, clock)
        with pytest.raises(InvalidInput, match="has not been invoiced"):
            transfer(shop, placed.order_id, "TX-1", 100, ON_TIME)
        assert shop.payments_of(placed.order_id)[0].state == "pending"

    def test_an_order_is_invoiced_on_account_once(self) -> None:
        shop, clock = make_b2b_shop()
        order_id = invoiced(shop, clock)
        with pytest.raises(InvalidInput, match="invoiced already, as AB12345000"):
            shop.handle(InvoiceOnAccount(idempotency_key="invoice-2", order_id=order_id))

    def test_only_orders_from_quotes_are_on_account(self) -> None:
        shop, _ = make_b2b_shop()
        with pytest.raises(NotFound):
            shop.handle(InvoiceOnAccount(idempotency_key="invoice", order_id="order-9"))

    def test_an_unknown_buyer_is_refused(self) -> None:
        shop, _ = make_b2b_shop()
        with pytest.raises(NotFound, match="business buyer 'globex'; known: 'acme'"):
            shop.handle(
                DraftSalesQuote(
                    idempotency_key="draft",
                    quote_id="Q-1",
                    buyer_id="globex",
                    items=ITEMS,
                    expires_at=DRAFTED + timedelta(days=14),
                )
            )

    @pytest.mark.parametrize("words", ["net", "net thirty", "net 0", "30 days", "net 400"])
    def test_unknown_terms_are_refused(self, words: str) -> None:
        with pytest.raises(InvalidInput):
            parse_terms(words)


class TestQuotes:
    def test_a_revised_quote_must_be_sent_again_before_it_is_accepted(self) -> None:
        shop, _ = make_b2b_shop()
        shop.handle(
            DraftSalesQuote(
                idempotency_key="draft",
                quote_id="Q-1",
                buyer_id="acme",
                items=ITEMS,
                expires_at=DRAFTED + timedelta(days=14),
                ship_to=TAIPEI,
                service="home",
            )
        )
        shop.handle(SendSalesQuote(idempotency_key="send", quote_id="Q-1"))
        revised = shop.handle(
            ReviseSalesQuote(
                idempotency_key="revise", quote_id="Q-1", items={"TONER": 2}, terms="net 60"
            )
        )
        # 2 × 2100 = 4200 of toner; 2 × 800 g = 1.6 kg ships home in the 5 kg tier for 150: 4350
        assert (revised.state, revised.revision, revised.terms) == ("draft", 2, "net 60")
        assert revised.total == twd(4350)
        with pytest.raises(InvalidTransition):
            shop.handle(AcceptSalesQuote(idempotency_key="accept", quote_id="Q-1"))
        shop.handle(SendSalesQuote(idempotency_key="send-2", quote_id="Q-1"))
        shop.handle(AcceptSalesQuote(idempotency_key="accept-2", quote_id="Q-1"))
        placed = shop.handle(PlaceQuotedOrder(idempotency_key="place", quote_id="Q-1"))
        order = shop.order(placed.order_id)
        assert order.totals.total == twd(4350)
        assert order.purchase_order is None  # none was given
        assert order.shipping_address is not None
        assert order.shipping_address.city == "Taipei"

    def test_terms_default_to_the_buyers_and_can_be_offered_in_words(self) -> None:
        shop, _ = make_b2b_shop()
        offered = shop.handle(
            DraftSalesQuote(
                idempotency_key="draft",
                quote_id="Q-1",
                buyer_id="acme",
                items=ITEMS,
                expires_at=DRAFTED + timedelta(days=14),
                terms="end of month + 30",
                ship_to=TAIPEI,
                service="home",
            )
        )
        assert offered.terms == "end of month + 30"
        agreed = shop.handle(
            DraftSalesQuote(
                idempotency_key="draft-2",
                quote_id="Q-2",
                buyer_id="acme",
                items=ITEMS,
                expires_at=DRAFTED + timedelta(days=14),
                ship_to=TAIPEI,
                service="home",
            )
        )
        assert agreed.terms == PaymentTerms.net(30).label

    def test_a_canceled_order_on_account_undoes_its_sale(self) -> None:
        shop, clock = make_b2b_shop()
        placed = order_on_account(shop, clock)
        shop.handle(CancelOrder(idempotency_key="cancel", order_id=placed.order_id, reason="oops"))
        assert shop.order(placed.order_id).state == "canceled"
        assert shop.payments_of(placed.order_id)[0].state == "voided"
        assert shop.ledger().balance(CUSTOMER_RECEIVABLE, "TWD") == twd(0)
        assert shop.trial_balance().is_balanced
        assert shop.reconcile() == ()
