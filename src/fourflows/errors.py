"""Every error fourflows raises, under one root.

Catch `FourFlowsError` to catch them all, or a subclass to catch one meaning.
Each error that is also a builtin kind of error subclasses that builtin too, so
``except ValueError`` keeps working around fourflows calls.

```
FourFlowsError
├── InvalidInput (ValueError)            a value is outside what is allowed
│   ├── FloatNotAllowed (TypeError)      a float was given where money is meant
│   ├── CurrencyMismatch (TypeError)     two currencies were mixed
│   └── IdempotencyConflict              an idempotency key came back with a
│                                        different request
├── InvalidTransition                    a state machine was asked for a move it
│   └── GuardRejected                    does not declare, or whose guard refused
├── NotFound (LookupError)               no such aggregate, machine or event type
├── NotEligible                          an option (a shipping service, ...) cannot
│                                        serve this request; the reason says why
├── InsufficientStock                    fewer units are available than asked for
├── InsufficientBalance                  a gift card or store credit holds less
│                                        than asked for
├── ConcurrencyConflict                  someone else saved the aggregate first
├── GatewayUnavailable                   a payment gateway gave no answer: the
│                                        outcome is unknown (not failed); repeat
│                                        with the same idempotency key or look it up
├── CarrierUnavailable                   a carrier gave no answer; repeat with the
│                                        same idempotency key
└── TaxServiceUnavailable                a tax provider cannot answer now; retry
                                         later or fall back to a tax table
```

Messages name the offending value and what is allowed instead. An operation
that raises leaves every aggregate and store as it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "CarrierUnavailable",
    "ConcurrencyConflict",
    "CurrencyMismatch",
    "FloatNotAllowed",
    "FourFlowsError",
    "GatewayUnavailable",
    "GuardRejected",
    "IdempotencyConflict",
    "InsufficientBalance",
    "InsufficientStock",
    "InvalidInput",
    "InvalidTransition",
    "NotEligible",
    "NotFound",
    "TaxServiceUnavailable",
]


class FourFlowsError(Exception):
    """The root of every error fourflows raises.

    Errors copy and pickle with their attributes, whatever their constructor
    takes, so a value that keeps one (a quote's record of ineligible
    services) can be stored and copied like any other.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuilt, (type(self), self.args, dict(self.__dict__)))


def _rebuilt(kind: type[FourFlowsError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    """An error of ``kind`` with ``args`` and attributes ``state``, its constructor bypassed."""
    error = kind.__new__(kind, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class InvalidInput(FourFlowsError, ValueError):
    """A value is not allowed here; the message names it and what is allowed."""


class FloatNotAllowed(InvalidInput, TypeError):
    """A float was given where an exact amount is needed.

    Floats cannot hold most decimal fractions exactly (``0.1 + 0.2 != 0.3``), so
    money takes `str`, `int` or `decimal.Decimal` only.
    """

    def __init__(self, value: float, where: str = "an amount") -> None:
        super().__init__(
            f"{where} must be str, int or Decimal, not the float {value!r}; "
            f"write it as a string, e.g. {str(value)!r}"
        )
        self.value = value


class CurrencyMismatch(InvalidInput, TypeError):
    """Two different currencies met where one is required."""

    def __init__(self, expected: str, got: str, operation: str = "combine") -> None:
        super().__init__(f"cannot {operation} {got} with {expected}: one currency is required")
        self.expected = expected
        self.got = got


def _listed(names: Iterable[str], empty: str) -> str:
    ordered = sorted(names)
    return ", ".join(repr(name) for name in ordered) if ordered else empty


class InvalidTransition(FourFlowsError):
    """A state machine was asked for an event it does not allow from the current state.

    Attributes name the machine, the aggregate, its current state, the refused
    event and the events that are allowed from that state.
    """

    def __init__(
        self,
        *,
        machine: str,
        aggregate_id: str,
        state: str,
        event: str,
        allowed: Iterable[str],
        reason: str = "",
    ) -> None:
        self.machine = machine
        self.aggregate_id = aggregate_id
        self.state = state
        self.event = event
        self.allowed: tuple[str, ...] = tuple(sorted(allowed))
        because = reason or f"{event!r} is not a move from {state!r}"
        super().__init__(
            f"{machine} {aggregate_id!r} in state {state!r} cannot {event!r}: {because}; "
            f"allowed from {state!r}: {_listed(self.allowed, 'none, it is a final state')}"
        )


class GuardRejected(InvalidTransition):
    """The move is declared, but its guard refused it in the aggregate's present condition."""


class NotFound(FourFlowsError, LookupError):
    """Nothing is known under the given name or id."""

    def __init__(self, kind: str, key: str, known: Iterable[str] | None = None) -> None:
        message = f"no {kind} {key!r}"
        if known is not None:
            message += f"; known: {_listed(known, 'none')}"
        super().__init__(message)
        self.kind = kind
        self.key = key


class NotEligible(FourFlowsError):
    """An option cannot serve this request, such as a shipping service that cannot carry a cart.

    ``kind`` and ``key`` name the option (``"shipping service"``, ``"tw-cvs"``),
    ``reason`` says why in words and ``code`` is a stable identifier of the
    rule that refused it (``"weight"``, ``"handling"``, ``"cod_cap"``, ...).
    Rate shopping keeps these as the record of every service it left out.
    """

    def __init__(self, kind: str, key: str, reason: str, *, code: str = "not_eligible") -> None:
        super().__init__(f"{kind} {key!r} is not eligible: {reason}")
        self.kind = kind
        self.key = key
        self.reason = reason
        self.code = code


class InsufficientStock(FourFlowsError):
    """Fewer units of a sku are available than were asked for, and it allows no backorder.

    ``location`` is ``None`` when the shortfall is over every location.
    """

    def __init__(
        self, sku: str, *, requested: int, available: int, location: str | None = None
    ) -> None:
        where = "" if location is None else f" at {location!r}"
        super().__init__(
            f"cannot take {requested} of {sku!r}{where}: only {available} available "
            "and it allows no backorder"
        )
        self.sku = sku
        self.requested = requested
        self.available = available
        self.location = location


class InsufficientBalance(FourFlowsError):
    """A stored-value account (gift card, store credit) holds less than was asked for.

    ``requested`` and ``available`` are the amounts, as text with currency.
    """

    def __init__(self, account: str, *, requested: str, available: str) -> None:
        super().__init__(f"account {account!r} cannot give {requested}: its balance is {available}")
        self.account = account
        self.requested = requested
        self.available = available


class ConcurrencyConflict(FourFlowsError):
    """An aggregate changed in the store after it was loaded; reload and retry."""

    def __init__(self, kind: str, key: str, expected: int, found: int) -> None:
        super().__init__(
            f"{kind} {key!r} was saved by someone else: loaded at version {expected}, "
            f"the store now has version {found}; reload it and try again"
        )
        self.kind = kind
        self.key = key
        self.expected = expected
        self.found = found


class TaxServiceUnavailable(FourFlowsError):
    """A tax provider cannot answer now: its service is down, unreachable or too slow.

    Adapters of `fourflows.tax.TaxProvider` raise it in place of their driver's
    errors (``raise TaxServiceUnavailable(...) from exc``). Computing tax
    records nothing, so the caller may retry, or fall back to a tax table.
    """

    def __init__(self, provider: str, reason: str) -> None:
        super().__init__(
            f"tax provider {provider!r} cannot answer now: {reason}; "
            "retry later or fall back to a tax table"
        )
        self.provider = provider
        self.reason = reason


class IdempotencyConflict(InvalidInput):
    """An idempotency key was used again for a different request.

    A key stands for one request: repeating the request under its key returns
    the first result, but a request with other details (another amount,
    another payment) under a used key is refused, never answered with the
    old result. ``recorded`` and ``given`` are the two requests' fingerprints.
    """

    def __init__(self, key: str, *, recorded: str, given: str) -> None:
        super().__init__(
            f"idempotency key {key!r} was already used for a different request "
            f"(fingerprint {recorded[:19]}..., this request {given[:19]}...); "
            "repeat the first request unchanged, or send this one under a new key"
        )
        self.key = key
        self.recorded = recorded
        self.given = given


class GatewayUnavailable(FourFlowsError):
    """A payment gateway gave no answer: a timeout, a lost connection, a server error.

    The outcome is unknown, not failed: the provider may have done the work
    and will tell in a notification. Repeat the call with the same
    idempotency key (it will not be done twice), or look the key up, before
    deciding. Gateway adapters raise it in place of their driver's errors
    (``raise GatewayUnavailable(...) from exc``).
    """

    def __init__(
        self, gateway: str, operation: str, reason: str, *, idempotency_key: str | None = None
    ) -> None:
        keyed = "" if idempotency_key is None else f" with idempotency key {idempotency_key!r}"
        super().__init__(
            f"payment gateway {gateway!r} gave no answer to {operation}{keyed}: {reason}; "
            "the outcome is unknown, not failed: repeat the call with the same idempotency "
            "key, or look the key up, before deciding"
        )
        self.gateway = gateway
        self.operation = operation
        self.reason = reason
        self.idempotency_key = idempotency_key


class CarrierUnavailable(FourFlowsError):
    """A carrier gave no answer (a timeout, a lost connection, a server error).

    Like `GatewayUnavailable`, the outcome is unknown: repeat the call with the
    same idempotency key, which the carrier must not act on twice.
    """

    def __init__(self, carrier: str, operation: str, reason: str) -> None:
        super().__init__(
            f"carrier {carrier!r} gave no answer to {operation}: {reason}; "
            "repeat the call with the same idempotency key"
        )
        self.carrier = carrier
        self.operation = operation
        self.reason = reason
