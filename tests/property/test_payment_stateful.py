"""Stateful and order-independence properties of the payment machine.

Every call below goes through `checked`, which asserts what the issue asks of
each step: a refused call changes nothing; a call that repeats what the payment
records returns ``None`` and changes nothing; a call that moves records exactly
one event, through a transition the spec declares, whose totals are the
payment's; and repeating that call at once changes nothing. `check_amounts`
asserts the bookkeeping invariants after every step.

* `PaymentPromises` drives one payment of a random method, started along a
  random typical path, through random commands and notifications (valid or
  not, repeated or not).
* `test_every_declared_move_happens_from_some_typical_state` tries a menu of
  sensible calls one step from each typical path, and requires every declared
  (state, event, destination) to happen: none of the spec is dead.
* The two ``@given`` tests deliver one consistent story of gateway
  notifications, shuffled and duplicated, and check the payment ends the same
  whatever the order.
"""

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from hypothesis import given, note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from fourflows.cash.payment import (
    PAYMENT_MACHINE,
    OperationStatus,
    Payment,
    PaymentMethod,
    PaymentTotals,
)
from fourflows.errors import FourFlowsError, GuardRejected, InvalidTransition, NotFound
from fourflows.events import DomainEvent
from fourflows.money import Money

START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
MONEY_STATES = ("authorized", "partially_captured", "captured", "partially_refunded")
ENDERS = frozenset({"fail", "cancel", "void_succeeded", "expire"})
"""Moves that may end a payment: drawn a quarter as often, so that runs go deeper."""

reasons = st.sampled_from(["declined", "issuer unavailable"])
refs = st.sampled_from([None, "ref-1", "ref-2"])


def twd(amount: str) -> Money:
    return Money(amount, "TWD")


def snapshot(payment: Payment) -> tuple[Any, ...]:
    return (
        payment.state,
        payment.version,
        payment.totals,
        dict(payment.captures),
        dict(payment.refunds),
        payment.authorization,
        payment.release,
        payment.action,
        payment.pending_events,
    )


Call = Callable[[], DomainEvent | None]


def checked(payment: Payment, event: str, call: Call, now: datetime) -> list[DomainEvent]:
    """Make ``call`` (one payment method for ``event``) and check the step; return its events."""
    before = snapshot(payment)
    state, version = payment.state, payment.version
    refused: FourFlowsError | None = None
    try:
        recorded = call()
    except FourFlowsError as error:
        refused = error
    if refused is not None:
        assert snapshot(payment) == before, f"{event} raised {refused} but changed the payment"
        assert "lands_" not in str(refused), f"no landing declared for {event}: {refused}"
        return []
    if recorded is None:
        assert snapshot(payment) == before, f"{event} returned None but changed the payment"
        return []
    assert not PAYMENT_MACHINE.is_final(state), f"{event} moved a final {state} payment"
    assert payment.pending_events == (recorded,), "exactly one event per transition"
    assert recorded.sequence == version + 1
    assert recorded.occurred_at == now
    candidates = PAYMENT_MACHINE.table[(state, event)]
    assert (payment.state, type(recorded)) in {(c.dest, c.records) for c in candidates}
    if hasattr(recorded, "totals"):
        assert recorded.totals == payment.totals
    events = payment.collect_events()
    after = snapshot(payment)
    assert call() is None, f"repeating {event} recorded again"
    assert snapshot(payment) == after, f"repeating {event} changed the payment"
    return events


def check_amounts(payment: Payment) -> None:
    """The bookkeeping invariants, and the state they imply."""
    t = payment.totals
    zero = twd("0")
    assert zero <= t.captured <= t.authorized <= t.amount
    assert t.captured + t.capture_pending + t.released <= t.authorized
    assert min(t.capture_pending, t.released, t.refund_pending) >= zero
    assert zero <= t.refunded
    assert t.refunded + t.refund_pending <= t.captured
    assert t.remitted <= t.captured
    if payment.state in (*MONEY_STATES, "refunded"):
        assert t.settled_state() == payment.state
    if payment.state in ("pending", "requires_action", "needs_reconciliation"):
        assert payment.authorization is None
        assert t.captured == zero
    if payment.state in ("voided", "expired", "failed"):
        assert t.captured == zero
        assert t.capturable == zero
    if payment.is_final:
        assert payment.allowed_events == ()


# --- typical paths to start from ---------------------------------------------------------

RECIPES: list[tuple[str, ...]] = [
    (),
    ("act",),
    ("time_out",),
    ("authorize",),
    ("authorize", "request_capture"),
    ("authorize", "capture_half"),
    ("authorize", "capture_half", "request_capture"),
    ("authorize", "capture_rest"),
    ("authorize", "capture_rest", "request_refund"),
    ("authorize", "capture_rest", "refund_all"),
    ("capture_half",),
    ("capture_half", "request_refund", "refund_succeeded"),
    ("authorize", "capture_half", "request_refund"),
    ("authorize", "capture_half", "request_refund", "refund_succeeded"),
    ("capture_rest",),
    (
        "authorize",
        "capture_half",
        "request_refund",
        "refund_succeeded",
        "request_capture",
        "request_refund",
    ),
    ("authorize", "capture_rest", "request_refund", "refund_succeeded", "refund_all"),
    ("authorize", "capture_half", "refund_all", "refund_succeeded"),
    ("authorize", "request_void"),
    ("authorize", "capture_half", "request_void"),
    ("authorize", "capture_half", "request_void", "capture_rest"),
    ("authorize", "capture_half", "request_refund", "request_void"),
    ("authorize", "capture_half", "request_refund", "refund_succeeded", "request_void"),
    ("authorize", "capture_half", "refund_all", "refund_succeeded", "request_void"),
    (
        "authorize",
        "capture_half",
        "refund_all",
        "refund_succeeded",
        "request_void",
        "capture_rest",
        "refund_all",
        "refund_succeeded",
    ),
]
"""Paths to every state, with and without captures or refunds in flight."""


def guided(payment: Payment, move: str, key: str, at: datetime) -> tuple[str, Call]:
    """One step of a recipe: the event and the call (every value computed now)."""
    p = payment
    room = p.capturable if p.authorization else p.amount - p.totals.captured
    half = max((room / 2).round(), twd("0.01"))
    everything = p.refundable
    part = max((everything / 2).round(), twd("0.01"))
    requested = [k for k, r in p.refunds.items() if r.status is OperationStatus.REQUESTED]
    first_requested = requested[0] if requested else "none"
    if move == "act":
        if p.method is PaymentMethod.BANK_TRANSFER:
            return "await_funds", lambda: p.await_funds(
                virtual_account="9600-1", deadline=at + DAY, at=at
            )
        return "require_authentication", lambda: p.require_authentication(
            reference="3ds-1", deadline=at + DAY, at=at
        )
    calls: dict[str, tuple[str, Call]] = {
        "time_out": ("time_out", lambda: p.time_out(at=at)),
        "authorize": ("authorize", lambda: p.authorize(amount=p.amount, at=at)),
        "capture_half": (
            "capture_succeeded",
            lambda: p.capture_succeeded(capture_id=key, amount=half, at=at),
        ),
        "capture_rest": (
            "capture_succeeded",
            lambda: p.capture_succeeded(capture_id=key, amount=room, at=at),
        ),
        "request_capture": (
            "request_capture",
            lambda: p.request_capture(capture_id=key, amount=half, at=at),
        ),
        "request_refund": (
            "request_refund",
            lambda: p.request_refund(refund_id=key, amount=part, at=at),
        ),
        "refund_all": (
            "request_refund",
            lambda: p.request_refund(refund_id=key, amount=everything, at=at),
        ),
        "refund_succeeded": (
            "refund_succeeded",
            lambda: p.refund_succeeded(refund_id=first_requested, at=at),
        ),
        "request_void": ("request_void", lambda: p.request_void(reason="canceled", at=at)),
    }
    return calls[move]


def started(method: PaymentMethod, recipe: tuple[str, ...], amount: str = "1000") -> Payment:
    """A payment taken along ``recipe``, every step checked; its events collected."""
    payment = Payment.create(id="p-1", order_id="o-1", method=method, amount=twd(amount), at=START)
    events = payment.collect_events()
    for n, move in enumerate(recipe):
        event, call = guided(payment, move, f"w-{n}", START)
        events += checked(payment, event, call, START)
        check_amounts(payment)
    assert [e.sequence for e in events] == list(range(1, payment.version + 1))
    return payment


# --- random walks ------------------------------------------------------------------------


class PaymentPromises(RuleBasedStateMachine):
    """One payment; each step calls one payment method with drawn arguments.

    Most steps pick a move declared from the current state (so runs go deep);
    the rest pick any move (so refusals are exercised too). Arguments are
    mostly sensible and sometimes wrong (zero, negative, a fraction of a cent,
    another currency, an unknown id, too much).
    """

    def __init__(self) -> None:
        super().__init__()
        self.now = START

    @initialize(
        method=st.sampled_from(PaymentMethod),
        amount=st.sampled_from(["1000", "999.99", "0.01"]),
        recipe=st.integers(0, len(RECIPES) - 1).map(RECIPES.__getitem__),
    )
    def create(self, method: PaymentMethod, amount: str, recipe: tuple[str, ...]) -> None:
        self.payment = started(method, recipe, amount)
        self.version = self.payment.version

    def amounts(self) -> st.SearchStrategy[Any]:
        totals = self.payment.totals
        cent = twd("0.01")
        left_of_payment = totals.amount - totals.captured - totals.capture_pending
        candidates = [
            totals.capturable,
            (totals.capturable / 2).round(),
            totals.refundable,
            (totals.refundable / 3).round(),
            left_of_payment,
            (left_of_payment / 2).round(),
            totals.amount,
            cent,
        ]
        useful = [m for m in candidates if m.amount > 0]
        too_much = [totals.capturable + cent, totals.refundable + cent, totals.amount + cent]
        wrong = [twd("0"), twd("-1"), twd("0.001"), Money("1", "USD")]
        return st.sampled_from(useful * 3 + too_much + wrong)

    def capture_id(self, data: st.DataObject) -> str:
        known = list(self.payment.captures)
        return data.draw(st.sampled_from([*known, *known, "c-1", "c-2", "c-3"]), label="capture")

    def refund_id(self, data: st.DataObject) -> str:
        known = list(self.payment.refunds)
        return data.draw(st.sampled_from([*known, *known, "r-1", "r-2", "r-3"]), label="refund")

    def call_for(self, event: str, data: st.DataObject) -> Callable[[], DomainEvent | None]:
        p, at = self.payment, self.now
        draw = data.draw
        if event == "require_authentication":
            reference = draw(st.sampled_from(["3ds-1", "3ds-2"]))
            deadline = draw(st.sampled_from([None, at + timedelta(minutes=30)]))
            return lambda: p.require_authentication(reference=reference, deadline=deadline, at=at)
        if event == "await_funds":
            deadline = at + timedelta(days=draw(st.sampled_from([1, 3])))
            return lambda: p.await_funds(virtual_account="9600-1", deadline=deadline, at=at)
        if event == "time_out":
            return lambda: p.time_out(at=at)
        if event == "authorize":
            amount, ref = draw(self.amounts()), draw(refs)
            return lambda: p.authorize(amount=amount, provider_ref=ref, at=at)
        if event in ("fail", "cancel"):
            reason = draw(reasons)
            return lambda: getattr(p, event)(reason=reason, at=at)
        if event == "request_capture":
            capture_id, amount = self.capture_id(data), draw(self.amounts())
            return lambda: p.request_capture(capture_id=capture_id, amount=amount, at=at)
        if event == "capture_succeeded":
            capture_id, ref = self.capture_id(data), draw(refs)
            known = p.captures.get(capture_id)
            amount = (
                known.amount if known is not None and draw(st.booleans()) else draw(self.amounts())
            )
            return lambda: p.capture_succeeded(
                capture_id=capture_id, amount=amount, provider_ref=ref, at=at
            )
        if event == "capture_failed":
            capture_id, reason = self.capture_id(data), draw(reasons)
            return lambda: p.capture_failed(capture_id=capture_id, reason=reason, at=at)
        if event in ("request_void", "void_failed"):
            reason = draw(reasons)
            return lambda: getattr(p, event)(reason=reason, at=at)
        if event == "void_succeeded":
            return lambda: p.void_succeeded(at=at)
        if event == "expire":
            by_provider = draw(st.booleans())
            return lambda: p.expire(at=at, by_provider=by_provider)
        if event == "request_refund":
            refund_id, amount = self.refund_id(data), draw(self.amounts())
            return lambda: p.request_refund(refund_id=refund_id, amount=amount, at=at)
        if event == "refund_succeeded":
            refund_id, ref = self.refund_id(data), draw(refs)
            return lambda: p.refund_succeeded(refund_id=refund_id, provider_ref=ref, at=at)
        if event in ("refund_failed", "refund_canceled"):
            refund_id, reason = self.refund_id(data), draw(reasons)
            return lambda: getattr(p, event)(refund_id=refund_id, reason=reason, at=at)
        assert event == "record_remittance", event
        capture_id = self.capture_id(data)
        ref = draw(st.sampled_from(["rem-1", "rem-2"]))
        return lambda: p.record_remittance(capture_id=capture_id, remittance_ref=ref, at=at)

    @rule(hours=st.sampled_from([0, 1, 24, 24 * 3, 24 * 7]))
    def time_passes(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    @rule(data=st.data())
    def step(self, data: st.DataObject) -> None:
        allowed = self.payment.allowed_events
        anything = PAYMENT_MACHINE.spec.events
        # Choices through a Random drawn from hypothesis: uniform, yet replayable and shrinkable.
        pick = data.draw(st.randoms(use_true_random=False), label="choice")
        pool = allowed if allowed and pick.random() < 0.8 else anything
        event = pick.choice(pool)
        if event in ENDERS and pick.random() < 0.75:
            return
        note(f"{self.payment.state} --{event}-->")
        events = checked(self.payment, event, self.call_for(event, data), self.now)
        assert [e.sequence for e in events] == list(
            range(self.version + 1, self.payment.version + 1)
        )
        self.version = self.payment.version

    @invariant()
    def amounts_keep_their_bounds(self) -> None:
        check_amounts(self.payment)


TestPaymentPromises = PaymentPromises.TestCase


# --- every declared move, one step from typical states ----------------------------------


Move = Callable[[Payment, datetime], Any]


def move(name: str, **arguments: Any) -> tuple[str, Move]:
    """The payment method ``name`` (also its machine event) with ``arguments``, at a given time."""

    def call(payment: Payment, at: datetime) -> Any:
        return getattr(payment, name)(at=at, **arguments)

    return name, call


def one_step_moves(p: Payment) -> list[tuple[str, Move]]:
    """A menu of sensible calls for ``p``'s situation (amounts and ids taken from it)."""
    t = p.totals
    room = t.capturable if p.authorization else t.amount - t.captured - t.capture_pending
    sizes = {m for m in (room, (room / 2).round(), t.refundable) if m.amount > 0}
    new_capture, new_refund = f"c-{len(p.captures)}", f"r-{len(p.refunds)}"
    moves = [
        move("require_authentication", reference="3ds"),
        move("await_funds", virtual_account="va", deadline=START + DAY),
        move("time_out"),
        move("authorize", amount=p.amount, provider_ref="auth"),
        move("fail", reason="declined"),
        move("cancel", reason="left"),
        move("request_void", reason="canceled"),
        move("void_succeeded"),
        move("void_failed", reason="settled"),
        move("expire"),
    ]
    for size in sizes:
        moves += [
            move("request_capture", capture_id=new_capture, amount=size),
            move("capture_succeeded", capture_id=new_capture, amount=size),
            move("request_refund", refund_id=new_refund, amount=size),
        ]
    for capture_id, capture in p.captures.items():
        moves += [
            move("capture_succeeded", capture_id=capture_id, amount=capture.amount),
            move("capture_failed", capture_id=capture_id, reason="declined"),
            move("record_remittance", capture_id=capture_id, remittance_ref="rem"),
        ]
    for refund_id in p.refunds:
        moves += [
            move("refund_succeeded", refund_id=refund_id),
            move("refund_failed", refund_id=refund_id, reason="closed"),
            move("refund_canceled", refund_id=refund_id, reason="kept"),
        ]
    return moves


def test_every_declared_move_happens_from_some_typical_state() -> None:
    """Each (state, event, destination) the spec declares is taken, with every check passing."""
    taken: set[tuple[str, str, str]] = set()
    kinds = (PaymentMethod.CARD, PaymentMethod.BANK_TRANSFER, PaymentMethod.CASH_ON_DELIVERY)
    for method in kinds:
        for recipe in RECIPES:
            seed = started(method, recipe)
            for event, call in one_step_moves(seed):
                payment = copy.deepcopy(seed)
                # "expire" is tried after every window and deadline has passed
                at = START + 8 * DAY if event == "expire" else START
                state = payment.state
                if checked(payment, event, partial(call, payment, at), at):
                    taken.add((state, event, payment.state))
                check_amounts(payment)
    declared = {
        (state, event, candidate.dest)
        for (state, event), candidates in PAYMENT_MACHINE.table.items()
        for candidate in candidates
    }
    missing = sorted(declared - taken)
    assert not missing, missing


# --- the same notifications in any order -----------------------------------------------


Notice = Callable[[Payment], object]


def notice(name: str, **arguments: Any) -> Notice:
    """A gateway notification, as the payment method ``name`` applied with ``arguments``."""
    return lambda payment: getattr(payment, name)(**arguments)


def settle(payment: Payment, notes: list[Notice]) -> None:
    """Apply notifications as an application would.

    One the payment has moved past (`InvalidTransition`) is stale and dropped;
    one it cannot take yet (`GuardRejected`, `NotFound`) is retried after the
    others. Either way a refusal changes nothing.
    """
    waiting = list(notes)
    while waiting:
        left = []
        for pending in waiting:
            before = snapshot(payment)
            try:
                pending(payment)
            except (GuardRejected, NotFound):
                left.append(pending)
            except InvalidTransition:
                pass
            else:
                continue
            assert snapshot(payment) == before
        assert len(left) < len(waiting), "some notification can never be applied"
        waiting = left


@st.composite
def card_stories(draw: st.DrawFn) -> tuple[int, int, list[int]]:
    """A payment amount, its authorisation and the captures taken from it (in TWD dollars)."""
    amount = draw(st.integers(1, 5000))
    authorized = draw(st.integers(1, amount))
    captures: list[int] = []
    left = authorized
    for _ in range(draw(st.integers(0, 3))):
        if left == 0:
            break
        taken = draw(st.integers(1, left))
        captures.append(taken)
        left -= taken
    return amount, authorized, captures


@given(story=card_stories(), data=st.data())
def test_shuffled_and_repeated_capture_notifications_end_the_same(
    story: tuple[int, int, list[int]], data: st.DataObject
) -> None:
    amount, authorized, captures = story
    at = START + timedelta(hours=1)
    notes = [
        notice("authorize", amount=twd(str(authorized)), provider_ref="auth-1", at=at),
        notice("require_authentication", reference="3ds-1", at=START),  # stale if late
    ]
    for n, taken in enumerate(captures):
        notes.append(
            notice("capture_succeeded", capture_id=f"c-{n}", amount=twd(str(taken)), at=at)
        )
    repeated = data.draw(st.lists(st.sampled_from(notes), max_size=4))
    order = data.draw(st.permutations(notes + repeated))
    payment = Payment.create(
        id="p-1", order_id="o-1", method=PaymentMethod.CARD, amount=twd(str(amount)), at=START
    )
    settle(payment, order)
    captured = sum(captures)
    expected = PaymentTotals(
        amount=twd(str(amount)),
        authorized=twd(str(authorized)),
        captured=twd(str(captured)),
        capture_pending=twd("0"),
        refunded=twd("0"),
        refund_pending=twd("0"),
        released=twd("0"),
        remitted=twd("0"),
    )
    assert payment.totals == expected
    assert payment.state == expected.settled_state()
    assert payment.authorization is not None
    assert (payment.authorization.provider_ref, payment.authorization.confirmed) == (
        "auth-1",
        True,
    )


@given(
    refunds=st.lists(st.integers(1, 300), min_size=1, max_size=3),
    outcomes=st.data(),
)
def test_shuffled_and_repeated_refund_outcomes_end_the_same(
    refunds: list[int], outcomes: st.DataObject
) -> None:
    payment = Payment.create(
        id="p-1", order_id="o-1", method=PaymentMethod.E_WALLET, amount=twd("1000"), at=START
    )
    payment.capture_succeeded(capture_id="w-1", amount=twd("1000"), at=START)
    succeeded = 0
    notes: list[Notice] = []
    for n, amount in enumerate(refunds):
        payment.request_refund(refund_id=f"r-{n}", amount=twd(str(amount)), at=START)
        if outcomes.draw(st.booleans(), label=f"r-{n} succeeds"):
            succeeded += amount
            notes.append(notice("refund_succeeded", refund_id=f"r-{n}", at=START))
        else:
            notes.append(notice("refund_failed", refund_id=f"r-{n}", reason="no", at=START))
    repeated = outcomes.draw(st.lists(st.sampled_from(notes), max_size=3))
    settle(payment, outcomes.draw(st.permutations(notes + repeated)))
    totals = payment.totals
    assert (totals.refunded, totals.refund_pending) == (twd(str(succeeded)), twd("0"))
    # 1000 captured; the state follows from what went back
    assert payment.state == ("partially_refunded" if succeeded else "captured")
    assert payment.refundable == twd(str(1000 - succeeded))
