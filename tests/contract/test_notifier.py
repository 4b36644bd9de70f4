"""Our RecordingNotifier keeps the Notifier promises an integrator's adapter must keep."""

from collections.abc import Sequence

from fourflows.adapters.fakes import RecordingNotifier
from fourflows.information.notifications import Notification
from fourflows.ports import Notifier
from fourflows.testing.contracts import NotifierContract


class TestRecordingNotifier(NotifierContract):
    def make_notifier(self) -> RecordingNotifier:
        return RecordingNotifier()

    def sent(self, notifier: Notifier) -> Sequence[Notification]:
        assert isinstance(notifier, RecordingNotifier)
        return notifier.sent

    def break_next_send(self, notifier: Notifier) -> None:
        assert isinstance(notifier, RecordingNotifier)
        notifier.fail_next()
