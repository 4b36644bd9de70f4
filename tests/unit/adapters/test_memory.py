from datetime import UTC, datetime

import moneyed
import pytest
from hypothesis import given

from coupon_machine import Coupon
from fourflows import InvalidInput, MemoryStore, Money, Refund
from fourflows.testing.strategies import aware_datetimes

AT = datetime(2026, 11, 22, tzinfo=UTC)


def test_a_repository_holds_one_aggregate_class() -> None:
    with MemoryStore().unit_of_work() as uow, pytest.raises(InvalidInput, match="holds Refund"):
        uow.repository(Refund).add(Coupon.draft(id="c-1", code="X", at=AT))  # type: ignore[arg-type]


def test_the_same_id_in_two_classes_is_two_aggregates() -> None:
    store = MemoryStore()
    with store.unit_of_work() as uow:
        uow.repository(Coupon).add(Coupon.draft(id="x-1", code="X", at=AT))
        uow.repository(Refund).add(
            Refund.request(id="x-1", payment_id="p", amount=Money("1", "TWD"), reason="r", at=AT)
        )
        uow.commit()
    assert len(store.rows) == 2


def test_reading_without_changing_writes_nothing() -> None:
    store = MemoryStore()
    with store.unit_of_work() as uow:
        uow.repository(Coupon).add(Coupon.draft(id="c-1", code="X", at=AT))
        uow.commit()
    stored = store.rows[next(iter(store.rows))]
    with store.unit_of_work() as uow:
        assert uow.repository(Coupon).get("c-1").code == "X"
        uow.commit()
    assert store.rows[next(iter(store.rows))] is stored
    assert len(store.outbox.unsettled()) == 1


def test_plain_py_moneyed_money_is_accepted_as_json_input() -> None:
    assert Money.from_json(moneyed.Money("1.50", "USD")) == Money("1.50", "USD")


@given(aware_datetimes())
def test_any_aware_time_is_a_valid_event_time(at: datetime) -> None:
    coupon = Coupon.draft(id="c-1", code="X", at=at)
    assert coupon.pending_events[0].occurred_at == at
