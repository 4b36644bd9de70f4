"""The shop's ledger: every movement of money as a balanced journal entry.

A shop is wired with `Accounting`: its policies post each sale, capture,
refund, cash-on-delivery remittance, order change and lost dispute to one
double-entry ledger. Four things happen:

1. a card order with home delivery is captured; the gateway keeps its fee;
   one of the two T-shirts comes back and is refunded;
2. a cash-on-delivery order is collected by the carrier, who later pays the
   cash over less its collection fee;
3. a card order is captured, then the customer's bank disputes part of it
   and the shop gives in: the chargeback is posted like a refund;
4. the journal and the trial balance are printed, and the ledger is checked:
   it balances, and it agrees with the payments (reconciliation).

Run it: ``python examples/ledger.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal

from fourflows import Money
from fourflows.adapters.fake_gateway import FakeGateway
from fourflows.adapters.fakes import FixedClock, SequentialIds
from fourflows.adapters.memory import MemoryStore
from fourflows.app.accounting import (
    Accounting,
    RecordCodRemittance,
    RecordGatewayFee,
    reconcile_shop,
)
from fourflows.app.bootstrap import COMMAND_HANDLERS
from fourflows.app.changes import OrderChanges
from fourflows.app.checkout import POLICIES, CapturePayment, Checkout, PlaceOrder, RefundPayment
from fourflows.app.disputes import (
    AcceptDispute,
    ApplyDisputeNotification,
    Disputes,
    apply_dispute_notice,
)
from fourflows.app.messagebus import MessageBus
from fourflows.app.notify import merge_policies
from fourflows.app.shop import Shop
from fourflows.cash.gateway import DisputeReason
from fourflows.cash.ledger import Ledger
from fourflows.commerce.catalog import Catalog, Product
from fourflows.commerce.promotions import Promotion
from fourflows.logistics.shipping import ShippingTable
from fourflows.money import Precision, round_money
from fourflows.ports import EventPublisher
from fourflows.tax import TaxTable

TAIPEI = {"country": "TW", "city": "Taipei", "postal_code": "106"}
TEE = Product(
    sku="TEE-M", name="T-shirt", price=Money("590", "TWD"), weight_g=200, size_cm=(30, 20, 3)
)
CARD_FEE_RATE = Decimal("0.028")
"""What the (imaginary) gateway keeps of each capture: 2.8 %."""


def shop_with_ledger(
    clock: FixedClock,
    accounting: Accounting | None = None,
    *,
    promotions: Sequence[Promotion] = (),
    publishers: Mapping[str, EventPublisher] | None = None,
) -> Shop:
    """A Taiwanese shop selling `TEE` over a fake gateway; ``accounting`` keeps its ledger.

    The wiring is `Shop.in_memory`'s, with the accounting commands and policies added.
    """
    accounting = Accounting() if accounting is None else accounting
    checkout = Checkout(
        catalog=Catalog([TEE]),
        tax=TaxTable.preset("TW"),
        gateway=FakeGateway(clock),
        shipping=ShippingTable.example_taiwan(),
        promotions=promotions,
        disputes=apply_dispute_notice,
    )
    store = MemoryStore()
    bus = MessageBus(
        unit_of_work=store.unit_of_work,
        clock=clock,
        ids=SequentialIds(),
        commands={
            **COMMAND_HANDLERS,
            **checkout.handlers(),
            **OrderChanges.for_checkout(checkout).handlers(),
            **Disputes(gateway=checkout.gateway).handlers(),
            **accounting.handlers(),
        },
        policies=merge_policies(POLICIES, accounting.policies()),
        publishers=publishers,
    )
    return Shop(bus=bus, store=store, checkout=checkout)


def ledger(shop: Shop) -> Ledger:
    """The shop's ledger as committed."""
    with shop.store.unit_of_work() as uow:
        return Accounting().ledger(uow)


def print_journal(book: Ledger) -> None:
    """Every posted entry with its lines, debits left and credits right."""
    for entry in book.entries:
        print(f"{entry.id}  ({entry.kind}: {entry.description})")
        for line in entry.lines:
            amount = f"{line.amount.amount:,.0f}"
            debit, credit = (amount, "") if line.side.value == "debit" else ("", amount)
            print(f"    {line.account:<24}{debit:>10}{credit:>10}")


def main() -> None:
    """Run the cases and print the books."""
    clock = FixedClock(datetime(2026, 11, 20, 4, 0, tzinfo=UTC))
    shop = shop_with_ledger(clock)

    # 1. A card order: two T-shirts (590 each, 5 % tax included) delivered home for 100.
    card = shop.place_order(
        PlaceOrder(idempotency_key="card-order", items={"TEE-M": 2}, ship_to=TAIPEI, service="home")
    )
    assert card.payment_id is not None
    total = shop.order(card.order_id).totals.total  # 1,180 + 100 = 1,280
    shop.capture_payment(
        CapturePayment(idempotency_key="ship-card", payment_id=card.payment_id, amount=total)
    )
    fee = round_money(total * CARD_FEE_RATE, Precision.cash("TWD"))  # 1,280 x 2.8 % = 35.84 -> 36
    shop.handle(RecordGatewayFee(idempotency_key="fee-1", payment_id=card.payment_id, amount=fee))
    shop.refund_payment(
        RefundPayment(
            idempotency_key="return-1",
            payment_id=card.payment_id,
            amount=Money("590", "TWD"),
            reason="one T-shirt returned",
        )
    )

    # 2. Cash on delivery: 590 + 100 delivery + 30 COD fee = 720, collected by the carrier,
    #    who pays it over less its own collection fee of 20.
    cod = shop.place_order(
        PlaceOrder(
            idempotency_key="cod-order",
            items={"TEE-M": 1},
            ship_to=TAIPEI,
            service="home",
            payment_method="cash_on_delivery",
        )
    )
    assert cod.payment_id is not None
    collected = shop.order(cod.order_id).totals.total
    shop.capture_payment(
        CapturePayment(idempotency_key="parcel-1", payment_id=cod.payment_id, amount=collected)
    )
    shop.handle(
        RecordCodRemittance(
            payment_id=cod.payment_id,
            capture_id="parcel-1:capture",
            remittance_ref="carrier-settlement-11",
            collection_fee=Money("20", "TWD"),
        )
    )

    # 3. A card order of one T-shirt (590 + 100 delivery = 690), captured; the customer's
    #    bank disputes 300 of it and the shop accepts: the bank takes the 300 back.
    disputed = shop.place_order(
        PlaceOrder(idempotency_key="card-2", items={"TEE-M": 1}, ship_to=TAIPEI, service="home")
    )
    assert disputed.payment_id is not None
    shop.capture_payment(
        CapturePayment(
            idempotency_key="ship-card-2",
            payment_id=disputed.payment_id,
            amount=Money("690", "TWD"),
        )
    )
    gateway = shop.checkout.gateway
    assert isinstance(gateway, FakeGateway)
    gateway.take_notifications()  # what the shop already applied
    opened = gateway.open_dispute(
        disputed.payment_id, amount=Money("300", "TWD"), reason=DisputeReason.FRAUDULENT
    )
    assert opened.dispute_id is not None
    for notice in gateway.take_notifications():
        payload = notice.to_payload()
        shop.handle(
            ApplyDisputeNotification(body=payload.body.decode("utf-8"), headers=payload.headers)
        )
    shop.handle(AcceptDispute(idempotency_key="give-in-1", dispute_id=opened.dispute_id))

    # 4. The books.
    book = ledger(shop)
    print_journal(book)
    print()
    trial = book.trial_balance()
    print(trial.format())
    with shop.store.unit_of_work() as uow:
        differences = reconcile_shop(uow)
    assert trial.is_balanced
    assert differences == (), differences
    # What the shop holds: card money at the gateway 1,280 - 36 - 590 = 654 from the first
    # order and 690 - 300 = 390 from the disputed one, 1,044 in all; cash 720 - 20 = 700.
    assert trial.balance("gateway_clearing", "TWD") == Money("1044", "TWD")
    assert trial.balance("refunds", "TWD") == Money("890", "TWD")  # 590 refunded + 300 taken
    assert trial.balance("cash", "TWD") == Money("700", "TWD")
    print("\nbalanced, and the ledger agrees with every payment")


if __name__ == "__main__":
    main()
