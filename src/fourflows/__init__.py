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

from fourflows.adapters.fakes import FixedClock, SequentialIds, SystemClock, UuidIds
from fourflows.adapters.memory import MemoryStore, RecordingPublisher
from fourflows.aggregates import Aggregate
from fourflows.app.bootstrap import in_memory_bus
from fourflows.app.commands import CancelRefund, Command, ConfirmRefund, FailRefund, RequestRefund
from fourflows.app.messagebus import MessageBus
from fourflows.cash.refund import Refund
from fourflows.errors import (
    ConcurrencyConflict,
    CurrencyMismatch,
    FloatNotAllowed,
    FourFlowsError,
    GuardRejected,
    InvalidInput,
    InvalidTransition,
    NotFound,
)
from fourflows.events import DomainEvent, Flow, domain_event, event_type, event_types
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
    format_money,
    parse_money,
    round_money,
    split_evenly,
    sum_money,
)

__all__ = [
    "Aggregate",
    "CancelRefund",
    "Command",
    "ConcurrencyConflict",
    "ConfirmRefund",
    "CurrencyMismatch",
    "DomainEvent",
    "FailRefund",
    "FixedClock",
    "FloatNotAllowed",
    "Flow",
    "FourFlowsError",
    "Guard",
    "GuardRejected",
    "InvalidInput",
    "InvalidTransition",
    "MachineSpec",
    "MemoryStore",
    "MessageBus",
    "Money",
    "MoneyField",
    "NotFound",
    "Precision",
    "RecordingPublisher",
    "Refund",
    "RequestRefund",
    "Rounding",
    "SequentialIds",
    "StateMachine",
    "SystemClock",
    "Transition",
    "UuidIds",
    "__version__",
    "allocate",
    "domain_event",
    "event_type",
    "event_types",
    "format_money",
    "in_memory_bus",
    "machine_named",
    "parse_money",
    "register_machine",
    "registered_machines",
    "round_money",
    "split_evenly",
    "sum_money",
]
