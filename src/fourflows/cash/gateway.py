"""The payment gateway port: how fourflows talks to a payment provider.

A payment provider (a card acquirer, a wallet, a bank-transfer service) is
reached through `PaymentGateway`: four calls that move money, one that looks
a call up again, and one that reads the provider's notifications (webhooks).
Every value that crosses the port is defined here, so the application, the
`fourflows.adapters.fake_gateway.FakeGateway` and an integrator's adapter all
speak the same language:

* requests: `AuthorizeRequest`, `CaptureRequest`, `VoidRequest`,
  `RefundRequest`, each with an explicit idempotency key and amount;
* results: `GatewayResult`, whose `GatewayOutcome` is approved, declined
  (with a `Decline`), requires action (with a `RequiredAction`) or pending;
* notifications: `GatewayNotification`, read from a `NotificationPayload`,
  including the disputes (chargebacks) a provider reports: ``dispute_opened``,
  ``dispute_won`` and ``dispute_lost``;
* disputes: a provider that takes the shop's answer to a dispute through its
  API also implements `DisputeGateway` (`DisputeEvidenceRequest`,
  `DisputeEvidenceResult`).

**A decline is an answer, not an error.** Being declined is one of the normal
outcomes of asking a bank for money, so a call that is declined returns a
`GatewayResult` with outcome ``declined`` and a `DeclineReason`; it never
raises. Errors are kept for calls that went wrong:

* `fourflows.errors.GatewayUnavailable`: the provider did not answer (a
  timeout, a refused connection, a 5xx). **The outcome is unknown**: the
  provider may have done the work. Never treat it as failed; repeat the call
  with the same idempotency key, or `lookup` the key, before deciding.
* `fourflows.errors.IdempotencyConflict` (an `InvalidInput`): the key was
  used before for a different request.
* `fourflows.errors.InvalidInput` (and `CurrencyMismatch`): the request
  cannot be carried out: a capture above what is left of the authorisation,
  a refund above what was captured and not yet refunded, a void after a full
  capture, a currency other than the authorisation's, a notification payload
  that cannot be read or whose signature does not match.
* `fourflows.errors.NotFound`: the authorisation reference is unknown.

A call that raises `InvalidInput`, `IdempotencyConflict` or `NotFound`
changes nothing at the provider, and its key stays unused.

**Idempotency.** Each request has a fingerprint (`request_fingerprint`): a
stable hash of every field except the idempotency key. The gateway keeps, per
key, the fingerprint and the first result (`IdempotencyRecords` does it in
memory). The same key with the same request returns the first result and
does nothing twice; the same key with a different request raises
`IdempotencyConflict`. Keys are one namespace for all four calls.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Collection, Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar, Generic, Protocol, TypeVar, runtime_checkable

import attrs

from fourflows.errors import IdempotencyConflict, InvalidInput
from fourflows.events import aware, require_aware
from fourflows.money import Money

__all__ = [
    "DISPUTE_KINDS",
    "AuthorizeRequest",
    "CaptureRequest",
    "Decline",
    "DeclineReason",
    "DisputeEvidenceRequest",
    "DisputeEvidenceResult",
    "DisputeGateway",
    "DisputeReason",
    "GatewayNotification",
    "GatewayOperation",
    "GatewayOutcome",
    "GatewayRequest",
    "GatewayResult",
    "IdempotencyRecord",
    "IdempotencyRecords",
    "NotificationKind",
    "NotificationPayload",
    "PaymentGateway",
    "RefundRequest",
    "RequiredAction",
    "VoidRequest",
    "request_fingerprint",
]

PAYLOAD_TYPE = "fourflows.gateway.notification"
PAYLOAD_VERSION = 1


class GatewayOperation(enum.Enum):
    """The four calls that move money at a payment provider."""

    AUTHORIZE = "authorize"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"


class GatewayOutcome(enum.Enum):
    """What the provider answered.

    * ``APPROVED``: done.
    * ``DECLINED``: refused; `GatewayResult.decline` says why. Final for this
      key: to try again, send a new request under a new key.
    * ``REQUIRES_ACTION``: the customer must act first (3-D Secure, a wallet
      confirmation, paying into a virtual bank account) before
      `RequiredAction.deadline`; a notification tells how it ended.
    * ``PENDING``: accepted, but confirmed later by a notification (some
      providers only acknowledge captures, voids and refunds). Not failed and
      not done: wait for the notification, or `lookup` the key.
    """

    APPROVED = "approved"
    DECLINED = "declined"
    REQUIRES_ACTION = "requires_action"
    PENDING = "pending"


class DeclineReason(enum.Enum):
    """Why a provider declined, in fourflows' words; adapters map their provider's codes here.

    The provider's own code is kept beside it in ``provider_code``. Map a code
    you do not recognise to ``DECLINED``.
    """

    DECLINED = "declined"
    """Refused without a more precise reason (an issuer's "do not honour")."""
    INSUFFICIENT_FUNDS = "insufficient_funds"
    """The account or card has not enough money or credit left."""
    EXPIRED_CARD = "expired_card"
    """The card is past its expiry date."""
    INVALID_DETAILS = "invalid_details"
    """The card number, security code or account details are wrong."""
    SUSPECTED_FRAUD = "suspected_fraud"
    """The provider's or issuer's risk checks refused it."""
    AUTHENTICATION_FAILED = "authentication_failed"
    """The customer failed or abandoned 3-D Secure or the wallet confirmation."""
    ACTION_EXPIRED = "action_expired"
    """The customer did not act before the deadline (e.g. no bank transfer arrived)."""
    AUTHORIZATION_EXPIRED = "authorization_expired"
    """The authorisation lapsed before it was captured (cards hold about 5–7 days)."""
    PROCESSING_ERROR = "processing_error"
    """The provider answered that it could not process it; unlike a timeout, this is final."""


def _text(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{attribute.name} must be a non-empty string, not {value!r}")


def _optional_text(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _text(_, attribute, value)


def _any_text(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise InvalidInput(f"{attribute.name} must be a string, not {value!r}")


def _positive_money(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Money) or value.amount <= 0:
        raise InvalidInput(f"{attribute.name} must be positive Money, not {value!r}")
    try:
        value.get_amount_in_sub_unit()
    except InvalidInput:
        raise InvalidInput(
            f"{attribute.name} {value} has more decimals than the {value.code} minor unit; "
            "round it with round_money before sending it to a gateway"
        ) from None


def _member(kind: type[enum.Enum]) -> Any:
    def check(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, kind):
            allowed = ", ".join(repr(member.value) for member in kind)
            raise InvalidInput(
                f"{attribute.name} must be a {kind.__name__} ({allowed}), not {value!r}"
            )

    return check


@attrs.frozen
class Decline:
    """Why a request was declined: a `DeclineReason` and the provider's message.

    The message is for the shop's staff and logs; show the customer a text
    of your own chosen from ``reason``.
    """

    reason: DeclineReason = attrs.field(validator=_member(DeclineReason))
    message: str = attrs.field(validator=_text)


@attrs.frozen
class RequiredAction:
    """What the customer must do before an authorisation can go on, and by when.

    ``reference`` is the provider's name for the action; ``url`` is where to
    send the customer (3-D Secure, a wallet), or ``None`` when there is
    nothing to open (a virtual account to pay into: ``instructions`` says
    how). After ``deadline`` the provider gives up and notifies ``expired``.
    """

    reference: str = attrs.field(validator=_text)
    deadline: datetime = attrs.field(validator=aware)
    url: str | None = attrs.field(default=None, validator=_optional_text)
    instructions: str = attrs.field(default="")


@attrs.frozen(kw_only=True)
class AuthorizeRequest:
    """Ask the provider to hold ``amount`` for payment ``payment_id``.

    ``payment_method`` is the token the provider gave for the customer's
    card, wallet or account (never a card number). ``return_url`` is where
    the provider sends the customer back after an action such as 3-D Secure.
    """

    operation: ClassVar[GatewayOperation] = GatewayOperation.AUTHORIZE

    idempotency_key: str = attrs.field(validator=_text)
    payment_id: str = attrs.field(validator=_text)
    amount: Money = attrs.field(validator=_positive_money)
    payment_method: str = attrs.field(validator=_text)
    return_url: str | None = attrs.field(default=None, validator=_optional_text)


@attrs.frozen(kw_only=True)
class CaptureRequest:
    """Take ``amount`` of the authorisation ``authorization_ref`` (all of it, or part).

    ``authorization_ref`` is the ``provider_ref`` of the authorize result.
    """

    operation: ClassVar[GatewayOperation] = GatewayOperation.CAPTURE

    idempotency_key: str = attrs.field(validator=_text)
    payment_id: str = attrs.field(validator=_text)
    authorization_ref: str = attrs.field(validator=_text)
    amount: Money = attrs.field(validator=_positive_money)


@attrs.frozen(kw_only=True)
class VoidRequest:
    """Release what is left of the authorisation ``authorization_ref`` without taking it.

    ``amount`` is the amount released: everything not yet captured. A void
    is refused after a full capture (refund instead).
    """

    operation: ClassVar[GatewayOperation] = GatewayOperation.VOID

    idempotency_key: str = attrs.field(validator=_text)
    payment_id: str = attrs.field(validator=_text)
    authorization_ref: str = attrs.field(validator=_text)
    amount: Money = attrs.field(validator=_positive_money)


@attrs.frozen(kw_only=True)
class RefundRequest:
    """Give back ``amount`` of what was captured on ``authorization_ref``, for ``reason``."""

    operation: ClassVar[GatewayOperation] = GatewayOperation.REFUND

    idempotency_key: str = attrs.field(validator=_text)
    payment_id: str = attrs.field(validator=_text)
    authorization_ref: str = attrs.field(validator=_text)
    amount: Money = attrs.field(validator=_positive_money)
    reason: str = attrs.field(validator=_text)


GatewayRequest = AuthorizeRequest | CaptureRequest | VoidRequest | RefundRequest
"""Any of the four requests."""


@attrs.frozen(kw_only=True)
class GatewayResult:
    """The provider's answer to one request.

    ``provider_ref`` is the provider's reference of what the call made: the
    authorisation (pass it as ``authorization_ref`` to later calls), the
    capture, the void or the refund; notifications about it carry the same
    reference. ``amount`` is the amount the call was about. ``provider_code``
    is the provider's raw status or response code, kept for support and
    reconciliation. ``decline`` is set exactly when the outcome is
    ``DECLINED``, ``action`` exactly when it is ``REQUIRES_ACTION``.
    """

    operation: GatewayOperation = attrs.field(validator=_member(GatewayOperation))
    outcome: GatewayOutcome = attrs.field(validator=_member(GatewayOutcome))
    idempotency_key: str = attrs.field(validator=_text)
    payment_id: str = attrs.field(validator=_text)
    provider_ref: str = attrs.field(validator=_text)
    amount: Money = attrs.field(validator=_positive_money)
    provider_code: str = attrs.field(validator=_text)
    decline: Decline | None = None
    action: RequiredAction | None = None

    def __attrs_post_init__(self) -> None:
        declined = self.outcome is GatewayOutcome.DECLINED
        if declined != (self.decline is not None):
            raise InvalidInput(
                f"a {self.outcome.value} result {'needs' if declined else 'takes no'} "
                f"decline, got {self.decline!r}"
            )
        acting = self.outcome is GatewayOutcome.REQUIRES_ACTION
        if acting != (self.action is not None):
            raise InvalidInput(
                f"a {self.outcome.value} result {'needs' if acting else 'takes no'} "
                f"required action, got {self.action!r}"
            )
        if acting and self.operation is not GatewayOperation.AUTHORIZE:
            raise InvalidInput(
                f"only an authorisation can require action, not a {self.operation.value}"
            )

    @property
    def accepted(self) -> bool:
        """Whether the provider took the request: approved, or pending confirmation."""
        return self.outcome in (GatewayOutcome.APPROVED, GatewayOutcome.PENDING)


class NotificationKind(enum.Enum):
    """What a provider's notification reports."""

    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    VOIDED = "voided"
    REFUNDED = "refunded"
    FAILED = "failed"
    """A call, or an action the customer took, ended without success."""
    EXPIRED = "expired"
    """An authorisation lapsed, or the customer did not act before the deadline."""
    ACTION_REQUIRED = "action_required"
    DISPUTE_OPENED = "dispute_opened"
    """The customer's bank disputes a captured amount; the shop must answer by ``respond_by``."""
    DISPUTE_WON = "dispute_won"
    """The bank ruled a dispute for the shop: the disputed money stays with it."""
    DISPUTE_LOST = "dispute_lost"
    """A dispute ended against the shop: the disputed money went back to the customer."""


DISPUTE_KINDS: frozenset[NotificationKind] = frozenset(
    {NotificationKind.DISPUTE_OPENED, NotificationKind.DISPUTE_WON, NotificationKind.DISPUTE_LOST}
)
"""The notification kinds about disputes; they carry a ``dispute_id`` and report on a capture."""


class DisputeReason(enum.Enum):
    """Why the customer's bank disputes a payment, in fourflows' words.

    Adapters map their provider's reason codes here and keep the raw code in
    ``provider_code``; map a code you do not recognise to ``GENERAL``.
    """

    FRAUDULENT = "fraudulent"
    """The cardholder says they did not make the payment."""
    PRODUCT_NOT_RECEIVED = "product_not_received"
    """The customer says the goods never arrived."""
    PRODUCT_UNACCEPTABLE = "product_unacceptable"
    """The goods arrived defective, damaged or not as described."""
    DUPLICATE = "duplicate"
    """The customer says they were charged twice for one purchase."""
    CREDIT_NOT_PROCESSED = "credit_not_processed"
    """A refund the customer was promised never arrived."""
    SUBSCRIPTION_CANCELED = "subscription_canceled"
    """The customer was charged after canceling a recurring payment."""
    UNRECOGNIZED = "unrecognized"
    """The cardholder does not recognise the charge on their statement."""
    GENERAL = "general"
    """Any other reason, or one the adapter does not recognise."""


_KIND_OPERATIONS: Mapping[NotificationKind, frozenset[GatewayOperation]] = {
    NotificationKind.AUTHORIZED: frozenset({GatewayOperation.AUTHORIZE}),
    NotificationKind.CAPTURED: frozenset({GatewayOperation.CAPTURE}),
    NotificationKind.VOIDED: frozenset({GatewayOperation.VOID}),
    NotificationKind.REFUNDED: frozenset({GatewayOperation.REFUND}),
    NotificationKind.FAILED: frozenset(GatewayOperation),
    NotificationKind.EXPIRED: frozenset({GatewayOperation.AUTHORIZE}),
    NotificationKind.ACTION_REQUIRED: frozenset({GatewayOperation.AUTHORIZE}),
    NotificationKind.DISPUTE_OPENED: frozenset({GatewayOperation.CAPTURE}),
    NotificationKind.DISPUTE_WON: frozenset({GatewayOperation.CAPTURE}),
    NotificationKind.DISPUTE_LOST: frozenset({GatewayOperation.CAPTURE}),
}
_KINDS_WITH_REASON = frozenset({NotificationKind.FAILED, NotificationKind.EXPIRED})


def _lower_headers(value: Mapping[str, str] | None) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidInput(f"headers must map names to values, both strings, not {value!r}")
    return {name.lower(): text for name, text in value.items()}


def _body(value: bytes | str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if not isinstance(value, bytes):
        raise InvalidInput(f"a notification body is bytes or str, not {value!r}")
    return value


@attrs.frozen
class NotificationPayload:
    """A notification as it arrives over HTTP: the raw body and the headers.

    Header names are kept in lower case. Pass the body exactly as received:
    providers sign the raw bytes, and an adapter checks the signature (a
    header) before it trusts anything in the body.
    """

    body: bytes = attrs.field(converter=_body)
    headers: dict[str, str] = attrs.field(factory=dict, converter=_lower_headers)


@attrs.frozen(kw_only=True)
class GatewayNotification:
    """A provider's asynchronous report (a webhook) about one payment.

    ``notification_id`` is the provider's id of the report: a repeated
    delivery carries the same id, so the application applies each id once.
    Notifications may come twice, late, or out of order (``captured`` before
    ``authorized``): apply them by what they say, not by when they arrive.

    ``provider_ref`` is the reference of what the report is about, the same
    as the ``provider_ref`` of the call's `GatewayResult`; ``operation`` says
    which call that was. ``idempotency_key`` is that call's key when the
    provider echoes it back, else ``None``. ``reason`` is set exactly for
    ``failed`` and ``expired``. ``provider_code`` is the provider's raw code.

    **Disputes.** The three dispute kinds report on a capture (``operation``
    is ``capture``, ``provider_ref`` the disputed capture's reference) and
    carry the provider's ``dispute_id``; ``amount`` is the disputed amount.
    ``dispute_opened`` also carries the ``dispute_reason`` and ``respond_by``,
    the last moment the shop can answer; the other kinds take neither.
    """

    notification_id: str = attrs.field(validator=_text)
    kind: NotificationKind = attrs.field(validator=_member(NotificationKind))
    operation: GatewayOperation = attrs.field(validator=_member(GatewayOperation))
    payment_id: str = attrs.field(validator=_text)
    provider_ref: str = attrs.field(validator=_text)
    amount: Money = attrs.field(validator=_positive_money)
    occurred_at: datetime = attrs.field(validator=aware)
    idempotency_key: str | None = attrs.field(default=None, validator=_optional_text)
    reason: DeclineReason | None = None
    provider_code: str = attrs.field(default="", validator=_any_text)
    dispute_id: str | None = attrs.field(default=None, validator=_optional_text)
    dispute_reason: DisputeReason | None = None
    respond_by: datetime | None = None

    def __attrs_post_init__(self) -> None:
        self._check_dispute()
        allowed = _KIND_OPERATIONS[self.kind]
        if self.operation not in allowed:
            names = ", ".join(sorted(operation.value for operation in allowed))
            raise InvalidInput(
                f"a {self.kind.value!r} notification reports on {names}, "
                f"not on {self.operation.value!r}"
            )
        needs_reason = self.kind in _KINDS_WITH_REASON
        if needs_reason and not isinstance(self.reason, DeclineReason):
            raise InvalidInput(
                f"a {self.kind.value!r} notification needs a DeclineReason, not {self.reason!r}"
            )
        if not needs_reason and self.reason is not None:
            raise InvalidInput(f"a {self.kind.value!r} notification takes no reason")

    def _check_dispute(self) -> None:
        kind = self.kind.value if isinstance(self.kind, NotificationKind) else repr(self.kind)
        disputed = self.kind in DISPUTE_KINDS
        if disputed and self.dispute_id is None:
            raise InvalidInput(f"a {kind!r} notification needs the provider's dispute_id")
        if not disputed and self.dispute_id is not None:
            raise InvalidInput(
                f"a {kind!r} notification takes no dispute_id (got {self.dispute_id!r}); "
                f"only {', '.join(sorted(k.value for k in DISPUTE_KINDS))} do"
            )
        opened = self.kind is NotificationKind.DISPUTE_OPENED
        if opened and not isinstance(self.dispute_reason, DisputeReason):
            raise InvalidInput(
                "a 'dispute_opened' notification needs a DisputeReason, "
                f"not {self.dispute_reason!r}"
            )
        if opened and not isinstance(self.respond_by, datetime):
            raise InvalidInput(
                f"a 'dispute_opened' notification needs respond_by, a datetime, not "
                f"{self.respond_by!r}"
            )
        if opened:
            assert self.respond_by is not None
            require_aware(self.respond_by, "respond_by")
        if not opened and (self.dispute_reason is not None or self.respond_by is not None):
            raise InvalidInput(
                f"a {kind!r} notification takes no dispute_reason or respond_by; "
                "only 'dispute_opened' does"
            )

    @property
    def is_dispute(self) -> bool:
        """Whether the notification is about a dispute (one of `DISPUTE_KINDS`)."""
        return self.kind in DISPUTE_KINDS

    def to_payload(self) -> NotificationPayload:
        """The notification in fourflows' own JSON webhook form, which `from_payload` reads."""
        document = {
            "type": PAYLOAD_TYPE,
            "version": PAYLOAD_VERSION,
            "id": self.notification_id,
            "kind": self.kind.value,
            "operation": self.operation.value,
            "payment_id": self.payment_id,
            "provider_ref": self.provider_ref,
            "amount": self.amount.to_json(),
            "occurred_at": self.occurred_at.isoformat(),
            "idempotency_key": self.idempotency_key,
            "reason": None if self.reason is None else self.reason.value,
            "provider_code": self.provider_code,
        }
        if self.dispute_id is not None:
            document["dispute_id"] = self.dispute_id
        if self.dispute_reason is not None:
            document["dispute_reason"] = self.dispute_reason.value
        if self.respond_by is not None:
            document["respond_by"] = self.respond_by.isoformat()
        body = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return NotificationPayload(body, {"content-type": "application/json"})

    @classmethod
    def from_payload(cls, payload: NotificationPayload) -> GatewayNotification:
        """Read fourflows' JSON webhook form; `InvalidInput` names what is wrong with it."""
        if not isinstance(payload, NotificationPayload):
            raise InvalidInput(f"expected a NotificationPayload, not {payload!r}")
        try:
            document = json.loads(payload.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInput(
                f"a notification body must be UTF-8 JSON, not {payload.body[:60]!r}: {exc}"
            ) from None
        if not isinstance(document, dict):
            raise InvalidInput(f"a notification body must be a JSON object, not {document!r}")
        if (document.get("type"), document.get("version")) != (PAYLOAD_TYPE, PAYLOAD_VERSION):
            raise InvalidInput(
                f"not a fourflows notification: type {document.get('type')!r} version "
                f"{document.get('version')!r}; expected {PAYLOAD_TYPE!r} version {PAYLOAD_VERSION}"
            )
        required = ("id", "kind", "operation", "payment_id", "provider_ref", "amount")
        missing = [name for name in (*required, "occurred_at") if name not in document]
        if missing:
            raise InvalidInput(f"a notification body lacks {', '.join(missing)}")
        reason = document.get("reason")
        dispute_reason = document.get("dispute_reason")
        respond_by = document.get("respond_by")
        return cls(
            notification_id=document["id"],
            kind=_enum(NotificationKind, document["kind"], "kind"),
            operation=_enum(GatewayOperation, document["operation"], "operation"),
            payment_id=document["payment_id"],
            provider_ref=document["provider_ref"],
            amount=Money.from_json(document["amount"]),
            occurred_at=_timestamp(document["occurred_at"]),
            idempotency_key=document.get("idempotency_key"),
            reason=None if reason is None else _enum(DeclineReason, reason, "reason"),
            provider_code=_string(document.get("provider_code", ""), "provider_code"),
            dispute_id=document.get("dispute_id"),
            dispute_reason=(
                None
                if dispute_reason is None
                else _enum(DisputeReason, dispute_reason, "dispute_reason")
            ),
            respond_by=None if respond_by is None else _timestamp(respond_by, "respond_by"),
        )


E = TypeVar("E", bound=enum.Enum)


def _enum(kind: type[E], value: object, name: str) -> E:
    for member in kind:
        if member.value == value:
            return member
    allowed = ", ".join(repr(member.value) for member in kind)
    raise InvalidInput(f"{name} must be one of {allowed}, not {value!r}")


def _string(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string, not {value!r}")
    return value


def _timestamp(value: object, name: str = "occurred_at") -> datetime:
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be an ISO 8601 string, not {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} {value!r} is not an ISO 8601 time") from None
    return require_aware(parsed, name)


class PaymentGateway(Protocol):
    """A payment provider, as fourflows uses it.

    **Idempotency keys.** ``authorize``, ``capture``, ``void`` and ``refund``
    each carry an idempotency key in their request. Sending the same request
    under the same key again returns the first result and does nothing twice
    (it does not return a newer status: use `lookup` for that). Sending a
    different request under a used key raises `IdempotencyConflict`, naming
    the key; nothing happens. A key used by one of the four calls cannot be
    used by another.

    **Timeouts.** When the provider does not answer (timeout, connection
    error, server error) an adapter raises `GatewayUnavailable` in place of
    its driver's error. The outcome is then *unknown*, never "failed": the
    provider may have done the work and will say so in a notification. Repeat
    the call with the same key, or `lookup` the key, to find out.

    **Declines** are results (outcome ``declined``), not errors. Requests the
    provider cannot carry out raise `InvalidInput` (see the module docs) or,
    for an unknown ``authorization_ref``, `NotFound`; they change nothing and
    leave the key unused.

    **Notifications** arrive on the provider's own schedule: they may repeat
    (same ``notification_id``), arrive late, or out of order. They are read
    with `parse_notification`; applying each one once, in a way that does not
    depend on their order, is the application's job.

    Amounts are explicit in every request and must be whole minor units
    (round with `fourflows.money.round_money` first). An adapter is used by
    one thread at a time unless it says otherwise.
    """

    def authorize(self, request: AuthorizeRequest) -> GatewayResult:
        """Hold ``request.amount``: approved, declined, requires action, or pending.

        Raises `GatewayUnavailable` (outcome unknown), `IdempotencyConflict`,
        or `InvalidInput` if the payment already holds an authorisation.
        """
        ...

    def capture(self, request: CaptureRequest) -> GatewayResult:
        """Take part or all of what the authorisation holds.

        Raises `InvalidInput` above what is left to capture, for a voided,
        declined or still unconfirmed authorisation, or in another currency;
        `NotFound` for an unknown authorisation; `GatewayUnavailable` when the
        outcome is unknown. A lapsed authorisation is declined
        (``authorization_expired``).
        """
        ...

    def void(self, request: VoidRequest) -> GatewayResult:
        """Release what is left of the authorisation; ``amount`` must be all of it.

        Raises `InvalidInput` when nothing is left to release (fully captured:
        refund instead; already voided or expired) or the amount is not what
        is left; `NotFound` for an unknown authorisation; `GatewayUnavailable`
        when the outcome is unknown.
        """
        ...

    def refund(self, request: RefundRequest) -> GatewayResult:
        """Give back part or all of what was captured and not yet refunded.

        Raises `InvalidInput` above the refundable amount or in another
        currency; `NotFound` for an unknown authorisation;
        `GatewayUnavailable` when the outcome is unknown.
        """
        ...

    def lookup(self, idempotency_key: str) -> GatewayResult | None:
        """The call made under ``idempotency_key``, as the provider sees it now.

        Unlike repeating the call, this reports the latest status: a pending
        capture since confirmed looks up as approved, an authorisation whose
        customer completed 3-D Secure as approved. ``None`` means the provider
        never received a request under that key, so sending it again is safe.
        Raises `GatewayUnavailable` if the provider cannot answer now.
        """
        ...

    def parse_notification(self, payload: NotificationPayload) -> GatewayNotification:
        """Read and verify one notification as received from the provider.

        Raises `InvalidInput` for a payload that cannot be read, that lacks a
        field, or whose signature does not match. Parsing the same payload
        twice gives equal notifications. Parsing changes nothing.
        """
        ...


# --- disputes ------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class DisputeEvidenceRequest:
    """Answer the provider's dispute ``dispute_id`` on payment ``payment_id`` with ``evidence``.

    ``evidence`` is the shop's case as text: what was sold, the tracking
    number and proof of delivery, the customer's messages. Files a provider
    wants are uploaded by the adapter from references given here.
    """

    idempotency_key: str = attrs.field(validator=_text)
    dispute_id: str = attrs.field(validator=_text)
    payment_id: str = attrs.field(validator=_text)
    evidence: str = attrs.field(validator=_text)


@attrs.frozen(kw_only=True)
class DisputeEvidenceResult:
    """The provider took the evidence: the dispute is now under the bank's review.

    ``provider_ref`` is the provider's reference of the submission (often
    the dispute id itself); ``provider_code`` its raw status. How the review
    ends comes later, as a ``dispute_won`` or ``dispute_lost`` notification.
    """

    idempotency_key: str = attrs.field(validator=_text)
    dispute_id: str = attrs.field(validator=_text)
    payment_id: str = attrs.field(validator=_text)
    provider_ref: str = attrs.field(validator=_text)
    provider_code: str = attrs.field(validator=_text)


@runtime_checkable
class DisputeGateway(Protocol):
    """A provider that takes the shop's answer to a dispute through its API.

    Optional beside `PaymentGateway`: a provider whose disputes are answered
    in its dashboard does not implement it, and the shop then only records
    its answer. ``isinstance(gateway, DisputeGateway)`` tells them apart.

    **Failure semantics**, as for the payment calls:

    * the same request under the same key returns the first result and
      submits nothing twice; another request under a used key raises
      `IdempotencyConflict`;
    * `GatewayUnavailable`: the provider did not answer, **the outcome is
      unknown**: repeat the call under the same key;
    * `NotFound`: the provider knows no dispute ``dispute_id``;
    * `InvalidInput`: the dispute cannot take evidence any more (its
      ``respond_by`` passed, it was already answered with other evidence,
      or it is closed), or it is not a dispute of ``payment_id``.

    A call that raises anything but `GatewayUnavailable` submits nothing
    and leaves its key unused. Evidence keys are their own namespace.
    """

    def submit_dispute_evidence(self, request: DisputeEvidenceRequest) -> DisputeEvidenceResult:
        """Submit the evidence; the bank then reviews the dispute."""
        ...


# --- fingerprints and idempotency records -----------------------------------------------


def _canonical(value: object) -> object:
    """``value`` as plain JSON data that is equal exactly when the values are equal."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Money):
        return {"money": [_decimal_text(value.amount), value.code]}
    if isinstance(value, Decimal):
        return {"decimal": _decimal_text(value)}
    if isinstance(value, float):
        return {"float": repr(value)}
    if isinstance(value, enum.Enum):
        return {"enum": [type(value).__name__, _canonical(value.value)]}
    if isinstance(value, datetime | date):
        return {type(value).__name__: value.isoformat()}
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise InvalidInput(f"cannot fingerprint a mapping with non-string keys: {value!r}")
        return {"map": {key: _canonical(item) for key, item in value.items()}}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, set | frozenset):
        return {"set": sorted((_canonical(item) for item in value), key=_dumps)}
    if attrs.has(type(value)):
        return _described(value, ())
    raise InvalidInput(
        f"cannot fingerprint {value!r}: use str, int, Decimal, Money, enums, "
        "datetimes, lists, mappings or attrs classes"
    )


def _decimal_text(number: Decimal) -> str:
    # 100, 100.0 and 100.00 are one amount: normalise them to one text.
    return "0" if number.is_zero() else format(number.normalize(), "f")


def _dumps(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _described(value: object, exclude: Collection[str]) -> dict[str, object]:
    kind = type(value)
    fields: Mapping[str, object]
    if attrs.has(kind):
        fields = {field.name: getattr(value, field.name) for field in attrs.fields(kind)}
    elif callable(getattr(value, "model_dump", None)):  # a pydantic model, e.g. a command
        fields = value.model_dump()  # type: ignore[attr-defined]
    elif isinstance(value, Mapping):
        fields = value
    else:
        raise InvalidInput(
            f"cannot fingerprint {value!r}: a request is an attrs class, a pydantic model "
            "or a mapping"
        )
    kept = {name: item for name, item in fields.items() if name not in exclude}
    return {"type": kind.__name__, "fields": _canonical(kept)}


def request_fingerprint(request: object, *, exclude: Collection[str] = ("idempotency_key",)) -> str:
    """A stable hash of ``request``'s type and fields, leaving out the idempotency key.

    Two requests get the same fingerprint exactly when they are of the same
    type and their fields are equal (``Money("100", "TWD")`` and
    ``Money("100.00", "TWD")`` are equal). It is the same in every process
    and on every machine, so it can be stored. Works for attrs classes (the
    gateway requests), pydantic models (commands) and mappings; ``exclude``
    names the fields left out.

    >>> from fourflows.money import Money
    >>> def capture(key: str, amount: str) -> CaptureRequest:
    ...     money = Money(amount, "TWD")
    ...     return CaptureRequest(
    ...         idempotency_key=key, payment_id="p", authorization_ref="a", amount=money
    ...     )
    >>> request_fingerprint(capture("k-1", "5")) == request_fingerprint(capture("k-2", "5.00"))
    True
    >>> request_fingerprint(capture("k-1", "5")) == request_fingerprint(capture("k-1", "6"))
    False
    >>> request_fingerprint(capture("k-1", "5"))[:7]
    'sha256:'
    """
    text = _dumps(_described(request, frozenset(exclude)))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


R = TypeVar("R")


@attrs.frozen
class IdempotencyRecord(Generic[R]):
    """What was answered under one idempotency key: the request's fingerprint and the result."""

    key: str
    fingerprint: str
    result: R


class IdempotencyRecords(Generic[R]):
    """Remembers, per idempotency key, the fingerprint of its request and its first result.

    Use it around any call that must happen at most once per key::

        done = records.check(request.idempotency_key, request_fingerprint(request))
        if done is not None:
            return done  # a repeat: answer as the first time, do nothing
        result = ...  # do the work
        return records.record(request.idempotency_key, fingerprint, result)

    Results must not be ``None``. The records live in memory; an adapter or
    application that must survive a restart stores the same three fields in
    its database, in the same transaction as the work.
    """

    def __init__(self) -> None:
        self._records: dict[str, IdempotencyRecord[R]] = {}

    def check(self, key: str, fingerprint: str) -> R | None:
        """The first result under ``key``; ``None`` if the key is new.

        Raises `IdempotencyConflict` if ``key`` was used for a request with
        another fingerprint.
        """
        record = self._records.get(key)
        if record is None:
            return None
        if record.fingerprint != fingerprint:
            raise IdempotencyConflict(key, recorded=record.fingerprint, given=fingerprint)
        return record.result

    def record(self, key: str, fingerprint: str, result: R) -> R:
        """Remember ``result`` under ``key`` and return it; a repeat keeps and returns the first.

        Raises `InvalidInput` for an empty key or a ``None`` result, and
        `IdempotencyConflict` if ``key`` is taken by another request.
        """
        if not isinstance(key, str) or not key.strip():
            raise InvalidInput(f"an idempotency key must be a non-empty string, not {key!r}")
        if result is None:
            raise InvalidInput(f"the result recorded under {key!r} must not be None")
        first = self.check(key, fingerprint)
        if first is not None:
            return first
        self._records[key] = IdempotencyRecord(key, fingerprint, result)
        return result

    def get(self, key: str) -> IdempotencyRecord[R] | None:
        """The record under ``key``, or ``None``."""
        return self._records.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._records

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[IdempotencyRecord[R]]:
        """The records, oldest first."""
        return iter(list(self._records.values()))
