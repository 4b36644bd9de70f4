"""The docs hook writes the machine diagrams and the event catalogue from the code."""

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from fourflows.events import event_types
from fourflows.machines import registered_machines

HOOKS = Path(__file__).resolve().parent.parent / "docs" / "hooks.py"


@pytest.fixture(scope="module")
def hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fourflows_docs_hooks", HOOKS)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def render(hooks: ModuleType, markdown: str) -> str:
    result = hooks.on_page_markdown(markdown, page=None, config=None, files=None)
    assert isinstance(result, str)
    return result


def test_the_machines_marker_becomes_a_diagram_per_registered_machine(hooks: ModuleType) -> None:
    page = render(hooks, "# Machines\n\n<!-- fourflows:machines -->\n\nAfter.\n")
    assert "<!-- fourflows:machines -->" not in page
    assert page.startswith("# Machines\n\n")
    assert page.endswith("\nAfter.\n")
    machines = registered_machines()
    assert machines, "fourflows registers at least the refund machine"
    assert page.count("```mermaid\n") == len(machines)
    assert page.count("stateDiagram-v2") == len(machines)
    for machine in machines:
        assert f"### `{machine.name}`" in page
        assert machine.mermaid().rstrip() in page
        if machine.spec.description:
            assert machine.spec.description in page


def test_the_refund_diagram_shows_its_guards_and_final_states(hooks: ModuleType) -> None:
    page = render(hooks, "<!-- fourflows:machines -->")
    assert "pending --> succeeded: succeed [provider_reference_given]" in page
    for state in ("succeeded", "failed", "canceled"):
        assert f"{state} --> [*]" in page


def test_the_events_marker_becomes_the_event_catalogue(hooks: ModuleType) -> None:
    page = render(hooks, "Intro.\n\n<!-- fourflows:events -->\n")
    assert "<!-- fourflows:events -->" not in page
    assert "| flow | 中文 | event | meaning |" in page
    kinds = event_types()
    assert kinds, "fourflows registers at least the refund events"
    for kind in kinds:
        summary = (kind.__doc__ or "").strip().splitlines()[0].replace("|", "\\|")
        row = f"| {kind.flow.value} | {kind.flow.chinese} | `{kind.name()}` | {summary} |"
        assert row in page
    table_rows = [line for line in page.splitlines() if line.startswith("| ")]
    assert len(table_rows) == len(kinds) + 2  # header, separator, one row per type


def test_both_markers_on_one_page(hooks: ModuleType) -> None:
    page = render(hooks, "<!-- fourflows:machines -->\n\n<!-- fourflows:events -->\n")
    assert "<!-- fourflows:" not in page
    assert "stateDiagram-v2" in page
    assert "`RefundRequested`" in page


@pytest.mark.parametrize(
    "markdown",
    [
        "",
        "# A page\n\nNo generated content here.\n",
        "```python\nprint('fourflows:machines')\n```\n",
        "<!-- another comment -->\n",
    ],
)
def test_pages_without_a_marker_are_unchanged(hooks: ModuleType, markdown: str) -> None:
    assert render(hooks, markdown) == markdown


def test_one_machine_marker_becomes_that_machine_only(hooks: ModuleType) -> None:
    page = hooks.render_markers("before\n<!-- fourflows:machine payment -->\nafter")
    assert "title: payment" in page
    assert "title: order" not in page
    assert page.startswith("before\nInitial state `pending`")
    assert page.rstrip().endswith("after")
