import fourflows

PINNED = [
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


def test_the_public_names_are_pinned() -> None:
    """Changing the public API is a decision: update this list and the CHANGELOG together."""
    assert fourflows.__all__ == PINNED


def test_every_public_name_exists_and_is_documented() -> None:
    for name in fourflows.__all__:
        value = getattr(fourflows, name)
        if callable(value):
            assert value.__doc__, name
