"""Orders on account: whatever transfers arrive, the receivable, payment and ledger agree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from b2b_fixtures import make_b2b_shop, order_on_account, twd
from fourflows.app.b2b import InvoiceOnAccount, OverdueAccounts, RecordTransfer, parse_terms
from fourflows.app.b2b import receivable_of as receivable_in
from fourflows.cash.ledger import CASH, CUSTOMER_RECEIVABLE
from fourflows.commerce.order import PaymentStatus
from fourflows.commerce.quotes import PaymentTerms, TermsKind
from fourflows.errors import IdempotencyConflict, InvalidInput

INVOICED = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)  # 1 December in Taipei; net 30: due 31 Dec

TERMS = st.one_of(
    st.just(PaymentTerms.due_on_receipt()),
    st.builds(PaymentTerms.net, st.integers(1, 366)),
    st.builds(PaymentTerms.end_of_month, st.integers(0, 366)),
)

# each transfer: its amount in whole dollars, how many days after the invoice it arrives,
# and which earlier reference it repeats (if any)
TRANSFERS = st.lists(
    st.tuples(st.integers(1, 6000), st.integers(0, 60), st.none() | st.integers(0, 10)),
    min_size=1,
    max_size=8,
)


@given(TERMS)
def test_terms_read_back_from_their_label(terms: PaymentTerms) -> None:
    assert parse_terms(terms.label) == terms
    assert parse_terms(terms.label.upper()) == terms


@given(st.sampled_from(list(TermsKind)), st.integers(-5, 400))
def test_terms_in_words_are_never_accepted_half_parsed(kind: TermsKind, days: int) -> None:
    words = {"net": f"net {days}", "end_of_month": f"end of month + {days}"}
    text = words.get(kind.value, "due on receipt")
    try:
        terms = parse_terms(text)
    except InvalidInput:
        assert kind is not TermsKind.DUE_ON_RECEIPT
        assert days < 0 or days > 366 or (kind is TermsKind.NET and days == 0)
    else:
        assert terms.label == text or (kind is TermsKind.END_OF_MONTH and days == 0)


@given(TRANSFERS)
def test_transfers_keep_receivable_payment_and_ledger_in_step(
    transfers: list[tuple[int, int, int | None]],
) -> None:
    shop, clock = make_b2b_shop()
    order_id = order_on_account(shop, clock).order_id
    clock.set(INVOICED)
    shop.handle(InvoiceOnAccount(idempotency_key="invoice", order_id=order_id))
    recorded: list[tuple[str, int, datetime]] = []
    owed = 5000
    for number, (amount, days, repeat) in enumerate(transfers):
        at = INVOICED + timedelta(days=days)
        if repeat is not None and recorded:
            reference, amount, at = recorded[repeat % len(recorded)]
        else:
            reference = f"TX-{number}"
        try:
            shop.handle(
                RecordTransfer(
                    order_id=order_id, bank_reference=reference, amount=twd(amount), received_at=at
                )
            )
        except (InvalidInput, IdempotencyConflict):
            assert amount > owed  # only a transfer above what is owed is refused
            continue
        if (reference, amount, at) not in recorded:
            recorded.append((reference, amount, at))
            owed -= amount
    paid = sum(amount for _, amount, _ in recorded)
    assert paid + owed == 5000
    with shop.store.unit_of_work() as uow:
        receivable = receivable_in(uow, order_id)
    assert receivable is not None
    assert receivable.paid() == twd(paid)
    (payment,) = shop.payments_of(order_id)
    assert payment.totals.captured == twd(paid)
    ledger = shop.ledger()
    assert ledger.balance(CUSTOMER_RECEIVABLE, "TWD") == twd(owed)
    assert ledger.balance(CASH, "TWD") == twd(paid)
    assert shop.trial_balance().is_balanced
    assert shop.reconcile() == ()
    status = shop.payment_status(order_id)
    assert status is (PaymentStatus.PAID if owed == 0 else PaymentStatus.PARTIALLY_PAID) or (
        paid == 0 and status is PaymentStatus.UNPAID
    )
    late = shop.handle(OverdueAccounts(at=datetime(2027, 3, 1, tzinfo=UTC)))
    assert (late == ()) is (owed == 0)
