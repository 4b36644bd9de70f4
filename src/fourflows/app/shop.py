"""The Shop facade: one object to take orders through payment, over chosen adapters.

`Shop.in_memory` wires the checkout handlers and policies
(`fourflows.app.checkout`) and the refund handlers to a `MessageBus` over a
`MemoryStore`. Each method sends one command through the bus and returns
its `ShopResult` (`expire_payments` returns one per expired payment); the
read methods (`order`, `payment`, `payments_of`, `payment_status`,
`coupon_usage`, `balance`, `disputes_of`) look at what is committed. Gift
cards and store credit are issued with `Shop.load_gift_card` and
`Shop.issue_store_credit` (each returns a `BalanceResult`) and spent by the
tenders of `PlaceOrder`. Order changes (`fourflows.app.changes`) and disputes
(`fourflows.app.disputes`) go through the same bus; given a ``notifier``, the
shop also tells customers about their orders (`fourflows.app.notify`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from fourflows.adapters.fake_gateway import FakeGateway
from fourflows.adapters.fakes import SystemClock, UuidIds
from fourflows.adapters.memory import MemoryStore
from fourflows.app.accounting import (
    Accounting,
    RecordCodRemittance,
    RecordGatewayFee,
    reconcile_shop,
)
from fourflows.app.b2b import B2B, OverdueAccounts, receivable_of
from fourflows.app.bootstrap import COMMAND_HANDLERS
from fourflows.app.changes import (
    ChangeEffect,
    ConfirmOrderChange,
    DeclineOrderChange,
    OrderChanges,
    PreviewOrderChange,
    ProposeOrderChange,
)
from fourflows.app.checkout import (
    POLICIES,
    ApplyGatewayNotification,
    AuthorizePayment,
    BalanceResult,
    CancelOrder,
    CapturePayment,
    Checkout,
    Confirm,
    ExpirePayments,
    IssueStoreCredit,
    LoadGiftCard,
    PlaceOrder,
    RefundOrder,
    RefundPayment,
    ShopResult,
    _account,
    _ledger,
    _payment_ids,
    payment_figures,
)
from fourflows.app.commands import Command
from fourflows.app.disputes import (
    AcceptDispute,
    Disputes,
    MissDisputeDeadlines,
    SubmitDisputeEvidence,
    apply_dispute_notice,
    disputes_of,
)
from fourflows.app.fulfilment import (
    AllocateOrder,
    ExpireReservations,
    Fulfilment,
    MarkPickedUp,
    PackShipment,
    ShipmentResult,
    ShipShipment,
    TrackShipment,
    _shipment_ids,
    capture_problems,
)
from fourflows.app.invoicing import (
    Invoicing,
    UncreditedRefund,
    credit_notes_of,
    invoices_of,
    uncredited_of,
)
from fourflows.app.marketplace_books import MarketplaceBooks, PaySeller
from fourflows.app.messagebus import MessageBus
from fourflows.app.notify import merge_policies, notification_policies
from fourflows.app.settlement import RecordSettlement, Settlement
from fourflows.cash.dispute import Dispute
from fourflows.cash.gateway import GatewayNotification, PaymentGateway
from fourflows.cash.invoices import CreditNote, Invoice
from fourflows.cash.ledger import ChartOfAccounts, Difference, JournalEntry, Ledger, TrialBalance
from fourflows.cash.marketplace import Marketplace, SellerStatement
from fourflows.cash.payment import Payment
from fourflows.commerce.catalog import Catalog
from fourflows.commerce.coupons import Coupon, CouponUsage
from fourflows.commerce.order import Order, PaymentFigures, PaymentStatus
from fourflows.commerce.promotions import Promotion
from fourflows.commerce.quotes import Receivable
from fourflows.errors import InvalidInput, NotFound
from fourflows.geo import Address
from fourflows.logistics.carriers import Carrier
from fourflows.logistics.inventory import StockStore
from fourflows.logistics.promise import Origin
from fourflows.logistics.shipment import DeliveryPerformance, Shipment, delivery_performance
from fourflows.logistics.shipping import ShippingTable
from fourflows.money import Money
from fourflows.ports import Clock, EventPublisher, IdSource, Notifier
from fourflows.tax import TaxProvider

__all__ = ["Shop"]


class Shop:
    """Orders and payments through commands: place, authorise, capture, refund, cancel, notify."""

    def __init__(
        self,
        *,
        bus: MessageBus,
        store: MemoryStore,
        checkout: Checkout,
        fulfilment: Fulfilment | None = None,
        accounting: Accounting | None = None,
        marketplace_books: MarketplaceBooks | None = None,
        invoicing: Invoicing | None = None,
    ) -> None:
        self.bus = bus
        self.store = store
        self.checkout = checkout
        self.fulfilment = fulfilment
        self.accounting = Accounting() if accounting is None else accounting
        self.marketplace_books = marketplace_books
        self.invoicing = invoicing

    @classmethod
    def in_memory(
        cls,
        *,
        catalog: Catalog,
        tax: TaxProvider,
        shipping: ShippingTable | None = None,
        promotions: Sequence[Promotion] = (),
        coupons: Sequence[Coupon] = (),
        gateway: PaymentGateway | None = None,
        clock: Clock | None = None,
        ids: IdSource | None = None,
        confirm: Confirm | None = None,
        publishers: Mapping[str, EventPublisher] | None = None,
        notifier: Notifier | None = None,
        locale: str = "en",
        stock: StockStore | None = None,
        locations: Mapping[str, Address] | None = None,
        carriers: Sequence[Carrier] = (),
        origin: Origin | None = None,
        stock_hold: timedelta = timedelta(minutes=30),
        pickup_hold: timedelta = timedelta(days=7),
        chart: ChartOfAccounts | None = None,
        settlement: Settlement | None = None,
        b2b: B2B | None = None,
        marketplace: Marketplace | None = None,
        invoicing: Invoicing | None = None,
    ) -> Shop:
        """A shop over an in-memory store; a `FakeGateway` on the same clock unless given one.

        ``confirm`` runs when an order's money is secured, before the order is
        marked paid (a stock or fraud check); if it raises, the payment is
        voided and the order canceled (outcome ``compensated``). With a
        ``notifier``, customers are told about their orders in ``locale``
        (``en`` or ``zh_TW``). With a ``stock`` store, orders reserve stock
        when placed and are fulfilled from it (`fourflows.app.fulfilment`):
        With an ``origin`` (where and when orders ship), each order gets a
        promised delivery window and each shipment is judged against it.
        ``locations`` gives each stock location's address, ``carriers`` the
        carriers that collect from them; an unpaid order holds its stock for
        ``stock_hold``, a parcel waits at the shop's own store for ``pickup_hold``.
        Every movement of money is posted to the shop's double-entry ledger
        (`fourflows.app.accounting`), on ``chart`` (the default chart unless given).
        With a ``settlement``, orders in other currencies are booked in its
        currency at the rate frozen when they were placed (`fourflows.app.settlement`).
        With ``b2b``, business customers get quotes, orders on account, invoices
        and payment terms (`fourflows.app.b2b`). With a ``marketplace``, each
        capture and refund is split into seller payable and commission
        (`fourflows.app.marketplace_books`). With ``invoicing``, paid orders
        are invoiced and refunds credited (`fourflows.app.invoicing`); a shop
        with ``b2b`` too must give both the same invoice numbering.
        """
        if not isinstance(catalog, Catalog):
            raise InvalidInput(f"catalog must be a Catalog, not {catalog!r}")
        clock = SystemClock() if clock is None else clock
        checkout = Checkout(
            catalog=catalog,
            tax=tax,
            gateway=FakeGateway(clock) if gateway is None else gateway,
            shipping=shipping,
            promotions=promotions,
            coupons=coupons,
            confirm=confirm,
            disputes=apply_dispute_notice,
            origin=origin,
        )
        if settlement is not None:
            settlement = settlement.for_chart(chart)
            chart = settlement.chart
        accounting = Accounting(chart)
        tables = [POLICIES, accounting.policies()]
        if settlement is not None:
            tables.append(settlement.policies())
        if invoicing is not None:
            if b2b is not None and invoicing.numbering is not b2b.numbering:
                raise InvalidInput(
                    "invoicing and b2b must share one invoice numbering, or both hand out "
                    "the same numbers"
                )
            tables.append(invoicing.policies())
        books = None if marketplace is None else MarketplaceBooks(marketplace, chart=chart)
        if books is not None:
            tables.append(books.policies())
        fulfilment = None
        if stock is not None:
            if shipping is None:
                raise InvalidInput("a shop that ships from stock needs a shipping table")
            fulfilment = Fulfilment(
                checkout=checkout,
                stock=stock,
                locations=locations or {},
                carriers=carriers,
                hold=stock_hold,
                pickup_hold=pickup_hold,
            )
            checkout.stock = fulfilment
            if b2b is not None:
                b2b.stock = fulfilment
            tables.append(fulfilment.policies())
        if notifier is not None:
            tables.append(notification_policies(notifier, locale=locale))
        store = MemoryStore()
        bus = MessageBus(
            unit_of_work=store.unit_of_work,
            clock=clock,
            ids=UuidIds() if ids is None else ids,
            commands={
                **COMMAND_HANDLERS,
                **checkout.handlers(),
                **OrderChanges.for_checkout(checkout).handlers(),
                **Disputes(gateway=checkout.gateway).handlers(),
                **({} if fulfilment is None else fulfilment.handlers()),
                **accounting.handlers(),
                **({} if settlement is None else settlement.handlers()),
                **({} if b2b is None else b2b.handlers()),
                **({} if books is None else books.handlers()),
            },
            policies=merge_policies(*tables),
            publishers=publishers,
        )
        return cls(
            bus=bus,
            store=store,
            checkout=checkout,
            fulfilment=fulfilment,
            accounting=accounting,
            marketplace_books=books,
            invoicing=invoicing,
        )

    @property
    def gateway(self) -> PaymentGateway:
        """The payment gateway the shop calls."""
        return self.checkout.gateway

    def handle(self, command: Command) -> Any:
        """Send any command through the bus and return its handler's result."""
        return self.bus.handle(command)

    def _send(self, command: Command) -> ShopResult:
        result = self.bus.handle(command)
        assert isinstance(result, ShopResult)
        return result

    def place_order(self, command: PlaceOrder) -> ShopResult:
        """Price, place, open the payment and authorise it (see `PlaceOrder`)."""
        return self._send(command)

    def authorize_payment(self, command: AuthorizePayment) -> ShopResult:
        """Settle an authorisation whose answer was lost."""
        return self._send(command)

    def capture_payment(self, command: CapturePayment) -> ShopResult:
        """Capture an explicit amount."""
        return self._send(command)

    def refund_payment(self, command: RefundPayment) -> ShopResult:
        """Refund an explicit amount."""
        return self._send(command)

    def refund_order(self, command: RefundOrder) -> ShopResult:
        """Refund an amount of an order, spread over its tenders (card first, shop-held last)."""
        return self._send(command)

    def expire_payments(self, command: ExpirePayments) -> tuple[ShopResult, ...]:
        """Expire bank transfers not paid by their deadline; cancel their orders."""
        result = self.bus.handle(command)
        assert isinstance(result, tuple)
        return result

    def cancel_order(self, command: CancelOrder) -> ShopResult:
        """Cancel before shipment; void or refund what was paid."""
        return self._send(command)

    def apply_notification(
        self, notification: GatewayNotification | ApplyGatewayNotification
    ) -> ShopResult:
        """Apply a provider's notification (a parsed one, or the raw webhook command)."""
        if isinstance(notification, GatewayNotification):
            payload = notification.to_payload()
            notification = ApplyGatewayNotification(
                body=payload.body.decode("utf-8"), headers=payload.headers
            )
        return self._send(notification)

    def issue_store_credit(self, command: IssueStoreCredit) -> BalanceResult:
        """Add to a customer's store credit; spend it with a ``store_credit`` `Tender`."""
        result = self.bus.handle(command)
        assert isinstance(result, BalanceResult)
        return result

    def load_gift_card(self, command: LoadGiftCard) -> BalanceResult:
        """Issue a gift card or top it up; spend it with a ``gift_card`` `Tender`."""
        result = self.bus.handle(command)
        assert isinstance(result, BalanceResult)
        return result

    def preview_change(self, command: PreviewOrderChange) -> ChangeEffect:
        """What a change would do to the order and its money; changes nothing."""
        result = self.bus.handle(command)
        assert isinstance(result, ChangeEffect)
        return result

    def propose_change(self, command: ProposeOrderChange) -> ShopResult:
        """Record a change on the order, to be confirmed or declined."""
        return self._send(command)

    def confirm_change(self, command: ConfirmOrderChange) -> ShopResult:
        """Apply a proposed change and move its money (refund, void or collect)."""
        return self._send(command)

    def decline_change(self, command: DeclineOrderChange) -> ShopResult:
        """Drop a proposed change; the order stays as it was."""
        return self._send(command)

    def submit_dispute_evidence(self, command: SubmitDisputeEvidence) -> ShopResult:
        """Answer a dispute with evidence, through the provider."""
        return self._send(command)

    def accept_dispute(self, command: AcceptDispute) -> ShopResult:
        """Let a dispute go: the disputed money is lost."""
        return self._send(command)

    def miss_dispute_deadlines(self, command: MissDisputeDeadlines) -> tuple[ShopResult, ...]:
        """Close as lost the disputes whose answer is overdue."""
        result = self.bus.handle(command)
        assert isinstance(result, tuple)
        return result

    def allocate_order(self, command: AllocateOrder) -> tuple[ShipmentResult, ...]:
        """Allocate what is held for a paid order (backorders that arrived); plan shipments."""
        result = self.bus.handle(command)
        assert isinstance(result, tuple)
        return result

    def pack_shipment(self, command: PackShipment) -> ShipmentResult:
        """Pack a shipment's units into parcels within its service's limits."""
        return self._shipped(command)

    def ship_shipment(self, command: ShipShipment) -> ShipmentResult:
        """Book the carrier and hand the parcels over (or put them out at the shop's store)."""
        return self._shipped(command)

    def track_shipment(self, command: TrackShipment) -> ShipmentResult:
        """Read the carrier's tracking and apply what is new."""
        return self._shipped(command)

    def mark_picked_up(self, command: MarkPickedUp) -> ShipmentResult:
        """The customer collected the parcel at the shop's own store."""
        return self._shipped(command)

    def expire_reservations(self, command: ExpireReservations) -> tuple[str, ...]:
        """Release overdue stock holds; cancel their unpaid orders (their ids)."""
        result = self.bus.handle(command)
        assert isinstance(result, tuple)
        return result

    def _shipped(self, command: Command) -> ShipmentResult:
        result = self.bus.handle(command)
        assert isinstance(result, ShipmentResult)
        return result

    def record_gateway_fee(self, command: RecordGatewayFee) -> JournalEntry:
        """Post the fee a payment provider charged on a payment."""
        result = self.bus.handle(command)
        assert isinstance(result, JournalEntry)
        return result

    def pay_seller(self, command: PaySeller) -> JournalEntry:
        """Pay a marketplace seller out of what the shop owes it."""
        result = self.bus.handle(command)
        assert isinstance(result, JournalEntry)
        return result

    def record_settlement(self, command: RecordSettlement) -> JournalEntry:
        """The provider paid out a capture in the settlement currency: post it and any FX gain."""
        result = self.bus.handle(command)
        assert isinstance(result, JournalEntry)
        return result

    def record_cod_remittance(self, command: RecordCodRemittance) -> Any:
        """The carrier paid over the cash it collected on delivery (less its fee)."""
        return self.bus.handle(command)

    # --- reading -----------------------------------------------------------------------------

    def seller_statement(
        self,
        seller_id: str,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        currency: str | None = None,
    ) -> SellerStatement:
        """A marketplace seller's statement for ``start <= at < end`` (open ends: all time)."""
        if self.marketplace_books is None:
            raise InvalidInput("this shop has no marketplace: pass marketplace= to Shop.in_memory")
        with self.store.unit_of_work() as uow:
            return self.marketplace_books.statement(
                uow, seller_id, start=start, end=end, currency=currency
            )

    def ledger(self) -> Ledger:
        """The shop's double-entry ledger as committed."""
        with self.store.unit_of_work() as uow:
            return self.accounting.ledger(uow)

    def trial_balance(
        self,
        *,
        order_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> TrialBalance:
        """Debits and credits per account (for one order, or a period ``start <= at < end``)."""
        return self.ledger().trial_balance(order_id=order_id, start=start, end=end)

    def reconcile(self) -> tuple[Difference, ...]:
        """Where the ledger and the payments disagree; empty when the books are right."""
        with self.store.unit_of_work() as uow:
            return reconcile_shop(uow)

    def shipment(self, shipment_id: str) -> Shipment:
        """The committed shipment (a copy); `NotFound` if there is none."""
        with self.store.unit_of_work() as uow:
            return uow.repository(Shipment).get(shipment_id)

    def receivable(self, order_id: str) -> Receivable | None:
        """What a business customer owes on an order sold on account, if it was invoiced."""
        with self.store.unit_of_work() as uow:
            return receivable_of(uow, order_id)

    def overdue_accounts(self, at: datetime) -> tuple[Receivable, ...]:
        """Receivables past their due date at ``at``, longest overdue first."""
        result = self.bus.handle(OverdueAccounts(at=at))
        assert isinstance(result, tuple)
        return result

    def invoices_of(self, order_id: str) -> tuple[Invoice, ...]:
        """The order's invoices, first issued first (void ones included)."""
        with self.store.unit_of_work() as uow:
            return invoices_of(uow, order_id)

    def credit_notes_of(self, order_id: str) -> tuple[CreditNote, ...]:
        """The credit notes issued against the order's invoices, first issued first."""
        with self.store.unit_of_work() as uow:
            return credit_notes_of(uow, order_id)

    def uncredited_of(self, order_id: str) -> tuple[UncreditedRefund, ...]:
        """Refunds and chargebacks of the order that no credit note (fully) documents."""
        with self.store.unit_of_work() as uow:
            return uncredited_of(uow, order_id)

    def capture_problems(self, order_id: str) -> tuple[str, ...]:
        """Captures refused when the order's goods shipped, noted for a person to see."""
        with self.store.unit_of_work() as uow:
            return capture_problems(uow, order_id)

    def delivery_performance(self) -> DeliveryPerformance:
        """How many arrived shipments kept their promised delivery window, over all orders."""
        shipments = [row for row in self.store.rows.values() if isinstance(row, Shipment)]
        return delivery_performance(shipments)

    def shipments_of(self, order_id: str) -> tuple[Shipment, ...]:
        """The order's shipments, first planned first."""
        with self.store.unit_of_work() as uow:
            ids = _shipment_ids(uow, order_id)
            return tuple(uow.repository(Shipment).get(s) for s in ids)

    def dispute(self, dispute_id: str) -> Dispute:
        """The committed dispute (a copy); `NotFound` if there is none."""
        with self.store.unit_of_work() as uow:
            return uow.repository(Dispute).get(dispute_id)

    def disputes_of(self, order_id: str) -> tuple[Dispute, ...]:
        """The disputes against the order's payments."""
        with self.store.unit_of_work() as uow:
            return disputes_of(uow, order_id)

    def balance(self, account: str) -> Money:
        """What a stored-value account holds now; `NotFound` if it was never issued.

        ``account`` is `fourflows.cash.balances.gift_card_account` of a card's
        code or `fourflows.cash.balances.store_credit_account` of a customer id.
        """
        with self.store.unit_of_work() as uow:
            found = _account(uow, account)
            if found is None:
                raise NotFound("stored-value account", account)
            return found.balance

    def order(self, order_id: str) -> Order:
        """The committed order (a copy); `NotFound` if there is none."""
        with self.store.unit_of_work() as uow:
            return uow.repository(Order).get(order_id)

    def payment(self, payment_id: str) -> Payment:
        """The committed payment (a copy); `NotFound` if there is none."""
        with self.store.unit_of_work() as uow:
            return uow.repository(Payment).get(payment_id)

    def payments_of(self, order_id: str) -> tuple[Payment, ...]:
        """The order's payments, oldest first."""
        with self.store.unit_of_work() as uow:
            uow.repository(Order).get(order_id)
            return tuple(uow.repository(Payment).get(p) for p in _payment_ids(uow, order_id))

    def figures(self, order_id: str) -> PaymentFigures:
        """The order's `PaymentFigures`, summed from its payments."""
        with self.store.unit_of_work() as uow:
            return payment_figures(uow, uow.repository(Order).get(order_id))

    def payment_status(self, order_id: str) -> PaymentStatus:
        """The order's derived payment status."""
        return self.order(order_id).payment_status(self.figures(order_id))

    def coupon_usage(self) -> CouponUsage:
        """Coupon uses so far, reservations of open orders included."""
        with self.store.unit_of_work() as uow:
            return _ledger(uow).snapshot()
