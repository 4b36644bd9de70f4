"""A sales quote driven by random revisions, sends, answers, expiries and conversions.

After every step: only the declared moves happened (checked against a model of the
machine and its guards), each recorded exactly one event, a refused move changed
nothing, and a converted quote hands back exactly the prices that were last sent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from fourflows import FourFlowsError, Money
from fourflows.commerce.cart import Channel
from fourflows.commerce.catalog import Catalog, Product
from fourflows.commerce.pricing import Quote
from fourflows.commerce.quotes import (
    Buyer,
    PaymentTerms,
    PriceList,
    QuoteExpired,
    QuotePricing,
    SalesQuote,
)
from fourflows.tax import TaxTable

T0 = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
CATALOG = Catalog(
    [
        Product(sku="PAPER", name="A4 paper", price=Money("150", "TWD")),
        Product(sku="TONER", name="Toner", price=Money("2400", "TWD")),
    ]
)
BUYER = Buyer(id="acme", company="Acme Ltd", country="TW", tax_id="04595257")
TW = TaxTable.preset("TW")

# The machine as the issue states it: (state, event) -> state it leads to.
DECLARED = {
    ("draft", "revise"): "draft",
    ("sent", "revise"): "draft",
    ("draft", "send"): "sent",
    ("sent", "accept"): "accepted",
    ("sent", "reject"): "rejected",
    ("draft", "expire"): "expired",
    ("sent", "expire"): "expired",
    ("accepted", "convert"): "converted",
}
FINAL = {"rejected", "expired", "converted"}


def pricing(toner: int) -> QuotePricing:
    own = PriceList(id="acme", customer_id="acme", prices={"TONER": Money(toner, "TWD")})
    return QuotePricing(catalog=CATALOG, tax=TW, price_lists=(own,), channel=Channel.STORE)


def snapshot(quote: SalesQuote) -> dict[str, Any]:
    fields = {a.name: getattr(quote, a.name) for a in attrs.fields(SalesQuote) if a.init}
    return {**fields, "state": quote.state, "version": quote.version}


def prices(quote: Quote) -> list[tuple[str, Money, Money]]:
    return [(line.sku, line.list_price, line.amount) for line in quote.lines]


class QuoteLife(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.quote: SalesQuote
        self.state = "draft"
        self.frozen: list[tuple[str, Money, Money]] | None = None

    @initialize(toner=st.integers(1000, 3000), hours=st.integers(1, 96))
    def draft(self, toner: int, hours: int) -> None:
        self.quote = SalesQuote.draft(
            id="q-1",
            buyer=BUYER,
            items={"TONER": 1},
            pricing=pricing(toner),
            expires_at=T0 + timedelta(hours=hours),
            terms=PaymentTerms.net(30),
            at=T0,
        )
        (event,) = self.quote.collect_events()
        assert (event.name(), event.sequence) == ("SalesQuoteDrafted", 1)

    def attempt(self, event: str, allowed: bool, move: Callable[[], object]) -> object:
        """Make the move; check it happened exactly when the model allows it."""
        before = snapshot(self.quote)
        declared = (self.state, event) in DECLARED
        refused: FourFlowsError | None = None
        try:
            result = move()
        except FourFlowsError as error:
            refused = error
        if refused is not None:
            assert not (declared and allowed), f"{event} from {self.state} refused: {refused}"
            assert snapshot(self.quote) == before  # a refused move changes nothing
            assert self.quote.pending_events == ()
            if isinstance(refused, QuoteExpired):
                assert self.now >= self.quote.expires_at
            return None
        assert declared, f"{event} happened from {self.state}, which does not declare it"
        assert allowed, f"{event} from {self.state} passed a guard that should refuse it"
        (recorded,) = self.quote.collect_events()  # exactly one event per move
        assert recorded.sequence == self.quote.version == before["version"] + 1
        assert recorded.occurred_at == self.now
        self.state = DECLARED[(before["state"], event)]
        assert self.quote.state == self.state
        return result

    @rule(hours=st.integers(1, 36))
    def time_passes(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    @rule(toner=st.integers(1000, 3000), quantity=st.integers(1, 5), hours=st.integers(-1, 96))
    def revise(self, toner: int, quantity: int, hours: int) -> None:
        expires = self.now + timedelta(hours=hours)
        self.attempt(
            "revise",
            expires > self.now,
            lambda: self.quote.revise(
                pricing=pricing(toner), items={"TONER": quantity}, expires_at=expires, at=self.now
            ),
        )

    @rule()
    def send(self) -> None:
        if self.attempt(
            "send", self.now < self.quote.expires_at, lambda: self.quote.send(at=self.now)
        ):
            self.frozen = prices(self.quote.priced)

    @rule()
    def accept(self) -> None:
        self.attempt(
            "accept", self.now < self.quote.expires_at, lambda: self.quote.accept(at=self.now)
        )

    @rule(reason=st.sampled_from(["", "too dear", "  "]))
    def reject(self, reason: str) -> None:
        self.attempt(
            "reject", bool(reason.strip()), lambda: self.quote.reject(reason=reason, at=self.now)
        )

    @rule()
    def expire(self) -> None:
        self.attempt(
            "expire", self.now >= self.quote.expires_at, lambda: self.quote.expire(at=self.now)
        )

    @rule(order_id=st.sampled_from(["o-1", ""]))
    def convert(self, order_id: str) -> None:
        given = self.attempt(
            "convert", bool(order_id), lambda: self.quote.convert(order_id=order_id, at=self.now)
        )
        if given is not None:
            assert isinstance(given, Quote)
            assert prices(given) == self.frozen  # the prices the buyer was sent and accepted
            assert given.total == self.quote.total

    @invariant()
    def a_sent_or_later_quote_keeps_its_sent_prices(self) -> None:
        if self.state in {"sent", "accepted", "converted"}:
            assert prices(self.quote.priced) == self.frozen

    @invariant()
    def final_states_are_final(self) -> None:
        assert self.quote.is_final == (self.state in FINAL)


TestQuoteLife = QuoteLife.TestCase
