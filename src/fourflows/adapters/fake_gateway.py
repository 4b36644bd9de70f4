"""A payment gateway in memory, with the misbehaviours of real ones on demand.

`FakeGateway` implements `fourflows.cash.gateway.PaymentGateway` for tests,
demos and teaching. It is deterministic: no randomness, no clock of its own
(times come from the `fourflows.ports.Clock` it is given), references
counted in order (``fake-auth-0001``, ``fake-cap-0001``, ...).

**Choosing what happens.** Each payment follows a `Scenario`: what each of
the four calls does (a `Step`) and how its notifications are delivered (a
`Delivery`). The scenario is chosen per payment:

1. from the ``scenarios`` given to the gateway (or `FakeGateway.set_scenario`)
   under the payment id, if there is one;
2. else from the authorisation's ``payment_method``, like the test cards of a
   provider's sandbox (see `FakeGateway.TEST_METHODS`: ``"fake-card-declined"``,
   ``"fake-card-3ds"``, ...);
3. else everything is approved.

**Notifications** are queued as a real provider would send them, for every
call that changed something or was answered, and handed out by
`FakeGateway.take_notifications`; `GatewayNotification.to_payload` turns one
into the webhook body that `FakeGateway.parse_notification` reads.

**Disputes.** `FakeGateway.open_dispute` plays the customer's bank disputing
a captured payment (a ``dispute_opened`` notification, ids counted
``fake-dispute-0001``, ...), `FakeGateway.submit_dispute_evidence` takes the
shop's answer (`fourflows.cash.gateway.DisputeGateway`), and
`FakeGateway.close_dispute` plays the bank's ruling (``dispute_won`` or
``dispute_lost``). Disputed money cannot be refunded while the dispute is
open, nor after it was lost.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, ClassVar

import attrs

from fourflows.cash.gateway import (
    AuthorizeRequest,
    CaptureRequest,
    Decline,
    DeclineReason,
    DisputeEvidenceRequest,
    DisputeEvidenceResult,
    DisputeReason,
    GatewayNotification,
    GatewayOperation,
    GatewayOutcome,
    GatewayRequest,
    GatewayResult,
    IdempotencyRecords,
    NotificationKind,
    NotificationPayload,
    RefundRequest,
    RequiredAction,
    VoidRequest,
    request_fingerprint,
)
from fourflows.errors import CurrencyMismatch, GatewayUnavailable, InvalidInput, NotFound
from fourflows.money import Money
from fourflows.ports import Clock

__all__ = ["Delivery", "FakeGateway", "PaymentBalance", "Scenario", "Step"]


class Step(enum.Enum):
    """What the fake does with one call.

    * ``APPROVE``: does it and answers ``approved``.
    * ``DECLINE``: does nothing and answers ``declined`` with the scenario's
      ``decline_reason``.
    * ``REQUIRE_ACTION`` (authorisations only): answers ``requires_action``;
      `FakeGateway.complete_action` plays the customer.
    * ``PENDING_THEN_APPROVE``: does it, answers ``pending`` and confirms it
      by notification (``lookup`` shows it approved).
    * ``PENDING_THEN_DECLINE``: does nothing, answers ``pending`` and reports
      the failure by notification (``lookup`` shows it declined).
    * ``TIMEOUT``: the first attempt under a key is lost on the way: nothing
      is done, `GatewayUnavailable` is raised and ``lookup`` finds nothing.
      A retry under the same key goes through and is approved.
    * ``TIMEOUT_AFTER_SUCCESS``: the work is done and notified, but the
      answer is lost: `GatewayUnavailable` is raised. ``lookup``, a retry
      under the same key, and the notification all reveal the success.
    """

    APPROVE = "approve"
    DECLINE = "decline"
    REQUIRE_ACTION = "require_action"
    PENDING_THEN_APPROVE = "pending_then_approve"
    PENDING_THEN_DECLINE = "pending_then_decline"
    TIMEOUT = "timeout"
    TIMEOUT_AFTER_SUCCESS = "timeout_after_success"


_APPROVING = frozenset(
    {Step.APPROVE, Step.PENDING_THEN_APPROVE, Step.TIMEOUT, Step.TIMEOUT_AFTER_SUCCESS}
)
_PENDING = frozenset({Step.PENDING_THEN_APPROVE, Step.PENDING_THEN_DECLINE})


class Delivery(enum.Enum):
    """How a payment's notifications reach `FakeGateway.take_notifications`.

    * ``ONCE``: each once, in the order things happened.
    * ``TWICE``: each one twice in a row, with the same notification id.
    * ``REVERSED``: out of order: within each batch taken, the payment's
      notifications come newest first (``captured`` before ``authorized``).
    """

    ONCE = "once"
    TWICE = "twice"
    REVERSED = "reversed"


def _step(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Step):
        raise InvalidInput(f"{attribute.name} must be a Step, not {value!r}")
    if value is Step.REQUIRE_ACTION and attribute.name != "authorize":
        raise InvalidInput(
            f"only an authorisation can require action; {attribute.name} cannot be {value}"
        )


_EVIDENCE_STEPS = (Step.APPROVE, Step.TIMEOUT, Step.TIMEOUT_AFTER_SUCCESS)


def _evidence_step(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value not in _EVIDENCE_STEPS:
        allowed = ", ".join(str(step) for step in _EVIDENCE_STEPS)
        raise InvalidInput(f"{attribute.name} must be one of {allowed}, not {value!r}")


def _of(kind: type[Any]) -> Any:
    def check(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, kind):
            raise InvalidInput(f"{attribute.name} must be a {kind.__name__}, not {value!r}")

    return check


def _positive_duration(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise InvalidInput(f"{attribute.name} must be a positive timedelta, not {value!r}")


@attrs.frozen(kw_only=True)
class Scenario:
    """How the fake treats one payment: a `Step` per call, a decline reason, a delivery.

    >>> Scenario(authorize=Step.DECLINE, decline_reason=DeclineReason.INSUFFICIENT_FUNDS)
    Scenario(authorize=<Step.DECLINE: 'decline'>, ...)

    ``action_ttl`` is how long the customer has to act when an authorisation
    requires action (minutes for 3-D Secure, days for a virtual bank account).

    ``evidence`` is what `FakeGateway.submit_dispute_evidence` does: ``APPROVE``,
    ``TIMEOUT`` (the first attempt is lost, nothing submitted) or
    ``TIMEOUT_AFTER_SUCCESS`` (submitted, but the answer is lost).
    """

    authorize: Step = attrs.field(default=Step.APPROVE, validator=_step)
    capture: Step = attrs.field(default=Step.APPROVE, validator=_step)
    void: Step = attrs.field(default=Step.APPROVE, validator=_step)
    refund: Step = attrs.field(default=Step.APPROVE, validator=_step)
    decline_reason: DeclineReason = attrs.field(
        default=DeclineReason.DECLINED, validator=_of(DeclineReason)
    )
    notifications: Delivery = attrs.field(default=Delivery.ONCE, validator=_of(Delivery))
    action_ttl: timedelta = attrs.field(default=timedelta(minutes=15), validator=_positive_duration)
    evidence: Step = attrs.field(default=Step.APPROVE, validator=_evidence_step)

    def step(self, operation: GatewayOperation) -> Step:
        """The step for ``operation``."""
        step: Step = getattr(self, operation.value)
        return step


@attrs.frozen(kw_only=True)
class PaymentBalance:
    """Where one payment's authorisation stands at the fake.

    ``status`` is ``"requires_action"``, ``"authorized"`` (also after partial
    captures), ``"declined"``, ``"voided"`` or ``"expired"``. ``authorized``
    is what the provider approved to hold (zero until approved), ``released``
    what a void or the expiry gave back, ``disputed`` what open and lost
    disputes hold or took back (it cannot be refunded).
    """

    payment_id: str
    authorization_ref: str
    status: str
    requested: Money
    authorized: Money
    captured: Money
    refunded: Money
    released: Money
    disputed: Money

    @property
    def capturable(self) -> Money:
        """What can still be captured."""
        if self.status != "authorized":
            return Money.zero(self.requested.currency)
        return self.authorized - self.captured - self.released

    @property
    def refundable(self) -> Money:
        """What was captured and not yet refunded, nor held or taken back by a dispute."""
        return self.captured - self.refunded - self.disputed


@attrs.define(kw_only=True)
class _Authorization:
    payment_id: str
    ref: str
    key: str
    method: str
    requested: Money
    status: str
    authorized_at: datetime | None = None
    action: RequiredAction | None = None
    last_capture: str | None = None
    authorized: Money = attrs.field()
    captured: Money = attrs.field()
    refunded: Money = attrs.field()
    released: Money = attrs.field()
    disputed: Money = attrs.field()

    @authorized.default
    def _zero_authorized(self) -> Money:
        return Money.zero(self.requested.currency)

    @captured.default
    def _zero_captured(self) -> Money:
        return Money.zero(self.requested.currency)

    @refunded.default
    def _zero_refunded(self) -> Money:
        return Money.zero(self.requested.currency)

    @released.default
    def _zero_released(self) -> Money:
        return Money.zero(self.requested.currency)

    @disputed.default
    def _zero_disputed(self) -> Money:
        return Money.zero(self.requested.currency)

    def balance(self) -> PaymentBalance:
        return PaymentBalance(
            payment_id=self.payment_id,
            authorization_ref=self.ref,
            status=self.status,
            requested=self.requested,
            authorized=self.authorized,
            captured=self.captured,
            refunded=self.refunded,
            released=self.released,
            disputed=self.disputed,
        )


@attrs.define(kw_only=True)
class _Dispute:
    id: str
    auth: _Authorization
    capture_ref: str
    amount: Money
    respond_by: datetime
    status: str = "needs_response"
    evidence: DisputeEvidenceRequest | None = None


_MESSAGES = {
    DeclineReason.DECLINED: "the issuer declined the payment without giving a reason",
    DeclineReason.INSUFFICIENT_FUNDS: "the card has insufficient funds",
    DeclineReason.EXPIRED_CARD: "the card has expired",
    DeclineReason.INVALID_DETAILS: "the card details are incorrect",
    DeclineReason.SUSPECTED_FRAUD: "the payment was blocked as suspected fraud",
    DeclineReason.AUTHENTICATION_FAILED: "the customer did not pass authentication",
    DeclineReason.ACTION_EXPIRED: "the customer did not act before the deadline",
    DeclineReason.AUTHORIZATION_EXPIRED: "the authorisation expired before it was captured",
    DeclineReason.PROCESSING_ERROR: "the provider could not process the request",
}

_DONE_KIND = {
    GatewayOperation.AUTHORIZE: NotificationKind.AUTHORIZED,
    GatewayOperation.CAPTURE: NotificationKind.CAPTURED,
    GatewayOperation.VOID: NotificationKind.VOIDED,
    GatewayOperation.REFUND: NotificationKind.REFUNDED,
}


class FakeGateway:
    """A deterministic, in-memory `PaymentGateway` whose scenarios are chosen per payment.

    ``clock`` gives every time the fake records (notification times, action
    deadlines, authorisation expiry). ``scenarios`` maps payment ids to their
    `Scenario`; other payments take theirs from the payment method
    (`TEST_METHODS`) or are approved. ``authorization_ttl`` is how long an
    approved authorisation can be captured.

    Besides the port, the fake offers what a sandbox's dashboard would:
    `complete_action` (the customer acts), `expire_overdue` (the provider's
    nightly sweep), `take_notifications` (the webhooks), `balance`, and
    `open_dispute`, `close_dispute` and `dispute_status` (the customer's
    bank). It also implements `fourflows.cash.gateway.DisputeGateway`. It is
    meant for one thread at a time.
    """

    name: ClassVar[str] = "fake"

    TEST_METHODS: ClassVar[Mapping[str, Scenario]] = MappingProxyType(
        {
            "fake-card-approve": Scenario(),
            "fake-card-declined": Scenario(authorize=Step.DECLINE),
            "fake-card-insufficient-funds": Scenario(
                authorize=Step.DECLINE, decline_reason=DeclineReason.INSUFFICIENT_FUNDS
            ),
            "fake-card-expired": Scenario(
                authorize=Step.DECLINE, decline_reason=DeclineReason.EXPIRED_CARD
            ),
            "fake-card-fraud": Scenario(
                authorize=Step.DECLINE, decline_reason=DeclineReason.SUSPECTED_FRAUD
            ),
            "fake-card-3ds": Scenario(authorize=Step.REQUIRE_ACTION),
            "fake-card-timeout": Scenario(authorize=Step.TIMEOUT),
            "fake-card-late-success": Scenario(authorize=Step.TIMEOUT_AFTER_SUCCESS),
            "fake-card-async": Scenario(
                capture=Step.PENDING_THEN_APPROVE,
                void=Step.PENDING_THEN_APPROVE,
                refund=Step.PENDING_THEN_APPROVE,
            ),
            "fake-card-duplicate-notifications": Scenario(notifications=Delivery.TWICE),
            "fake-card-out-of-order": Scenario(notifications=Delivery.REVERSED),
            "fake-bank-transfer": Scenario(
                authorize=Step.REQUIRE_ACTION, action_ttl=timedelta(days=3)
            ),
            "fake-wallet": Scenario(authorize=Step.PENDING_THEN_APPROVE),
        }
    )
    """Payment methods that pick a scenario, like a sandbox's test cards.

    ``fake-card-approve`` (or any method not listed): everything approved.
    ``fake-card-declined``, ``-insufficient-funds``, ``-expired``, ``-fraud``:
    the authorisation is declined with that reason. ``fake-card-3ds``: it
    requires 3-D Secure for 15 minutes. ``fake-card-timeout``: its first
    attempt is lost. ``fake-card-late-success``: approved, but the answer is
    lost. ``fake-card-async``: captures, voids and refunds are pending, then
    confirmed. ``fake-card-duplicate-notifications``, ``fake-card-out-of-order``:
    notifications twice, or newest first. ``fake-bank-transfer``: funds are
    awaited in a virtual account for 3 days. ``fake-wallet``: the
    authorisation is pending, then confirmed.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        scenarios: Mapping[str, Scenario] | None = None,
        authorization_ttl: timedelta = timedelta(days=7),
    ) -> None:
        if isinstance(clock, datetime) or not callable(getattr(clock, "now", None)):
            raise InvalidInput(
                f"clock must be a Clock such as FixedClock(at), not {clock!r}; "
                "the fake reads every time from it"
            )
        if not isinstance(authorization_ttl, timedelta) or authorization_ttl <= timedelta(0):
            raise InvalidInput(
                f"authorization_ttl must be a positive timedelta, not {authorization_ttl!r}"
            )
        self._clock = clock
        self._ttl = authorization_ttl
        self._scenarios: dict[str, Scenario] = {}
        for payment_id, scenario in (scenarios or {}).items():
            self.set_scenario(payment_id, scenario)
        self._records: IdempotencyRecords[GatewayResult] = IdempotencyRecords()
        self._latest: dict[str, GatewayResult] = {}
        self._lost: set[str] = set()
        self._by_ref: dict[str, _Authorization] = {}
        self._by_payment: dict[str, _Authorization] = {}
        self._by_action: dict[str, _Authorization] = {}
        self._queue: list[tuple[str, GatewayNotification]] = []
        self._counts: Counter[str] = Counter()
        self._disputes: dict[str, _Dispute] = {}
        self._evidence: IdempotencyRecords[DisputeEvidenceResult] = IdempotencyRecords()
        self._lost_evidence: set[str] = set()

    # --- choosing scenarios --------------------------------------------------------------

    def set_scenario(self, payment_id: str, scenario: Scenario) -> None:
        """Make ``payment_id`` follow ``scenario`` from its next call on."""
        if not isinstance(payment_id, str) or not payment_id.strip():
            raise InvalidInput(f"a payment id must be a non-empty string, not {payment_id!r}")
        if not isinstance(scenario, Scenario):
            raise InvalidInput(
                f"the scenario of {payment_id!r} must be a Scenario, not {scenario!r}"
            )
        self._scenarios[payment_id] = scenario

    def scenario(self, payment_id: str, payment_method: str | None = None) -> Scenario:
        """The scenario ``payment_id`` follows (``payment_method`` for a new payment)."""
        chosen = self._scenarios.get(payment_id)
        if chosen is not None:
            return chosen
        if payment_method is None and payment_id in self._by_payment:
            payment_method = self._by_payment[payment_id].method
        return self.TEST_METHODS.get(payment_method or "", Scenario())

    # --- the port ------------------------------------------------------------------------

    def authorize(self, request: AuthorizeRequest) -> GatewayResult:
        """Hold the amount, or decline, require action or answer pending, as the scenario says."""
        fingerprint, first = self._recall(request, AuthorizeRequest)
        if first is not None:
            return first
        current = self._by_payment.get(request.payment_id)
        if current is not None and (
            current.status == "requires_action" or current.authorized.amount > 0
        ):
            raise InvalidInput(
                f"payment {request.payment_id!r} already has the authorisation {current.ref!r} "
                f"({current.status}); capture, void or refund it, or use a new payment id"
            )
        scenario = self.scenario(request.payment_id, request.payment_method)
        step = scenario.authorize
        self._lose_first_attempt(request, step)
        now = self._clock.now()
        auth = _Authorization(
            payment_id=request.payment_id,
            ref=self._next("fake-auth"),
            key=request.idempotency_key,
            method=request.payment_method,
            requested=request.amount,
            status="declined",
        )
        self._by_ref[auth.ref] = auth
        self._by_payment[auth.payment_id] = auth
        if step is Step.REQUIRE_ACTION:
            action = RequiredAction(
                reference=self._next("fake-action"),
                deadline=now + scenario.action_ttl,
                url=f"https://fake-gateway.invalid/actions/{auth.ref}",
            )
            auth.status, auth.action = "requires_action", action
            self._by_action[action.reference] = auth
            self._notify(NotificationKind.ACTION_REQUIRED, request, auth.ref, request.amount)
            result = self._result(request, auth.ref, GatewayOutcome.REQUIRES_ACTION, action=action)
            return self._finish(request, fingerprint, step, result, result)
        if step in _APPROVING:
            auth.status, auth.authorized, auth.authorized_at = "authorized", request.amount, now
        return self._answer(request, fingerprint, step, scenario, auth.ref)

    def capture(self, request: CaptureRequest) -> GatewayResult:
        """Take part or all of what is left of the authorisation."""
        fingerprint, first = self._recall(request, CaptureRequest)
        if first is not None:
            return first
        auth = self._authorization(request)
        if self._lapsed(auth) or (auth.status == "expired" and auth.authorized.amount > 0):
            return self._expire_on_capture(request, fingerprint, auth)
        self._require_held(auth, "capture")
        scenario = self.scenario(auth.payment_id)
        capturable = auth.balance().capturable
        if request.amount > capturable:
            raise InvalidInput(
                f"cannot capture {request.amount} on authorisation {auth.ref!r}: only "
                f"{capturable} is left to capture (authorised {auth.authorized}, "
                f"captured {auth.captured}, released {auth.released})"
            )
        step = scenario.capture
        self._lose_first_attempt(request, step)
        ref = self._next("fake-cap")
        if step in _APPROVING:
            auth.captured += request.amount
            auth.last_capture = ref
        return self._answer(request, fingerprint, step, scenario, ref)

    def void(self, request: VoidRequest) -> GatewayResult:
        """Release all that is left of the authorisation; refused once it is fully captured."""
        fingerprint, first = self._recall(request, VoidRequest)
        if first is not None:
            return first
        auth = self._authorization(request)
        self._require_held(auth, "void")
        left = auth.balance().capturable
        if left.amount == 0:
            raise InvalidInput(
                f"cannot void authorisation {auth.ref!r}: it was fully captured "
                f"({auth.captured}); refund the payment instead"
            )
        if request.amount != left:
            raise InvalidInput(
                f"a void releases all that is left of authorisation {auth.ref!r}, "
                f"which is {left}, not {request.amount}"
            )
        scenario = self.scenario(auth.payment_id)
        step = scenario.void
        self._lose_first_attempt(request, step)
        if step in _APPROVING:
            auth.status = "voided"
            auth.released += request.amount
        return self._answer(request, fingerprint, step, scenario, self._next("fake-void"))

    def refund(self, request: RefundRequest) -> GatewayResult:
        """Give back part or all of what was captured and not yet refunded."""
        fingerprint, first = self._recall(request, RefundRequest)
        if first is not None:
            return first
        auth = self._authorization(request)
        refundable = auth.balance().refundable
        if request.amount > refundable:
            raise InvalidInput(
                f"cannot refund {request.amount} on authorisation {auth.ref!r}: only "
                f"{refundable} was captured and not yet refunded (captured {auth.captured}, "
                f"refunded {auth.refunded}, held or taken back by disputes {auth.disputed})"
            )
        scenario = self.scenario(auth.payment_id)
        step = scenario.refund
        self._lose_first_attempt(request, step)
        if step in _APPROVING:
            auth.refunded += request.amount
        return self._answer(request, fingerprint, step, scenario, self._next("fake-refund"))

    def lookup(self, idempotency_key: str) -> GatewayResult | None:
        """The call made under ``idempotency_key`` as it stands now; ``None`` if never received."""
        if not isinstance(idempotency_key, str) or not idempotency_key.strip():
            raise InvalidInput(
                f"an idempotency key must be a non-empty string, not {idempotency_key!r}"
            )
        return self._latest.get(idempotency_key)

    def parse_notification(self, payload: NotificationPayload) -> GatewayNotification:
        """Read a notification in fourflows' JSON form (`GatewayNotification.to_payload`)."""
        return GatewayNotification.from_payload(payload)

    # --- the sandbox's controls ----------------------------------------------------------

    def complete_action(self, action_ref: str, *, succeeded: bool = True) -> GatewayResult:
        """Play the customer: finish (or fail) the action ``action_ref``; return the new status.

        Past the action's deadline the authorisation expires instead. The
        outcome is notified and shown by ``lookup``; repeating the original
        authorize call still returns its first answer, ``requires_action``.
        """
        auth = self._by_action.get(action_ref)
        if auth is None:
            raise NotFound("required action", action_ref, self._by_action)
        if auth.status != "requires_action":
            raise InvalidInput(
                f"action {action_ref!r} is over: authorisation {auth.ref!r} is {auth.status}"
            )
        now = self._clock.now()
        if auth.action is None or now > auth.action.deadline:
            return self._action_expired(auth)
        first = self._latest[auth.key]
        if succeeded:
            auth.status, auth.authorized, auth.authorized_at = "authorized", auth.requested, now
            self._notify_about(auth, NotificationKind.AUTHORIZED, auth.requested)
            latest = attrs.evolve(
                first, outcome=GatewayOutcome.APPROVED, action=None, provider_code="approved"
            )
        else:
            reason = DeclineReason.AUTHENTICATION_FAILED
            auth.status = "declined"
            self._notify_about(auth, NotificationKind.FAILED, auth.requested, reason)
            latest = self._declined(first, reason)
        self._latest[auth.key] = latest
        return latest

    def expire_overdue(self) -> list[GatewayNotification]:
        """Expire, as of the clock's time, every lapsed authorisation and overdue action.

        Returns the ``expired`` notifications it queued (also handed out by
        `take_notifications`).
        """
        before = len(self._queue)
        for auth in list(self._by_ref.values()):
            if auth.status == "requires_action":
                if auth.action is None or self._clock.now() > auth.action.deadline:
                    self._action_expired(auth)
            elif self._lapsed(auth):
                self._expire(auth)
        return self._distinct(self._queue[before:])

    def take_notifications(self) -> list[GatewayNotification]:
        """Every notification queued since the last call, as the scenarios deliver them."""
        batch, self._queue = self._queue, []
        for payment_id in dict.fromkeys(payment for payment, _ in batch):
            if self.scenario(payment_id).notifications is not Delivery.REVERSED:
                continue
            slots = [i for i, (payment, _) in enumerate(batch) if payment == payment_id]
            ours = [batch[i] for i in slots]
            for i, entry in zip(slots, reversed(ours), strict=True):
                batch[i] = entry
        return [notification for _, notification in batch]

    def balance(self, payment_id: str) -> PaymentBalance:
        """Where the payment's latest authorisation stands; `NotFound` if it has none."""
        auth = self._by_payment.get(payment_id)
        if auth is None:
            raise NotFound("payment at the fake gateway", payment_id, self._by_payment)
        return auth.balance()

    # --- disputes ----------------------------------------------------------------------------

    def submit_dispute_evidence(self, request: DisputeEvidenceRequest) -> DisputeEvidenceResult:
        """Take the shop's evidence on an open dispute; the bank then reviews it.

        Follows `DisputeGateway`: repeats under one key answer the first
        result, an unknown dispute is `NotFound`, a dispute past its
        ``respond_by`` (by the clock) or already answered or closed is
        `InvalidInput`. The payment's scenario ``evidence`` step may lose the
        first attempt (`GatewayUnavailable`).
        """
        if not isinstance(request, DisputeEvidenceRequest):
            raise InvalidInput(f"expected a DisputeEvidenceRequest, not {request!r}")
        fingerprint = request_fingerprint(request)
        first = self._evidence.check(request.idempotency_key, fingerprint)
        if first is not None:
            return first
        dispute = self._disputes.get(request.dispute_id)
        if dispute is None:
            raise NotFound("dispute", request.dispute_id, self._disputes)
        if dispute.auth.payment_id != request.payment_id:
            raise InvalidInput(
                f"dispute {dispute.id!r} is on payment {dispute.auth.payment_id!r}, "
                f"not on {request.payment_id!r}"
            )
        if dispute.status != "needs_response":
            raise InvalidInput(
                f"dispute {dispute.id!r} cannot take evidence: it is {dispute.status}"
            )
        now = self._clock.now()
        if now >= dispute.respond_by:
            raise InvalidInput(
                f"dispute {dispute.id!r} cannot take evidence: respond_by was "
                f"{dispute.respond_by.isoformat()}, it is {now.isoformat()}"
            )
        step = self.scenario(dispute.auth.payment_id).evidence
        key = request.idempotency_key
        if step is Step.TIMEOUT and key not in self._lost_evidence:
            self._lost_evidence.add(key)
            raise GatewayUnavailable(
                self.name,
                "submit_dispute_evidence",
                "timed out; the evidence never reached the provider (scenario TIMEOUT)",
                idempotency_key=key,
            )
        dispute.status, dispute.evidence = "under_review", request
        result = DisputeEvidenceResult(
            idempotency_key=key,
            dispute_id=dispute.id,
            payment_id=request.payment_id,
            provider_ref=self._next("fake-evidence"),
            provider_code="under_review",
        )
        self._evidence.record(key, fingerprint, result)
        if step is Step.TIMEOUT_AFTER_SUCCESS:
            raise GatewayUnavailable(
                self.name,
                "submit_dispute_evidence",
                "timed out after the evidence was taken (scenario TIMEOUT_AFTER_SUCCESS)",
                idempotency_key=key,
            )
        return result

    def open_dispute(
        self,
        payment_id: str,
        *,
        amount: Money | None = None,
        reason: DisputeReason = DisputeReason.FRAUDULENT,
        respond_within: timedelta = timedelta(days=7),
    ) -> GatewayNotification:
        """Play the customer's bank: dispute ``amount`` of what the payment captured.

        ``amount`` defaults to all that is captured and neither refunded nor
        already disputed, and may not be more. The shop has ``respond_within``
        (from the clock's time) to answer. Queues and returns the
        ``dispute_opened`` notification.
        """
        auth = self._by_payment.get(payment_id)
        if auth is None or auth.last_capture is None:
            raise NotFound("captured payment at the fake gateway", payment_id, self._by_payment)
        if not isinstance(reason, DisputeReason):
            raise InvalidInput(f"reason must be a DisputeReason, not {reason!r}")
        if not isinstance(respond_within, timedelta) or respond_within <= timedelta(0):
            raise InvalidInput(
                f"respond_within must be a positive timedelta, not {respond_within!r}"
            )
        disputable = auth.balance().refundable
        amount = disputable if amount is None else amount
        if not isinstance(amount, Money) or amount.code != auth.requested.code:
            raise InvalidInput(f"amount must be Money in {auth.requested.code}, not {amount!r}")
        if amount.amount <= 0 or amount > disputable:
            raise InvalidInput(
                f"cannot dispute {amount} of payment {payment_id!r}: between one minor unit "
                f"and {disputable} (captured {auth.captured}, refunded {auth.refunded}, "
                f"already disputed {auth.disputed}) can be disputed"
            )
        dispute = _Dispute(
            id=self._next("fake-dispute"),
            auth=auth,
            capture_ref=auth.last_capture,
            amount=amount,
            respond_by=self._clock.now() + respond_within,
        )
        self._disputes[dispute.id] = dispute
        auth.disputed += amount
        return self._notify_dispute(
            dispute, NotificationKind.DISPUTE_OPENED, reason=reason, respond_by=dispute.respond_by
        )

    def close_dispute(self, dispute_id: str, *, won: bool) -> GatewayNotification:
        """Play the bank's ruling: ``won`` (the shop keeps the money) or lost.

        A dispute nobody answered can be closed too: lost once its deadline
        passed, or won when the cardholder withdrew it. Queues and returns the
        ``dispute_won`` or ``dispute_lost`` notification.
        """
        dispute = self._disputes.get(dispute_id)
        if dispute is None:
            raise NotFound("dispute", dispute_id, self._disputes)
        if dispute.status in ("won", "lost"):
            raise InvalidInput(f"dispute {dispute_id!r} is already closed: {dispute.status}")
        if not isinstance(won, bool):
            raise InvalidInput(f"won must be True or False, not {won!r}")
        dispute.status = "won" if won else "lost"
        if won:
            dispute.auth.disputed -= dispute.amount
        kind = NotificationKind.DISPUTE_WON if won else NotificationKind.DISPUTE_LOST
        return self._notify_dispute(dispute, kind)

    def dispute_status(self, dispute_id: str) -> str:
        """``needs_response``, ``under_review``, ``won`` or ``lost``; `NotFound` if unknown."""
        dispute = self._disputes.get(dispute_id)
        if dispute is None:
            raise NotFound("dispute", dispute_id, self._disputes)
        return dispute.status

    def _notify_dispute(
        self,
        dispute: _Dispute,
        kind: NotificationKind,
        *,
        reason: DisputeReason | None = None,
        respond_by: datetime | None = None,
    ) -> GatewayNotification:
        notification = GatewayNotification(
            notification_id=self._next("fake-evt"),
            kind=kind,
            operation=GatewayOperation.CAPTURE,
            payment_id=dispute.auth.payment_id,
            provider_ref=dispute.capture_ref,
            amount=dispute.amount,
            occurred_at=self._clock.now(),
            provider_code=kind.value,
            dispute_id=dispute.id,
            dispute_reason=reason,
            respond_by=respond_by,
        )
        self._queue_notification(notification)
        return notification

    # --- inside ----------------------------------------------------------------------------

    def _next(self, prefix: str) -> str:
        self._counts[prefix] += 1
        return f"{prefix}-{self._counts[prefix]:04d}"

    def _recall(self, request: GatewayRequest, kind: type[Any]) -> tuple[str, GatewayResult | None]:
        if not isinstance(request, kind):
            raise InvalidInput(f"expected a {kind.__name__}, not {request!r}")
        fingerprint = request_fingerprint(request)
        return fingerprint, self._records.check(request.idempotency_key, fingerprint)

    def _authorization(
        self, request: CaptureRequest | VoidRequest | RefundRequest
    ) -> _Authorization:
        auth = self._by_ref.get(request.authorization_ref)
        if auth is None:
            raise NotFound("authorisation", request.authorization_ref, self._by_ref)
        if auth.payment_id != request.payment_id:
            raise InvalidInput(
                f"authorisation {auth.ref!r} belongs to payment {auth.payment_id!r}, "
                f"not to {request.payment_id!r}"
            )
        if request.amount.code != auth.requested.code:
            raise CurrencyMismatch(
                auth.requested.code, request.amount.code, request.operation.value
            )
        return auth

    def _require_held(self, auth: _Authorization, verb: str) -> None:
        why = {
            "requires_action": "still awaits the customer's action",
            "declined": "was declined",
            "voided": "was voided",
            "expired": "has expired",
        }.get(auth.status)
        if why is not None:
            raise InvalidInput(
                f"cannot {verb} authorisation {auth.ref!r}: it {why}; only an approved "
                "authorisation with an amount left can be captured or voided"
            )

    def _lapsed(self, auth: _Authorization) -> bool:
        return (
            auth.status == "authorized"
            and auth.authorized_at is not None
            and auth.balance().capturable.amount > 0
            and self._clock.now() > auth.authorized_at + self._ttl
        )

    def _lose_first_attempt(self, request: GatewayRequest, step: Step) -> None:
        if step is Step.TIMEOUT and request.idempotency_key not in self._lost:
            self._lost.add(request.idempotency_key)
            raise GatewayUnavailable(
                self.name,
                request.operation.value,
                "timed out; the request never reached the provider (scenario TIMEOUT)",
                idempotency_key=request.idempotency_key,
            )

    def _answer(
        self,
        request: GatewayRequest,
        fingerprint: str,
        step: Step,
        scenario: Scenario,
        provider_ref: str,
    ) -> GatewayResult:
        """Notify and record the answer of an approving or declining step."""
        approved = self._result(request, provider_ref, GatewayOutcome.APPROVED)
        if step in _APPROVING:
            self._notify(_DONE_KIND[request.operation], request, provider_ref, request.amount)
            latest = approved
        else:
            reason = scenario.decline_reason
            self._notify(NotificationKind.FAILED, request, provider_ref, request.amount, reason)
            latest = self._declined(approved, reason)
        result = latest
        if step in _PENDING:
            result = attrs.evolve(approved, outcome=GatewayOutcome.PENDING, provider_code="pending")
        return self._finish(request, fingerprint, step, result, latest)

    def _finish(
        self,
        request: GatewayRequest,
        fingerprint: str,
        step: Step,
        result: GatewayResult,
        latest: GatewayResult,
    ) -> GatewayResult:
        self._records.record(request.idempotency_key, fingerprint, result)
        self._latest[request.idempotency_key] = latest
        if step is Step.TIMEOUT_AFTER_SUCCESS:
            raise GatewayUnavailable(
                self.name,
                request.operation.value,
                "timed out after the provider had done the work (scenario TIMEOUT_AFTER_SUCCESS)",
                idempotency_key=request.idempotency_key,
            )
        return result

    def _result(
        self,
        request: GatewayRequest,
        provider_ref: str,
        outcome: GatewayOutcome,
        *,
        action: RequiredAction | None = None,
    ) -> GatewayResult:
        return GatewayResult(
            operation=request.operation,
            outcome=outcome,
            idempotency_key=request.idempotency_key,
            payment_id=request.payment_id,
            provider_ref=provider_ref,
            amount=request.amount,
            provider_code=outcome.value,
            action=action,
        )

    @staticmethod
    def _declined(result: GatewayResult, reason: DeclineReason) -> GatewayResult:
        return attrs.evolve(
            result,
            outcome=GatewayOutcome.DECLINED,
            decline=Decline(reason, _MESSAGES[reason]),
            action=None,
            provider_code=reason.value,
        )

    def _expire_on_capture(
        self, request: CaptureRequest, fingerprint: str, auth: _Authorization
    ) -> GatewayResult:
        if auth.status != "expired":
            self._expire(auth)
        reason = DeclineReason.AUTHORIZATION_EXPIRED
        approved = self._result(request, self._next("fake-cap"), GatewayOutcome.APPROVED)
        declined = self._declined(approved, reason)
        return self._finish(request, fingerprint, Step.DECLINE, declined, declined)

    def _expire(self, auth: _Authorization) -> None:
        left = auth.balance().capturable
        auth.status = "expired"
        auth.released += left
        self._notify_about(
            auth, NotificationKind.EXPIRED, left, DeclineReason.AUTHORIZATION_EXPIRED
        )

    def _action_expired(self, auth: _Authorization) -> GatewayResult:
        reason = DeclineReason.ACTION_EXPIRED
        auth.status = "expired"
        self._notify_about(auth, NotificationKind.EXPIRED, auth.requested, reason)
        latest = self._declined(self._latest[auth.key], reason)
        self._latest[auth.key] = latest
        return latest

    def _notify(
        self,
        kind: NotificationKind,
        request: GatewayRequest,
        provider_ref: str,
        amount: Money,
        reason: DeclineReason | None = None,
    ) -> None:
        self._queue_notification(
            GatewayNotification(
                notification_id=self._next("fake-evt"),
                kind=kind,
                operation=request.operation,
                payment_id=request.payment_id,
                provider_ref=provider_ref,
                amount=amount,
                occurred_at=self._clock.now(),
                idempotency_key=request.idempotency_key,
                reason=reason,
                provider_code=kind.value,
            )
        )

    def _notify_about(
        self,
        auth: _Authorization,
        kind: NotificationKind,
        amount: Money,
        reason: DeclineReason | None = None,
    ) -> None:
        """Notify something that happened to the authorisation itself, outside any call."""
        self._queue_notification(
            GatewayNotification(
                notification_id=self._next("fake-evt"),
                kind=kind,
                operation=GatewayOperation.AUTHORIZE,
                payment_id=auth.payment_id,
                provider_ref=auth.ref,
                amount=amount,
                occurred_at=self._clock.now(),
                idempotency_key=auth.key,
                reason=reason,
                provider_code=kind.value,
            )
        )

    def _queue_notification(self, notification: GatewayNotification) -> None:
        entry = (notification.payment_id, notification)
        self._queue.append(entry)
        if self.scenario(notification.payment_id).notifications is Delivery.TWICE:
            self._queue.append(entry)

    @staticmethod
    def _distinct(entries: list[tuple[str, GatewayNotification]]) -> list[GatewayNotification]:
        return list({n.notification_id: n for _, n in entries}.values())
