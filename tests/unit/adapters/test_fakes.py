from datetime import UTC, datetime, timedelta

import pytest

from fourflows import FixedClock, InvalidInput, SequentialIds, UuidIds

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def test_a_fixed_clock_moves_only_forward() -> None:
    clock = FixedClock(AT)
    assert clock.now() == AT
    assert clock.advance(timedelta(hours=2)) == AT + timedelta(hours=2)
    clock.set(AT + timedelta(days=1))
    assert clock.now() == AT + timedelta(days=1)
    with pytest.raises(InvalidInput, match="does not go back"):
        clock.set(AT)
    with pytest.raises(InvalidInput, match="forward"):
        clock.advance(timedelta(seconds=-1))
    assert clock.now() == AT + timedelta(days=1)


def test_a_fixed_clock_refuses_naive_times() -> None:
    with pytest.raises(InvalidInput, match="timezone-aware"):
        FixedClock(datetime(2026, 11, 22))


def test_sequential_ids_count_per_kind() -> None:
    ids = SequentialIds()
    assert [ids.next_id("refund"), ids.next_id("order"), ids.next_id("refund")] == [
        "refund-0001",
        "order-0001",
        "refund-0002",
    ]


@pytest.mark.parametrize("source", [SequentialIds(), UuidIds()], ids=["sequential", "uuid"])
def test_an_id_kind_is_required(source: SequentialIds | UuidIds) -> None:
    with pytest.raises(InvalidInput, match="kind"):
        source.next_id(" ")


def test_uuid_ids_carry_their_kind() -> None:
    assert UuidIds().next_id("order").startswith("order-")
