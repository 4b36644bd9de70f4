"""MkDocs hooks that write generated content into the pages.

Two markers are replaced while a page is read, so the site always shows what
the code declares and nothing is drawn by hand:

* ``<!-- fourflows:machines -->`` becomes, for every registered state
  machine, a heading, its description and its Mermaid state diagram;
* ``<!-- fourflows:machine NAME -->`` becomes the diagram of one machine;
* ``<!-- fourflows:events -->`` becomes the catalogue of domain event types:
  flow, its Chinese name, the event name and the first line of its docstring.

Pages without a marker are returned unchanged.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import fourflows  # noqa: F401  (importing the package registers its machines and events)
from fourflows.events import event_types
from fourflows.machines import StateMachine, machine_named, registered_machines

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files
    from mkdocs.structure.pages import Page

__all__ = [
    "EVENTS_MARKER",
    "MACHINES_MARKER",
    "MACHINE_MARKER",
    "event_catalogue",
    "machine_diagram",
    "machine_diagrams",
    "on_page_markdown",
    "render_markers",
]

MACHINES_MARKER = "<!-- fourflows:machines -->"
MACHINE_MARKER = re.compile(r"<!-- fourflows:machine ([a-z][a-z0-9_]*) -->")
EVENTS_MARKER = "<!-- fourflows:events -->"


def _first_line(text: str | None) -> str:
    """The first non-empty line of ``text``, or an empty string."""
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def _cell(text: str) -> str:
    """Make ``text`` safe inside a Markdown table cell."""
    return text.replace("|", "\\|")


def machine_diagram(machine: StateMachine[Any]) -> str:
    """Markdown for one machine: its initial and final states, then its diagram."""
    spec = machine.spec
    finals = ", ".join(f"`{state}`" for state in spec.final)
    return (
        f"Initial state `{spec.initial}`; final states {finals}.\n\n"
        f"```mermaid\n{machine.mermaid().rstrip()}\n```\n"
    )


def machine_diagrams() -> str:
    """Markdown for every registered machine: heading, description and diagram."""
    parts: list[str] = []
    for machine in registered_machines():
        spec = machine.spec
        parts.append(f"### `{spec.name}`\n")
        if spec.description:
            parts.append(f"{spec.description}\n")
        parts.append(machine_diagram(machine))
    if not parts:
        return "No state machine is registered.\n"
    return "\n".join(parts)


def event_catalogue() -> str:
    """Markdown table of every registered domain event type, by flow then name."""
    rows = [
        "| flow | 中文 | event | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for kind in event_types():
        summary = _cell(_first_line(kind.__doc__))
        rows.append(f"| {kind.flow.value} | {kind.flow.chinese} | `{kind.name()}` | {summary} |")
    return "\n".join(rows) + "\n"


def render_markers(markdown: str) -> str:
    """Replace both markers in ``markdown``; text without markers comes back as it was."""
    if MACHINES_MARKER in markdown:
        markdown = markdown.replace(MACHINES_MARKER, machine_diagrams())
    markdown = MACHINE_MARKER.sub(lambda m: machine_diagram(machine_named(m.group(1))), markdown)
    if EVENTS_MARKER in markdown:
        markdown = markdown.replace(EVENTS_MARKER, event_catalogue())
    return markdown


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """MkDocs ``on_page_markdown`` event: fill in the generated sections of a page."""
    return render_markers(markdown)
