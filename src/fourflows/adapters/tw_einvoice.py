"""Invoice numbers in the Taiwan e-invoice style (電子發票字軌號碼), in memory.

A Taiwanese invoice number is a track (字軌) of two upper-case letters and
eight digits, such as ``AB12345000``. The tax office allocates each seller
ranges of numbers for a two-month period (January–February, March–April,
…), in booklets of 50; a number may be used only within its period and
only once. `TaiwanInvoiceNumbering` implements the
`fourflows.cash.invoices.InvoiceNumbering` port over such ranges:

* `TaiwanInvoiceNumbering.next_number` hands out the lowest unused number of
  the first range of the period of ``at`` (in Taiwan time, UTC+8) that has
  one, and raises `InvoiceNumbersExhausted` when none is left;
* `TaiwanInvoiceNumbering.claim` records a number assigned elsewhere (an
  offline till), raising `InvoiceNumberOutOfRange` for a number outside the
  period's ranges and `InvoiceNumberReused` for one already used;
* `TaiwanInvoiceNumbering.unused` lists the numbers left at the end of a
  period, which the seller reports as blank (空白字軌).

The adapter keeps its state in memory; an adapter over a database records
a number as used in the same transaction that hands it out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone

import attrs

from fourflows.cash.invoices import (
    InvoiceNumberOutOfRange,
    InvoiceNumberReused,
    InvoiceNumbersExhausted,
)
from fourflows.errors import InvalidInput
from fourflows.events import require_aware

__all__ = [
    "TAIWAN_TIME",
    "InvoicePeriod",
    "NumberRange",
    "TaiwanInvoiceNumbering",
    "check_invoice_number",
]

TAIWAN_TIME = timezone(timedelta(hours=8), "Asia/Taipei")
"""Taiwan's time zone (UTC+8, no daylight saving): it decides an invoice's period."""

_NUMBER = re.compile(r"([A-Z]{2})([0-9]{8})")
_TRACK = re.compile(r"[A-Z]{2}")


def check_invoice_number(value: object) -> str:
    """``value`` if it is two upper-case letters and eight digits; `InvalidInput` if not.

    >>> check_invoice_number("AB12345000")
    'AB12345000'
    """
    if not isinstance(value, str) or not _NUMBER.fullmatch(value):
        raise InvalidInput(
            f"{value!r} is not a Taiwanese invoice number: two upper-case letters and eight "
            "digits, such as 'AB12345000'"
        )
    return value


def _year(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1912 <= value <= 9999:
        raise InvalidInput(f"a period's year is a Gregorian year such as 2026, not {value!r}")
    return value


def _first_month(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in range(1, 13, 2):
        raise InvalidInput(
            f"a period starts in an odd month (1, 3, 5, 7, 9 or 11), not {value!r}; "
            "Taiwanese invoice periods are January–February, March–April, ..."
        )
    return value


@attrs.frozen(order=True)
class InvoicePeriod:
    """A two-month invoice period (期別): ``year`` and its odd ``first_month``.

    >>> str(InvoicePeriod(2026, 11))
    '2026-11/12'
    """

    year: int = attrs.field(converter=_year)
    first_month: int = attrs.field(converter=_first_month)

    @classmethod
    def containing(cls, at: datetime) -> InvoicePeriod:
        """The period of an invoice issued at ``at``, read in Taiwan time.

        >>> from datetime import UTC
        >>> str(InvoicePeriod.containing(datetime(2026, 12, 31, 16, 0, tzinfo=UTC)))
        '2027-01/02'
        """
        local = require_aware(at, "at").astimezone(TAIWAN_TIME)
        return cls(local.year, local.month - (local.month - 1) % 2)

    def __str__(self) -> str:
        return f"{self.year}-{self.first_month:02d}/{self.first_month + 1:02d}"


def _period(value: object) -> InvoicePeriod:
    if not isinstance(value, InvoicePeriod):
        raise InvalidInput(f"period must be an InvoicePeriod, not {value!r}")
    return value


def _track(value: object) -> str:
    if not isinstance(value, str) or not _TRACK.fullmatch(value):
        raise InvalidInput(f"a track (字軌) is two upper-case letters such as 'AB', not {value!r}")
    return value


def _serial(value: object) -> int:
    if isinstance(value, str) and re.fullmatch(r"[0-9]{8}", value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 99_999_999:
        return value
    raise InvalidInput(
        f"a serial number is eight digits such as '12345000' (or an int up to 99999999), "
        f"not {value!r}"
    )


@attrs.frozen
class NumberRange:
    """The numbers ``track`` + ``first`` … ``track`` + ``last`` (both included), for ``period``.

    >>> allocated = NumberRange("AB", "12345000", "12345049", InvoicePeriod(2026, 11))
    >>> len(allocated), str(allocated)
    (50, 'AB12345000-AB12345049 (2026-11/12)')
    """

    track: str = attrs.field(converter=_track)
    first: int = attrs.field(converter=_serial)
    last: int = attrs.field(converter=_serial)
    period: InvoicePeriod = attrs.field(converter=_period)

    def __attrs_post_init__(self) -> None:
        if self.last < self.first:
            raise InvalidInput(
                f"a number range runs upwards: {self.first:08d} to {self.last:08d} is empty"
            )

    def __len__(self) -> int:
        return self.last - self.first + 1

    def __contains__(self, number: object) -> bool:
        found = _NUMBER.fullmatch(number) if isinstance(number, str) else None
        return (
            found is not None
            and found.group(1) == self.track
            and self.first <= int(found.group(2)) <= self.last
        )

    def __iter__(self) -> Iterator[str]:
        return (self.number(serial) for serial in range(self.first, self.last + 1))

    def number(self, serial: int) -> str:
        """The invoice number of ``serial`` on this range's track."""
        return f"{self.track}{serial:08d}"

    def overlaps(self, other: NumberRange) -> bool:
        """Whether this range and ``other`` share a number in the same period."""
        return (
            self.period == other.period
            and self.track == other.track
            and self.first <= other.last
            and other.first <= self.last
        )

    def __str__(self) -> str:
        return f"{self.number(self.first)}-{self.number(self.last)} ({self.period})"


class TaiwanInvoiceNumbering:
    """An `InvoiceNumbering` adapter over ranges allocated per two-month period.

    Ranges of one period are used in the order given. Overlapping ranges
    raise `InvalidInput`. One instance is used by one thread at a time.
    """

    def __init__(self, ranges: Iterable[NumberRange]) -> None:
        """Number invoices from ``ranges``."""
        if isinstance(ranges, NumberRange) or not isinstance(ranges, Iterable):
            raise InvalidInput(f"ranges must be a sequence of NumberRange, not {ranges!r}")
        checked: list[NumberRange] = []
        for allocated in ranges:
            if not isinstance(allocated, NumberRange):
                raise InvalidInput(f"ranges holds NumberRange values, not {allocated!r}")
            for earlier in checked:
                if allocated.overlaps(earlier):
                    raise InvalidInput(f"the ranges {earlier} and {allocated} overlap")
            checked.append(allocated)
        self._ranges = tuple(checked)
        self._used: dict[InvoicePeriod, set[str]] = {}
        # Per range, the serial below which every number is known to be used.
        self._next = [allocated.first for allocated in self._ranges]

    @property
    def ranges(self) -> tuple[NumberRange, ...]:
        """The allocated ranges, in the order they are used."""
        return self._ranges

    def next_number(self, at: datetime) -> str:
        """The next unused number of the period of ``at``; see `InvoiceNumbering`."""
        period = InvoicePeriod.containing(at)
        used = self._used.setdefault(period, set())
        mine = [i for i, allocated in enumerate(self._ranges) if allocated.period == period]
        for i in mine:
            allocated = self._ranges[i]
            serial = self._next[i]
            while serial <= allocated.last and allocated.number(serial) in used:
                serial += 1
            self._next[i] = serial
            if serial <= allocated.last:
                number = allocated.number(serial)
                used.add(number)
                self._next[i] = serial + 1
                return number
        reason = "every allocated number is used" if mine else "no range is allocated for it"
        raise InvoiceNumbersExhausted(str(period), reason)

    def claim(self, number: str, at: datetime) -> str:
        """Record ``number``, assigned elsewhere, as used by an invoice issued at ``at``.

        Raises `InvalidInput` for a malformed number, `InvoiceNumberOutOfRange`
        when no range of the period of ``at`` holds it and
        `InvoiceNumberReused` when it is already used; nothing changes then.
        """
        check_invoice_number(number)
        period = InvoicePeriod.containing(at)
        mine = [allocated for allocated in self._ranges if allocated.period == period]
        if not any(number in allocated for allocated in mine):
            raise InvoiceNumberOutOfRange(number, str(period), (str(r) for r in mine))
        used = self._used.setdefault(period, set())
        if number in used:
            raise InvoiceNumberReused(number, str(period))
        used.add(number)
        return number

    def is_used(self, number: str, period: InvoicePeriod) -> bool:
        """Whether ``number`` is used in ``period``."""
        return number in self._used.get(period, set())

    def unused(self, period: InvoicePeriod) -> tuple[str, ...]:
        """The numbers of ``period`` not used, in order: what is reported as blank."""
        used = self._used.get(_period(period), set())
        return tuple(
            number
            for allocated in self._ranges
            if allocated.period == period
            for number in allocated
            if number not in used
        )

    def remaining(self, period: InvoicePeriod) -> int:
        """How many numbers of ``period`` are still unused."""
        total = sum(len(r) for r in self._ranges if r.period == _period(period))
        return total - len(self._used.get(period, set()))
