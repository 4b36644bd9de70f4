"""A Griffe extension that shows docstring examples as Python console code.

fourflows docstrings are plain prose with doctest-style examples (lines that
begin with ``>>>``). Markdown would read those lines as nested block quotes,
so this extension wraps each run of example lines in a ``pycon`` fence before
mkdocstrings renders the docstring. Nothing else in a docstring changes.
"""

from __future__ import annotations

import ast
from typing import Any

import griffe

__all__ = ["DoctestFences", "fence_doctests"]

_PROMPT = ">>>"


def fence_doctests(text: str) -> str:
    """Wrap every doctest example in ``text`` in a ``pycon`` code fence.

    An example starts at a line beginning with ``>>>`` (after indentation)
    and runs to the next blank line. Text already inside a fence is left as it is.
    """
    out: list[str] = []
    in_fence = False
    in_example = False
    for line in text.splitlines():
        stripped = line.strip()
        if in_example and not stripped:
            out.append("```")
            in_example = False
        if not in_example and stripped.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and not in_example and stripped.startswith(_PROMPT):
            out.append("```pycon")
            in_example = True
        out.append(line)
    if in_example:
        out.append("```")
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    """Fence doctest examples in every docstring Griffe loads."""

    def on_instance(
        self,
        *,
        node: ast.AST | griffe.ObjectNode,
        obj: griffe.Object,
        agent: griffe.Visitor | griffe.Inspector,
        **kwargs: Any,
    ) -> None:
        """Rewrite ``obj``'s docstring as soon as the object is created."""
        if obj.docstring is not None and _PROMPT in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
