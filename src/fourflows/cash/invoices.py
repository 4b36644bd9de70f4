"""Invoices and credit notes (開立發票, 折讓): the tax documents of a sale and its refunds.

An `Invoice` is issued for the units of an order: all of them once the order
is paid (`invoice_order`), or those of one shipment (`invoice_shipment`),
as `InvoiceTiming` says. Its lines copy what each unit paid and the tax
inside it from the order, which froze them from the quote, so the invoices
of an order add up exactly to the order: nothing is taxed again and no
rounding happens twice. The tax breakdown per rate (`Invoice.breakdown`)
adds the lines up, so it always agrees with them.

A `CreditNote` (折讓單) gives back part of an invoice for a refund: whole
units (`Invoice.credit_units`) or an amount (`Invoice.credit_amount`,
spread over the lines with `fourflows.money.allocate`). Every credit note
is checked against what the invoice has left after the earlier ones: per
line, its gross, net and tax never exceed what is left, and asking for more
raises `CreditExceedsInvoice` naming the invoice, the amount asked and what
is left. A fully credited invoice stays issued, with nothing left to
credit (`InvoiceStatus.FULLY_CREDITED`): it is not voided, because a credit
note and a void are different acts for a tax office. Voiding
(`Invoice.void`, 作廢) is for an invoice that should never have been issued
and is allowed only while no credit note refers to it.

Taiwanese fields are validated here: the buyer's business number (統一編號)
with `check_business_number`, the carrier (載具) with `Carrier` and the
donation code (愛心碼) with `check_donation_code`. An invoice with a buyer
business number is a B2B invoice and cannot be donated; an invoice is kept
in a carrier or donated, not both.

Invoice numbers come from an `InvoiceNumbering` port;
`fourflows.adapters.tw_einvoice` numbers them in the Taiwan e-invoice style.
Everything here is a pure function of its arguments: the caller keeps the
invoices and credit notes and passes the earlier ones back in.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import attrs

from fourflows.commerce.order import LineItems, LineQuantity, Order, OrderLine
from fourflows.errors import CurrencyMismatch, FourFlowsError, InvalidInput
from fourflows.events import require_aware
from fourflows.geo import country_code
from fourflows.money import Money, Precision, allocate, currency_code, round_money, sum_money
from fourflows.tax import EXEMPT, STANDARD, PriceMode, RateTotal

__all__ = [
    "SHIPPING",
    "Carrier",
    "CarrierKind",
    "CreditExceedsInvoice",
    "CreditLine",
    "CreditNote",
    "InvalidBusinessNumber",
    "Invoice",
    "InvoiceLine",
    "InvoiceNumberOutOfRange",
    "InvoiceNumberReused",
    "InvoiceNumbering",
    "InvoiceNumbersExhausted",
    "InvoiceStatus",
    "InvoiceTiming",
    "Party",
    "check_business_number",
    "check_donation_code",
    "invoice_items",
    "invoice_order",
    "invoice_shipment",
    "is_valid_business_number",
]

SHIPPING = "shipping"
"""The key of the shipping line of an invoice (its ``sku``)."""


# --- errors ----------------------------------------------------------------------------------


class InvalidBusinessNumber(InvalidInput):
    """A Taiwanese business number (統一編號) is not 8 digits or fails its check rule."""

    def __init__(self, value: object, reason: str) -> None:
        super().__init__(
            f"{value!r} is not a valid Taiwanese business number (統一編號): {reason}; "
            "a business number is 8 digits whose weighted digit sum is divisible by 5"
        )
        self.value = value


class CreditExceedsInvoice(InvalidInput):
    """A credit note asks for more than its invoice has left after the earlier credit notes.

    ``invoice`` is the invoice number; ``asked`` and ``left`` are gross
    amounts (of the whole note, or of the line named in the message), or
    counts of units in words when whole units were asked for.
    """

    def __init__(
        self, invoice: str, *, asked: Money | str, left: Money | str, what: str = ""
    ) -> None:
        where = f" on {what}" if what else ""
        super().__init__(
            f"cannot credit {asked}{where} of invoice {invoice!r}: only {left} is left "
            "after its earlier credit notes"
        )
        self.invoice = invoice
        self.asked = asked
        self.left = left


class InvoiceNumbersExhausted(FourFlowsError):
    """No invoice number is left for the period asked for: every allocated one is used."""

    def __init__(self, period: str, reason: str = "") -> None:
        because = f": {reason}" if reason else ""
        super().__init__(
            f"no invoice number left for the period {period}{because}; "
            "have a new range allocated before issuing more invoices"
        )
        self.period = period


class InvoiceNumberOutOfRange(InvalidInput):
    """An invoice number is not in any range allocated for its period."""

    def __init__(self, number: str, period: str, ranges: Iterable[str]) -> None:
        listed = ", ".join(ranges) or "none"
        super().__init__(
            f"invoice number {number!r} is outside the ranges allocated for {period}: {listed}"
        )
        self.number = number
        self.period = period


class InvoiceNumberReused(InvalidInput):
    """An invoice number was already used in its period."""

    def __init__(self, number: str, period: str) -> None:
        super().__init__(
            f"invoice number {number!r} was already used in {period}; every number is used once"
        )
        self.number = number
        self.period = period


# --- Taiwanese business numbers, carriers and donation codes ---------------------------------

_WEIGHTS = (1, 2, 1, 2, 1, 2, 4, 1)
_EIGHT_DIGITS = re.compile(r"[0-9]{8}")


def _digit_sum(number: int) -> int:
    return number // 10 + number % 10


def check_business_number(value: object, *, divisor: int = 5) -> str:
    """``value`` if it is a valid Taiwanese business number (統一編號), else raise.

    Raises `InvalidBusinessNumber` (an `InvalidInput`) naming the value.

    Each of the 8 digits is multiplied by its weight 1, 2, 1, 2, 1, 2, 4, 1
    and the digits of each product are added (``4 × 7 = 28 → 2 + 8 = 10``);
    the number is valid when the total is divisible by ``divisor``. When the
    seventh digit is 7 its product 28 counts as 10, whose digits may be read
    as 1 or 0, so the number is also valid when the total plus one is.

    ``divisor`` is 5, the rule in force since April 2023 (numbers are running
    out, so the Ministry of Finance relaxed the old rule); pass 10 to check
    a number by the rule before it. Every number valid by the old rule is
    valid by the new one.

    >>> check_business_number("04595257")
    '04595257'
    >>> is_valid_business_number("04595258")
    False
    """
    if isinstance(divisor, bool) or divisor not in (5, 10):
        raise InvalidInput(f"divisor must be 5 (since April 2023) or 10 (before), not {divisor!r}")
    if not isinstance(value, str) or not _EIGHT_DIGITS.fullmatch(value):
        raise InvalidBusinessNumber(value, "it must be a string of exactly 8 digits")
    digits = [int(char) for char in value]
    # The product of the seventh digit 7 is 28, whose digit sum 10 counts as 0 (or 1, below).
    total = sum(_digit_sum(d * w) % 10 for d, w in zip(digits, _WEIGHTS, strict=True))
    if total % divisor == 0 or (digits[6] == 7 and (total + 1) % divisor == 0):
        return value
    raise InvalidBusinessNumber(
        value, f"its weighted digit sum {total} is not divisible by {divisor}"
    )


def is_valid_business_number(value: object, *, divisor: int = 5) -> bool:
    """Whether `check_business_number` accepts ``value``."""
    try:
        check_business_number(value, divisor=divisor)
    except InvalidBusinessNumber:
        return False
    return True


_DONATION_CODE = re.compile(r"[0-9]{3,7}")


def check_donation_code(value: object) -> str:
    """``value`` if it is a donation code (愛心碼, 3 to 7 digits); `InvalidInput` if not.

    >>> check_donation_code("8585")
    '8585'
    """
    if not isinstance(value, str) or not _DONATION_CODE.fullmatch(value):
        raise InvalidInput(
            f"a donation code (愛心碼) is a string of 3 to 7 digits, such as '8585', not {value!r}"
        )
    return value


class CarrierKind(enum.Enum):
    """Where an e-invoice is kept (載具) instead of printed; the value is the MOF type code."""

    MOBILE_BARCODE = "3J0002"
    """手機條碼: ``/`` and seven characters from 0-9, A-Z, ``+``, ``-`` and ``.``."""
    CITIZEN_CERTIFICATE = "CQ0001"
    """自然人憑證: two upper-case letters and 14 digits."""
    MEMBER = "member"
    """The shop's own member carrier (會員載具): the shop's customer id, up to 64 characters."""


_CARRIER_FORMATS = {
    CarrierKind.MOBILE_BARCODE: (
        re.compile(r"/[0-9A-Z+\-.]{7}"),
        "'/' and 7 characters from 0-9, A-Z, '+', '-', '.', such as '/ABC+123'",
    ),
    CarrierKind.CITIZEN_CERTIFICATE: (
        re.compile(r"[A-Z]{2}[0-9]{14}"),
        "2 upper-case letters and 14 digits, such as 'AB12345678901234'",
    ),
    CarrierKind.MEMBER: (re.compile(r"\S{1,64}"), "1 to 64 characters without spaces"),
}


def _carrier_kind(value: object) -> CarrierKind:
    if isinstance(value, CarrierKind):
        return value
    try:
        return CarrierKind(value)
    except ValueError:
        allowed = ", ".join(f"CarrierKind.{kind.name}" for kind in CarrierKind)
        raise InvalidInput(f"unknown carrier kind {value!r}; allowed: {allowed}") from None


@attrs.frozen
class Carrier:
    """An e-invoice carrier (載具): its ``kind`` and its ``code``, checked against the kind.

    >>> Carrier(CarrierKind.MOBILE_BARCODE, "/ABC+123").code
    '/ABC+123'
    """

    kind: CarrierKind = attrs.field(converter=_carrier_kind)
    code: str = attrs.field()

    @code.validator
    def _check_code(self, _: object, value: object) -> None:
        pattern, allowed = _CARRIER_FORMATS[self.kind]
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise InvalidInput(
                f"{value!r} is not a {self.kind.name.lower().replace('_', ' ')} carrier code; "
                f"it is {allowed}"
            )


# --- parties, lines and invoices -------------------------------------------------------------


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must be non-empty text, not {value!r}")
    return value


def _issued_at(value: object) -> datetime:
    return require_aware(value, "issued_at")


def _credit_note_number(value: object) -> str:
    return _text(value, "a credit note number")


def _invoice_number(value: object) -> str:
    return _text(value, "an invoice number")


def _line_description(value: object) -> str:
    return _text(value, "a line's description")


def _line_sku(value: object) -> str:
    return _text(value, "a line's sku")


def _optional_purchase_order_reference(value: object) -> str | None:
    return None if value is None else _text(value, "a purchase-order reference")


def _optional_refund_id(value: object) -> str | None:
    return None if value is None else _text(value, "a refund id")


def _optional_shipment_id(value: object) -> str | None:
    return None if value is None else _text(value, "a shipment id")


def _optional_void_reason(value: object) -> str | None:
    return None if value is None else _text(value, "a void reason")


def _order_id(value: object) -> str:
    return _text(value, "an order id")


def _party_name(value: object) -> str:
    return _text(value, "a party's name")


def _tax_category(value: object) -> str:
    return _text(value, "a tax category")


@attrs.frozen(kw_only=True)
class Party:
    """A seller or a buyer named on an invoice.

    ``tax_id`` is the business's tax number, if it has one. In Taiwan
    (``country="TW"``) it is the 統一編號 and is checked with
    `check_business_number`; elsewhere it is kept as given.
    """

    name: str = attrs.field(converter=_party_name)
    country: str = attrs.field(converter=country_code)
    tax_id: str | None = attrs.field(default=None)

    @tax_id.validator
    def _check_tax_id(self, _: object, value: object) -> None:
        if value is None:
            return
        if self.country == "TW":
            check_business_number(value)
        else:
            _text(value, "a tax id")


def _amounts(value: Iterable[Money]) -> tuple[Money, ...]:
    if isinstance(value, Money) or not isinstance(value, Iterable):
        raise InvalidInput(f"unit amounts must be a sequence of Money, not {value!r}")
    amounts = tuple(value)
    for amount in amounts:
        if not isinstance(amount, Money):
            raise InvalidInput(f"unit amounts must be Money, not {amount!r}")
        if amount.amount < 0 or round_money(amount) != amount:
            raise InvalidInput(
                f"a unit amount must be zero or more, in whole minor units, not {amount}"
            )
    return amounts


def _rate(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise InvalidInput(f"a tax rate must be a percentage as int, str or Decimal, not {value!r}")
    number = Decimal(value) if not isinstance(value, Decimal) else value
    if not number.is_finite() or not 0 <= number <= 100:
        raise InvalidInput(f"a tax rate must be a percentage from 0 to 100, not {value!r}")
    return number


def _optional_index(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise InvalidInput(f"{attribute.name} must be an order line index or None, not {value!r}")


@attrs.frozen(kw_only=True)
class InvoiceLine:
    """Units of one order line (or the shipping) on an invoice.

    ``unit_totals`` are what each unit paid, tax included, and
    ``unit_taxes`` the tax inside each, both taken from the order. ``gross``,
    ``tax`` and ``net = gross − tax`` add them up. ``order_line`` is the
    index of the order line, ``None`` for the shipping line (whose ``sku``
    is `SHIPPING`).
    """

    order_line: int | None = attrs.field(validator=_optional_index)
    sku: str = attrs.field(converter=_line_sku)
    description: str = attrs.field(converter=_line_description)
    category: str = attrs.field(converter=_tax_category)
    rate: Decimal = attrs.field(converter=_rate)
    unit_totals: tuple[Money, ...] = attrs.field(converter=_amounts)
    unit_taxes: tuple[Money, ...] = attrs.field(converter=_amounts)

    def __attrs_post_init__(self) -> None:
        if not self.unit_totals or len(self.unit_totals) != len(self.unit_taxes):
            raise InvalidInput(
                f"invoice line {self.sku!r} needs at least one unit, and one tax per unit total: "
                f"{len(self.unit_totals)} totals, {len(self.unit_taxes)} taxes"
            )
        currency = self.unit_totals[0].currency
        for total, tax in zip(self.unit_totals, self.unit_taxes, strict=True):
            for amount in (total, tax):
                if amount.currency != currency:
                    raise CurrencyMismatch(currency.code, amount.code, f"invoice line {self.sku!r}")
            if tax > total:
                raise InvalidInput(
                    f"invoice line {self.sku!r}: a unit's tax {tax} exceeds its total {total}"
                )

    @property
    def key(self) -> str:
        """How messages name the line: ``line 0 'TEE-M'`` or ``'shipping'``."""
        return repr(SHIPPING) if self.order_line is None else f"line {self.order_line} {self.sku!r}"

    @property
    def quantity(self) -> int:
        """The number of units invoiced."""
        return len(self.unit_totals)

    @property
    def currency(self) -> str:
        """The ISO code of the line's currency."""
        return self.unit_totals[0].code

    @property
    def gross(self) -> Money:
        """What the units paid, tax included."""
        return sum_money(self.unit_totals)

    @property
    def tax(self) -> Money:
        """The tax inside ``gross``."""
        return sum_money(self.unit_taxes)

    @property
    def net(self) -> Money:
        """``gross − tax``: the sales amount (銷售額)."""
        return self.gross - self.tax


class InvoiceTiming(enum.Enum):
    """When a shop issues invoices: once per paid order, or one per shipment."""

    PER_ORDER = "per_order"
    PER_SHIPMENT = "per_shipment"


class InvoiceStatus(enum.Enum):
    """Where an invoice stands, given its credit notes."""

    ISSUED = "issued"
    PARTLY_CREDITED = "partly_credited"
    FULLY_CREDITED = "fully_credited"
    VOID = "void"


def _lines(value: Iterable[InvoiceLine]) -> tuple[InvoiceLine, ...]:
    if not isinstance(value, Iterable):
        raise InvalidInput(f"lines must be a sequence of InvoiceLine, not {value!r}")
    lines = tuple(value)
    if not lines:
        raise InvalidInput("an invoice needs at least one line")
    for line in lines:
        if not isinstance(line, InvoiceLine):
            raise InvalidInput(f"an invoice holds InvoiceLine values, not {line!r}")
    return lines


def _optional_party(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, Party):
        raise InvalidInput(f"{attribute.name} must be a Party or None, not {value!r}")


def _optional_carrier(value: object) -> Carrier | None:
    if value is None or isinstance(value, Carrier):
        return value
    raise InvalidInput(f"carrier must be a Carrier or None, not {value!r}")


def _optional_donation(value: object) -> str | None:
    return None if value is None else check_donation_code(value)


def _optional_aware(value: object) -> datetime | None:
    return None if value is None else require_aware(value, "voided_at")


def _price_mode(value: object) -> PriceMode:
    if isinstance(value, PriceMode):
        return value
    allowed = ", ".join(f"PriceMode.{mode.name}" for mode in PriceMode)
    raise InvalidInput(f"price_mode must be one of {allowed}, not {value!r}")


def _seller(value: object) -> Party:
    if not isinstance(value, Party):
        raise InvalidInput(f"seller must be a Party, not {value!r}")
    return value


def _breakdown(
    rows: Iterable[tuple[str, Decimal, Money, Money]], currency: str
) -> tuple[RateTotal, ...]:
    groups: dict[tuple[str, Decimal], list[tuple[Money, Money]]] = {}
    for category, rate, gross, tax in rows:
        groups.setdefault((category, rate), []).append((gross, tax))
    totals = []
    for (category, rate), amounts in groups.items():
        gross = sum_money((g for g, _ in amounts), currency=currency)
        tax = sum_money((t for _, t in amounts), currency=currency)
        totals.append(
            RateTotal(category=category, rate=rate, net=gross - tax, tax=tax, gross=gross)
        )
    return tuple(sorted(totals, key=lambda row: (row.category == EXEMPT, -row.rate, row.category)))


@attrs.frozen(kw_only=True)
class Invoice:
    """An invoice (發票): who sold what to whom, when, for how much, with the tax per rate.

    Build one from an order with `invoice_order`, `invoice_shipment` or
    `invoice_items`. ``buyer`` with a ``tax_id`` makes it a B2B invoice
    (`is_b2b`). ``carrier`` (載具) and ``donation_code`` (愛心碼) are for
    consumer invoices: one or the other, and no donation on a B2B invoice.
    ``shipment_id`` names the shipment it invoices, if issued per shipment;
    ``purchase_order`` is the buyer's purchase-order reference (by default the order's).
    """

    number: str = attrs.field(converter=_invoice_number)
    order_id: str = attrs.field(converter=_order_id)
    issued_at: datetime = attrs.field(converter=_issued_at)
    seller: Party = attrs.field(converter=_seller)
    currency: str = attrs.field(converter=currency_code)
    price_mode: PriceMode = attrs.field(converter=_price_mode)
    lines: tuple[InvoiceLine, ...] = attrs.field(converter=_lines)
    buyer: Party | None = attrs.field(default=None, validator=_optional_party)
    carrier: Carrier | None = attrs.field(default=None, converter=_optional_carrier)
    donation_code: str | None = attrs.field(default=None, converter=_optional_donation)
    purchase_order: str | None = attrs.field(
        default=None, converter=_optional_purchase_order_reference
    )
    shipment_id: str | None = attrs.field(default=None, converter=_optional_shipment_id)
    voided_at: datetime | None = attrs.field(default=None, converter=_optional_aware)
    void_reason: str | None = attrs.field(default=None, converter=_optional_void_reason)

    def __attrs_post_init__(self) -> None:
        seen: set[int | None] = set()
        for line in self.lines:
            if line.currency != self.currency:
                raise CurrencyMismatch(self.currency, line.currency, f"invoice {line.key}")
            if line.order_line in seen:
                raise InvalidInput(f"invoice {self.number!r} lists {line.key} twice")
            seen.add(line.order_line)
        if self.donation_code is not None and self.is_b2b:
            raise InvalidInput(
                f"invoice {self.number!r} names the buyer's business number, so it cannot be "
                f"donated (donation code {self.donation_code!r}); drop one of them"
            )
        if self.donation_code is not None and self.carrier is not None:
            raise InvalidInput(
                f"invoice {self.number!r} is either kept in a carrier or donated, not both; "
                f"got carrier {self.carrier.code!r} and donation code {self.donation_code!r}"
            )
        if (self.voided_at is None) != (self.void_reason is None):
            raise InvalidInput("a void invoice needs both voided_at and void_reason")
        if self.voided_at is not None and self.voided_at < self.issued_at:
            raise InvalidInput(
                f"invoice {self.number!r} cannot be voided at {self.voided_at.isoformat()}, "
                f"before it was issued at {self.issued_at.isoformat()}"
            )

    @property
    def is_b2b(self) -> bool:
        """Whether the buyer is a business named by its tax id (a B2B invoice)."""
        return self.buyer is not None and self.buyer.tax_id is not None

    @property
    def is_void(self) -> bool:
        """Whether the invoice was voided."""
        return self.voided_at is not None

    @property
    def gross(self) -> Money:
        """The total, tax included (總計)."""
        return sum_money((line.gross for line in self.lines), currency=self.currency)

    @property
    def tax(self) -> Money:
        """The tax (稅額)."""
        return sum_money((line.tax for line in self.lines), currency=self.currency)

    @property
    def net(self) -> Money:
        """The sales amount without tax (銷售額)."""
        return self.gross - self.tax

    @property
    def breakdown(self) -> tuple[RateTotal, ...]:
        """Net, tax and gross per tax category and rate: highest rate first, exempt last."""
        return _breakdown(
            ((line.category, line.rate, line.gross, line.tax) for line in self.lines),
            self.currency,
        )

    def line(self, key: str | int) -> InvoiceLine:
        """The line of order line ``key`` (index or sku), or the shipping line for `SHIPPING`."""
        for line in self.lines:
            if key == SHIPPING and line.order_line is None:
                return line
            if line.order_line is not None and key in (line.order_line, line.sku):
                return line
        listing = ", ".join(line.key for line in self.lines)
        raise InvalidInput(f"invoice {self.number!r} has no line {key!r}; its lines: {listing}")

    # --- what is left, credit notes and voiding ------------------------------------------------

    def _earlier(self, credit_notes: Iterable[CreditNote]) -> tuple[CreditNote, ...]:
        if isinstance(credit_notes, CreditNote) or not isinstance(credit_notes, Iterable):
            raise InvalidInput(
                f"credit_notes must be a sequence of CreditNote, not {credit_notes!r}"
            )
        notes = tuple(credit_notes)
        numbers: set[str] = set()
        for note in notes:
            if not isinstance(note, CreditNote):
                raise InvalidInput(f"credit_notes holds CreditNote values, not {note!r}")
            if note.invoice_number != self.number:
                raise InvalidInput(
                    f"credit note {note.number!r} is for invoice {note.invoice_number!r}, "
                    f"not {self.number!r}"
                )
            if note.number in numbers:
                raise InvalidInput(f"credit note {note.number!r} is given twice")
            numbers.add(note.number)
        return notes

    def _left(self, notes: tuple[CreditNote, ...]) -> dict[int | None, tuple[Money, Money, int]]:
        """Per line: gross and tax left, and the units credited so far."""
        left = {line.order_line: (line.gross, line.tax, 0) for line in self.lines}
        for note in notes:
            for credit in note.lines:
                if credit.order_line not in left:
                    raise InvalidInput(
                        f"credit note {note.number!r} credits a line invoice {self.number!r} "
                        "does not have"
                    )
                gross, tax, units = left[credit.order_line]
                if credit.gross > gross or credit.tax > tax:
                    raise CreditExceedsInvoice(
                        self.number, asked=credit.gross, left=gross, what=f"note {note.number!r}"
                    )
                left[credit.order_line] = (
                    gross - credit.gross,
                    tax - credit.tax,
                    units + credit.quantity,
                )
        return left

    def left(self, credit_notes: Iterable[CreditNote] = ()) -> Money:
        """The gross amount still creditable after ``credit_notes``, its earlier credit notes."""
        if self.is_void:
            return Money(0, self.currency)
        left = self._left(self._earlier(credit_notes))
        return sum_money((gross for gross, _, _ in left.values()), currency=self.currency)

    def status(self, credit_notes: Iterable[CreditNote] = ()) -> InvoiceStatus:
        """`InvoiceStatus` of this invoice given its ``credit_notes``."""
        if self.is_void:
            return InvoiceStatus.VOID
        notes = self._earlier(credit_notes)
        if not notes:
            return InvoiceStatus.ISSUED
        if self.left(notes).amount == 0:
            return InvoiceStatus.FULLY_CREDITED
        return InvoiceStatus.PARTLY_CREDITED

    def void(
        self, *, at: datetime, reason: str, credit_notes: Iterable[CreditNote] = ()
    ) -> Invoice:
        """A copy of this invoice, voided (作廢) at ``at`` for ``reason``.

        Only an invoice no credit note refers to can be voided (once one
        does, credit the rest instead); voiding twice raises. Whether a
        void is still allowed in the tax period is the tax office's rule,
        for the caller to check.
        """
        require_aware(at, "at")
        _text(reason, "a void reason")
        notes = self._earlier(credit_notes)
        if self.is_void:
            raise InvalidInput(f"invoice {self.number!r} is already void ({self.void_reason})")
        if notes:
            listed = ", ".join(repr(note.number) for note in notes)
            raise InvalidInput(
                f"invoice {self.number!r} has credit notes ({listed}) and cannot be voided"
            )
        return attrs.evolve(self, voided_at=at, void_reason=reason)

    def _credit(
        self,
        parts: dict[int | None, tuple[Money, Money, int]],
        left: dict[int | None, tuple[Money, Money, int]],
        **fields: Any,
    ) -> CreditNote:
        """A credit note of ``parts`` (gross, tax estimate, units per line), capped per line."""
        lines = []
        for line in self.lines:
            if line.order_line not in parts:
                continue
            gross, estimate, units = parts[line.order_line]
            gross_left, tax_left, _ = left[line.order_line]
            if gross > gross_left:
                raise CreditExceedsInvoice(self.number, asked=gross, left=gross_left, what=line.key)
            if gross.amount == 0:
                continue
            # The tax credited stays within what is left of the line's tax and of its net:
            # between gross − net left and the smaller of gross and the tax left.
            net_left = gross_left - tax_left
            low = max(Money(0, self.currency), gross - net_left)
            tax = min(max(estimate, low), gross, tax_left)
            lines.append(
                CreditLine(
                    order_line=line.order_line,
                    sku=line.sku,
                    category=line.category,
                    rate=line.rate,
                    quantity=units,
                    gross=gross,
                    tax=tax,
                )
            )
        if not lines:
            raise InvalidInput(f"a credit note of invoice {self.number!r} must credit something")
        return CreditNote(
            invoice_number=self.number,
            order_id=self.order_id,
            currency=self.currency,
            lines=lines,
            **fields,
        )

    def _check_credit(self, at: datetime, number: str, notes: tuple[CreditNote, ...]) -> None:
        require_aware(at, "at")
        _text(number, "a credit note number")
        if self.is_void:
            raise InvalidInput(f"invoice {self.number!r} is void and cannot be credited")
        if at < self.issued_at:
            raise InvalidInput(
                f"a credit note at {at.isoformat()} cannot precede invoice {self.number!r} "
                f"issued at {self.issued_at.isoformat()}"
            )
        if any(note.number == number for note in notes):
            raise InvalidInput(f"credit note number {number!r} is already used on this invoice")

    def credit_units(
        self,
        units: LineItems,
        *,
        number: str,
        at: datetime,
        credit_notes: Iterable[CreditNote] = (),
        reason: str = "",
        refund_id: str | None = None,
    ) -> CreditNote:
        """A credit note giving back whole units of the lines named in ``units``.

        ``units`` maps a line (order line index, sku, or `SHIPPING`) to a count.

        Each unit gives back exactly what it paid and the tax inside it,
        units taken in order after those credited by earlier notes
        (``credit_notes``). Asking for more units than are left, or more
        money than is left on a line, raises `CreditExceedsInvoice`.
        """
        notes = self._earlier(credit_notes)
        self._check_credit(at, number, notes)
        if not isinstance(units, Mapping) or not units:
            raise InvalidInput(
                f"units must be a non-empty mapping of line to a count of units, not {units!r}"
            )
        left = self._left(notes)
        parts: dict[int | None, tuple[Money, Money, int]] = {}
        for key, count in dict(units).items():
            line = self.line(key)
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise InvalidInput(
                    f"the units to credit on {line.key} must be an int ≥ 1, not {count!r}"
                )
            if line.order_line in parts:
                raise InvalidInput(f"{line.key} is named twice in units")
            done = left[line.order_line][2]
            if done + count > line.quantity:
                raise CreditExceedsInvoice(
                    self.number,
                    asked=f"{count} units",
                    left=f"{line.quantity - done} of its {line.quantity} units",
                    what=line.key,
                )
            chosen = slice(done, done + count)
            parts[line.order_line] = (
                sum_money(line.unit_totals[chosen]),
                sum_money(line.unit_taxes[chosen]),
                count,
            )
        return self._credit(
            parts, left, number=number, issued_at=at, reason=reason, refund_id=refund_id
        )

    def credit_amount(
        self,
        amount: Money,
        *,
        number: str,
        at: datetime,
        credit_notes: Iterable[CreditNote] = (),
        lines: Sequence[str | int] | None = None,
        reason: str = "",
        refund_id: str | None = None,
        precision: Precision | None = None,
    ) -> CreditNote:
        """A credit note giving back ``amount`` (tax included), e.g. a partial refund or allowance.

        The amount is spread over ``lines`` (default: every line) in
        proportion to what each has left, with `fourflows.money.allocate`,
        and each line's part carries its share of the line's tax left,
        rounded half-up. Both are worked out to ``precision`` (default: the
        currency's minor unit; ``Precision.of(0)`` keeps a Taiwanese
        allowance in whole dollars). More than is left on those lines
        raises `CreditExceedsInvoice`.
        """
        if precision is not None and not isinstance(precision, Precision):
            raise InvalidInput(f"precision must be a Precision or None, not {precision!r}")
        notes = self._earlier(credit_notes)
        self._check_credit(at, number, notes)
        if not isinstance(amount, Money):
            raise InvalidInput(f"the amount to credit must be Money, not {amount!r}")
        if amount.code != self.currency:
            raise CurrencyMismatch(self.currency, amount.code, "credit")
        if amount.amount <= 0 or round_money(amount) != amount:
            raise InvalidInput(
                f"the amount to credit must be more than zero, in whole minor units, not {amount}"
            )
        chosen = self.lines if lines is None else tuple(self.line(key) for key in lines)
        if not chosen:
            raise InvalidInput("name at least one line to credit, or leave lines out")
        left = self._left(notes)
        available = sum_money((left[line.order_line][0] for line in chosen), currency=self.currency)
        if amount > available:
            raise CreditExceedsInvoice(self.number, asked=amount, left=available)
        shares = allocate(
            amount, [left[line.order_line][0] for line in chosen], precision=precision
        )
        parts: dict[int | None, tuple[Money, Money, int]] = {}
        for line, share in zip(chosen, shares, strict=True):
            gross_left, tax_left, _ = left[line.order_line]
            if line.order_line in parts:
                raise InvalidInput(f"{line.key} is named twice in lines")
            estimate = (
                round_money(share * tax_left.amount / gross_left.amount, precision)
                if gross_left.amount
                else share * 0
            )
            parts[line.order_line] = (share, estimate, 0)
        return self._credit(
            parts, left, number=number, issued_at=at, reason=reason, refund_id=refund_id
        )


# --- credit notes ----------------------------------------------------------------------------


def _money(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Money) or value.amount < 0 or round_money(value) != value:
        raise InvalidInput(
            f"{attribute.name} must be Money, zero or more, in whole minor units, not {value!r}"
        )


def _units(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{attribute.name} must be an int ≥ 0, not {value!r}")


@attrs.frozen(kw_only=True)
class CreditLine:
    """What a credit note gives back on one invoice line: ``gross`` and the ``tax`` inside it.

    ``quantity`` is the number of units returned, 0 for an amount credited
    without units (an allowance for a damaged item, a price adjustment).
    """

    order_line: int | None = attrs.field(validator=_optional_index)
    sku: str = attrs.field(converter=_line_sku)
    category: str = attrs.field(converter=_tax_category)
    rate: Decimal = attrs.field(converter=_rate)
    quantity: int = attrs.field(validator=_units)
    gross: Money = attrs.field(validator=_money)
    tax: Money = attrs.field(validator=_money)

    def __attrs_post_init__(self) -> None:
        if self.tax.currency != self.gross.currency:
            raise CurrencyMismatch(self.gross.code, self.tax.code, "credit line")
        if self.tax > self.gross:
            raise InvalidInput(f"a credit line's tax {self.tax} exceeds its gross {self.gross}")

    @property
    def net(self) -> Money:
        """``gross − tax``."""
        return self.gross - self.tax


def _reason(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"a reason is text, not {value!r}")
    return value


def _credit_lines(value: Iterable[CreditLine]) -> tuple[CreditLine, ...]:
    if not isinstance(value, Iterable):
        raise InvalidInput(f"lines must be a sequence of CreditLine, not {value!r}")
    lines = tuple(value)
    if not lines:
        raise InvalidInput("a credit note needs at least one line")
    for line in lines:
        if not isinstance(line, CreditLine):
            raise InvalidInput(f"a credit note holds CreditLine values, not {line!r}")
    return lines


@attrs.frozen(kw_only=True)
class CreditNote:
    """A credit note (折讓單) giving back part of invoice ``invoice_number``.

    Made by `Invoice.credit_units` or `Invoice.credit_amount`, which check
    it against what the invoice has left. ``refund_id`` links it to the
    refund it documents; ``reason`` says why in words.
    """

    number: str = attrs.field(converter=_credit_note_number)
    invoice_number: str = attrs.field(converter=_invoice_number)
    order_id: str = attrs.field(converter=_order_id)
    issued_at: datetime = attrs.field(converter=_issued_at)
    currency: str = attrs.field(converter=currency_code)
    lines: tuple[CreditLine, ...] = attrs.field(converter=_credit_lines)
    reason: str = attrs.field(default="", converter=_reason)
    refund_id: str | None = attrs.field(default=None, converter=_optional_refund_id)

    def __attrs_post_init__(self) -> None:
        seen: set[int | None] = set()
        for line in self.lines:
            if line.gross.code != self.currency:
                raise CurrencyMismatch(self.currency, line.gross.code, "credit note")
            if line.order_line in seen:
                raise InvalidInput(f"credit note {self.number!r} credits {line.sku!r} twice")
            seen.add(line.order_line)

    @property
    def gross(self) -> Money:
        """What the note gives back, tax included."""
        return sum_money((line.gross for line in self.lines), currency=self.currency)

    @property
    def tax(self) -> Money:
        """The tax given back."""
        return sum_money((line.tax for line in self.lines), currency=self.currency)

    @property
    def net(self) -> Money:
        """The sales amount given back, without tax."""
        return self.gross - self.tax

    @property
    def breakdown(self) -> tuple[RateTotal, ...]:
        """Net, tax and gross given back per tax category and rate."""
        return _breakdown(
            ((line.category, line.rate, line.gross, line.tax) for line in self.lines),
            self.currency,
        )


# --- issuing invoices from an order ----------------------------------------------------------


def _earlier_invoices(order: Order, invoices: Iterable[Invoice]) -> tuple[Invoice, ...]:
    if isinstance(invoices, Invoice) or not isinstance(invoices, Iterable):
        raise InvalidInput(f"invoices must be a sequence of Invoice, not {invoices!r}")
    earlier = tuple(invoices)
    for invoice in earlier:
        if not isinstance(invoice, Invoice):
            raise InvalidInput(f"invoices holds Invoice values, not {invoice!r}")
        if invoice.order_id != order.id:
            raise InvalidInput(
                f"invoice {invoice.number!r} is for order {invoice.order_id!r}, not {order.id!r}"
            )
    return tuple(invoice for invoice in earlier if not invoice.is_void)


def _shipping_rate(order: Order, category: str, rate: object) -> Decimal:
    if rate is not None:
        return _rate(rate)
    assert order.shipping is not None
    if order.shipping.tax.amount == 0:
        return Decimal(0)
    rates = {line.tax_rate for line in order.lines if line.tax_category == category}
    if len(rates) != 1:
        raise InvalidInput(
            f"the order does not say at which rate its shipping was taxed; pass shipping_rate "
            f"(the rate of the {category!r} category)"
        )
    return rates.pop()


def invoice_items(
    order: Order,
    items: LineItems | Iterable[LineQuantity],
    *,
    number: str,
    at: datetime,
    seller: Party,
    buyer: Party | None = None,
    carrier: Carrier | None = None,
    donation_code: str | None = None,
    purchase_order: str | None = None,
    shipment_id: str | None = None,
    invoices: Iterable[Invoice] = (),
    include_shipping: bool | None = None,
    shipping_category: str | None = None,
    shipping_rate: Decimal | int | str | None = None,
) -> Invoice:
    """An invoice for ``items`` of ``order`` (line index or sku → units).

    Units are taken in order after those on earlier ``invoices`` of the
    order (void ones do not count), from the open units of each line
    (canceled units are never invoiced); asking for more raises
    `InvalidInput`. Each unit carries what it paid and its tax from the
    order. The shipping goes on the first invoice unless
    ``include_shipping`` says otherwise. Its ``shipping_category`` is
    ``"standard"`` when it was taxed and ``"exempt"`` when not, unless
    given; its rate is ``shipping_rate``, or 0 when no tax was charged, or
    else the rate of that category on the order's lines.
    """
    require_aware(at, "at")
    if not isinstance(order, Order):
        raise InvalidInput(f"invoices are issued for an Order, not {order!r}")
    earlier = _earlier_invoices(order, invoices)
    if isinstance(items, Mapping):
        wanted = [(order.line(key), count) for key, count in dict(items).items()]
    elif isinstance(items, Iterable) and not isinstance(items, str):
        wanted = []
        for item in items:
            if not isinstance(item, LineQuantity):
                raise InvalidInput(f"items are LineQuantity values or a mapping, not {item!r}")
            wanted.append((order.line(item.line), item.quantity))
    else:
        raise InvalidInput(f"items must map lines to units, not {items!r}")
    done: dict[int, int] = {}
    shipping_done = False
    for invoice in earlier:
        for line in invoice.lines:
            if line.order_line is None:
                shipping_done = True
            else:
                done[line.order_line] = done.get(line.order_line, 0) + line.quantity
    lines: list[InvoiceLine] = []
    taken: set[int] = set()
    for order_line, count in wanted:
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise InvalidInput(
                f"the units to invoice on {order_line.label()} must be an int ≥ 1, not {count!r}"
            )
        if order_line.index in taken:
            raise InvalidInput(f"{order_line.label()} is named twice in items")
        taken.add(order_line.index)
        lines.append(_invoice_line(order_line, done.get(order_line.index, 0), count))
    lines.sort(key=lambda line: line.order_line or 0)
    ships = order.shipping is not None and order.shipping.gross.amount > 0
    if include_shipping is None:
        include_shipping = ships and not shipping_done and bool(lines)
    elif not isinstance(include_shipping, bool):
        raise InvalidInput(
            f"include_shipping must be True, False or None, not {include_shipping!r}"
        )
    if include_shipping:
        if not ships or order.shipping is None:
            raise InvalidInput(f"order {order.id!r} has no shipping charge to invoice")
        if shipping_done:
            raise InvalidInput(f"the shipping of order {order.id!r} is already invoiced")
        if shipping_category is None:
            category = STANDARD if order.shipping.tax.amount else EXEMPT
        else:
            category = _tax_category(shipping_category)
        lines.append(
            InvoiceLine(
                order_line=None,
                sku=SHIPPING,
                description=order.shipping.name,
                category=category,
                rate=_shipping_rate(order, category, shipping_rate),
                unit_totals=(order.shipping.gross,),
                unit_taxes=(order.shipping.tax,),
            )
        )
    if not lines:
        raise InvalidInput(f"nothing to invoice on order {order.id!r}: name some units")
    return Invoice(
        number=number,
        order_id=order.id,
        issued_at=at,
        seller=seller,
        buyer=buyer,
        currency=order.currency,
        price_mode=order.price_mode,
        lines=lines,
        carrier=carrier,
        donation_code=donation_code,
        purchase_order=order.purchase_order if purchase_order is None else purchase_order,
        shipment_id=shipment_id,
    )


def _invoice_line(line: OrderLine, done: int, count: int) -> InvoiceLine:
    open_units = line.counts.open
    if done + count > open_units:
        raise InvalidInput(
            f"cannot invoice {count} units of {line.label()}: {open_units} open, "
            f"{done} already invoiced, so {max(open_units - done, 0)} left"
        )
    chosen = slice(done, done + count)
    return InvoiceLine(
        order_line=line.index,
        sku=line.sku,
        description=line.name,
        category=line.tax_category,
        rate=line.tax_rate,
        unit_totals=line.unit_totals[chosen],
        unit_taxes=line.unit_taxes[chosen],
    )


def invoice_order(
    order: Order,
    *,
    number: str,
    at: datetime,
    seller: Party,
    invoices: Iterable[Invoice] = (),
    **options: Any,
) -> Invoice:
    """An invoice for every open unit of ``order`` not on earlier ``invoices``, and its shipping.

    The per-order timing: issue it once the order is paid (or, cash on
    delivery, once the cash is collected). ``options`` are those of
    `invoice_items` (``buyer``, ``carrier``, ``donation_code``,
    ``purchase_order``, ...).
    """
    if not isinstance(order, Order):
        raise InvalidInput(f"invoices are issued for an Order, not {order!r}")
    earlier = _earlier_invoices(order, invoices)
    done: dict[int, int] = {}
    for invoice in earlier:
        for line in invoice.lines:
            if line.order_line is not None:
                done[line.order_line] = done.get(line.order_line, 0) + line.quantity
    items: dict[str | int, int] = {
        line.index: line.counts.open - done.get(line.index, 0)
        for line in order.lines
        if line.counts.open > done.get(line.index, 0)
    }
    return invoice_items(
        order, items, number=number, at=at, seller=seller, invoices=earlier, **options
    )


def invoice_shipment(
    order: Order,
    shipment_id: str,
    *,
    number: str,
    at: datetime,
    seller: Party,
    invoices: Iterable[Invoice] = (),
    **options: Any,
) -> Invoice:
    """An invoice for the units of shipment ``shipment_id`` of ``order`` (per-shipment timing).

    The shipment must be recorded on the order; an invoice for it among
    ``invoices`` raises `InvalidInput`. The first invoice carries the shipping.
    """
    if not isinstance(order, Order):
        raise InvalidInput(f"invoices are issued for an Order, not {order!r}")
    items = order.shipments.get(shipment_id)
    if items is None:
        known = ", ".join(map(repr, order.shipments)) or "none"
        raise InvalidInput(
            f"order {order.id!r} has no shipment {shipment_id!r}; its shipments: {known}"
        )
    earlier = _earlier_invoices(order, invoices)
    for invoice in earlier:
        if invoice.shipment_id == shipment_id:
            raise InvalidInput(
                f"shipment {shipment_id!r} is already invoiced on {invoice.number!r}"
            )
    return invoice_items(
        order,
        items,
        number=number,
        at=at,
        seller=seller,
        shipment_id=shipment_id,
        invoices=earlier,
        **options,
    )


# --- the numbering port ----------------------------------------------------------------------


class InvoiceNumbering(Protocol):
    """The port that hands out invoice numbers.

    ``next_number(at)`` returns the next unused number for an invoice
    issued at ``at`` and records it as used before returning, so a number
    is never handed out twice, even after a crash (a crash may leave a
    number unused; the shop reports unused numbers as the tax office asks).
    The call is not idempotent: each call uses up a number.

    Failures:

    * `InvalidInput`: ``at`` is naive.
    * `InvoiceNumbersExhausted`: no number is left for the period of
      ``at`` (or none was allocated). Retrying will not help until a new
      range is allocated.
    * An adapter that also accepts numbers assigned elsewhere raises
      `InvoiceNumberOutOfRange` for a number outside its allocated ranges
      and `InvoiceNumberReused` for one already used.
    """

    def next_number(self, at: datetime) -> str:
        """The next unused invoice number for an invoice issued at ``at``."""
        ...
