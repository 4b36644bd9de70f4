"""fourflows: the four flows of e-commerce, and after-sales service, as a library.

Commerce (商流), cash (金流), logistics (物流) and information (資訊流) flows,
with the service flow (服務流) for after-sales. Import the names you need from
here; modules not re-exported here may change between minor versions.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fourflows")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

from fourflows.adapters.fake_carrier import FakeCarrier
from fourflows.adapters.fake_gateway import FakeGateway
from fourflows.adapters.fakes import (
    FixedClock,
    RecordingNotifier,
    SequentialIds,
    SystemClock,
    UuidIds,
)
from fourflows.adapters.memory import MemoryStore, RecordingPublisher
from fourflows.adapters.stock import MemoryStockStore
from fourflows.aggregates import Aggregate
from fourflows.app.bootstrap import in_memory_bus
from fourflows.app.changes import (
    ConfirmOrderChange,
    DeclineOrderChange,
    PreviewOrderChange,
    ProposeOrderChange,
)
from fourflows.app.checkout import (
    ApplyGatewayNotification,
    AuthorizePayment,
    CancelOrder,
    CapturePayment,
    ExpirePayments,
    IssueStoreCredit,
    LoadGiftCard,
    PlaceOrder,
    RefundOrder,
    RefundPayment,
    ShipTo,
    ShopResult,
    Tender,
)
from fourflows.app.commands import CancelRefund, Command, ConfirmRefund, FailRefund, RequestRefund
from fourflows.app.disputes import AcceptDispute, MissDisputeDeadlines, SubmitDisputeEvidence
from fourflows.app.fulfilment import (
    AllocateOrder,
    ExpireReservations,
    MarkPickedUp,
    PackShipment,
    ShipShipment,
    TrackShipment,
)
from fourflows.app.messagebus import MessageBus
from fourflows.app.shop import Shop
from fourflows.cash.dispute import Dispute
from fourflows.cash.gateway import GatewayNotification, GatewayResult, PaymentGateway
from fourflows.cash.invoices import CreditNote, Invoice
from fourflows.cash.ledger import ChartOfAccounts, Ledger
from fourflows.cash.marketplace import Marketplace, Seller
from fourflows.cash.payment import Payment, PaymentMethod
from fourflows.cash.refund import Refund
from fourflows.commerce.cart import Cart, CartLine, Channel, Customer, PricingContext
from fourflows.commerce.catalog import Catalog, Handling, Product
from fourflows.commerce.coupons import Coupon, CouponUsage
from fourflows.commerce.order import Order, OrderChange, PaymentFigures
from fourflows.commerce.pricing import Quote, QuoteLine, price_cart
from fourflows.commerce.promotions import (
    BundlePrice,
    BuyXGetY,
    Clearance,
    FixedAmountOff,
    FlashSale,
    FlashSaleSales,
    FreeShippingPromotion,
    PercentageOff,
    SpendThreshold,
    SpendTier,
    apply_promotions,
)
from fourflows.commerce.quotes import Buyer, PaymentTerms, PriceList, SalesQuote
from fourflows.errors import (
    CarrierUnavailable,
    ConcurrencyConflict,
    CurrencyMismatch,
    FloatNotAllowed,
    FourFlowsError,
    GatewayUnavailable,
    GuardRejected,
    IdempotencyConflict,
    InsufficientBalance,
    InsufficientStock,
    InvalidInput,
    InvalidTransition,
    NotEligible,
    NotFound,
    TaxServiceUnavailable,
)
from fourflows.events import DomainEvent, Flow, domain_event, event_type, event_types
from fourflows.geo import Address
from fourflows.logistics.inventory import StockLocation, StockPolicy
from fourflows.logistics.promise import BusinessCalendar, DeliveryWindow, Origin, promise_window
from fourflows.logistics.shipment import (
    Shipment,
    ShippedUnits,
    delivery_performance,
)
from fourflows.logistics.shipping import (
    FreeShippingOffer,
    ShipmentItem,
    ShippingTable,
    quote_service,
    rate_shop,
)
from fourflows.machines import (
    Guard,
    MachineSpec,
    StateMachine,
    Transition,
    machine_named,
    register_machine,
    registered_machines,
)
from fourflows.money import (
    Money,
    MoneyField,
    Precision,
    Rounding,
    allocate,
    allocate_units,
    format_money,
    parse_money,
    round_money,
    split_evenly,
    sum_money,
)
from fourflows.tax import PriceMode, TaxProvider, TaxRounding, TaxTable

__all__ = [
    "AcceptDispute",
    "Address",
    "Aggregate",
    "AllocateOrder",
    "ApplyGatewayNotification",
    "AuthorizePayment",
    "BundlePrice",
    "BusinessCalendar",
    "BuyXGetY",
    "Buyer",
    "CancelOrder",
    "CancelRefund",
    "CapturePayment",
    "CarrierUnavailable",
    "Cart",
    "CartLine",
    "Catalog",
    "Channel",
    "ChartOfAccounts",
    "Clearance",
    "Command",
    "ConcurrencyConflict",
    "ConfirmOrderChange",
    "ConfirmRefund",
    "Coupon",
    "CouponUsage",
    "CreditNote",
    "CurrencyMismatch",
    "Customer",
    "DeclineOrderChange",
    "DeliveryWindow",
    "Dispute",
    "DomainEvent",
    "ExpirePayments",
    "ExpireReservations",
    "FailRefund",
    "FakeCarrier",
    "FakeGateway",
    "FixedAmountOff",
    "FixedClock",
    "FlashSale",
    "FlashSaleSales",
    "FloatNotAllowed",
    "Flow",
    "FourFlowsError",
    "FreeShippingOffer",
    "FreeShippingPromotion",
    "GatewayNotification",
    "GatewayResult",
    "GatewayUnavailable",
    "Guard",
    "GuardRejected",
    "Handling",
    "IdempotencyConflict",
    "InsufficientBalance",
    "InsufficientStock",
    "InvalidInput",
    "InvalidTransition",
    "Invoice",
    "IssueStoreCredit",
    "Ledger",
    "LoadGiftCard",
    "MachineSpec",
    "MarkPickedUp",
    "Marketplace",
    "MemoryStockStore",
    "MemoryStore",
    "MessageBus",
    "MissDisputeDeadlines",
    "Money",
    "MoneyField",
    "NotEligible",
    "NotFound",
    "Order",
    "OrderChange",
    "Origin",
    "PackShipment",
    "Payment",
    "PaymentFigures",
    "PaymentGateway",
    "PaymentMethod",
    "PaymentTerms",
    "PercentageOff",
    "PlaceOrder",
    "Precision",
    "PreviewOrderChange",
    "PriceList",
    "PriceMode",
    "PricingContext",
    "Product",
    "ProposeOrderChange",
    "Quote",
    "QuoteLine",
    "RecordingNotifier",
    "RecordingPublisher",
    "Refund",
    "RefundOrder",
    "RefundPayment",
    "RequestRefund",
    "Rounding",
    "SalesQuote",
    "Seller",
    "SequentialIds",
    "ShipShipment",
    "ShipTo",
    "Shipment",
    "ShipmentItem",
    "ShippedUnits",
    "ShippingTable",
    "Shop",
    "ShopResult",
    "SpendThreshold",
    "SpendTier",
    "StateMachine",
    "StockLocation",
    "StockPolicy",
    "SubmitDisputeEvidence",
    "SystemClock",
    "TaxProvider",
    "TaxRounding",
    "TaxServiceUnavailable",
    "TaxTable",
    "Tender",
    "TrackShipment",
    "Transition",
    "UuidIds",
    "__version__",
    "allocate",
    "allocate_units",
    "apply_promotions",
    "delivery_performance",
    "domain_event",
    "event_type",
    "event_types",
    "format_money",
    "in_memory_bus",
    "machine_named",
    "parse_money",
    "price_cart",
    "promise_window",
    "quote_service",
    "rate_shop",
    "register_machine",
    "registered_machines",
    "round_money",
    "split_evenly",
    "sum_money",
]
