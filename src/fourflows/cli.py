"""The ``fourflows`` command: the demo, state diagrams and the event catalogue."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from fourflows import __version__, demo
from fourflows.errors import NotFound
from fourflows.events import event_types
from fourflows.machines import machine_named, registered_machines

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit with status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> _Parser:
    parser = _Parser(
        prog="fourflows",
        description="The four flows of e-commerce as a Python library: demo and diagrams.",
    )
    parser.add_argument("--version", action="version", version=f"fourflows {__version__}")
    parser.add_argument(
        "--import",
        dest="modules",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first, so that its machines and events are listed (repeatable)",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands.add_parser("demo", help="walk through what fourflows does")
    diagram = commands.add_parser("diagram", help="print a state machine's diagram")
    diagram.add_argument("name", help="a machine name (see: fourflows machines)")
    diagram.add_argument("--format", choices=["mermaid"], default="mermaid")
    commands.add_parser("machines", help="list the state machines")
    commands.add_parser("events", help="list the domain event types, by flow")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        return _run(argv)
    except BrokenPipeError:
        # The reader went away (`fourflows demo | head`): stop quietly, as shell tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _run(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    for module in args.modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            parser.error(f"cannot import {module!r}: {error}")
    if args.command == "demo":
        demo.run()
    elif args.command == "diagram":
        try:
            machine = machine_named(args.name)
        except NotFound as error:
            print(f"fourflows: error: {error}", file=sys.stderr)
            return 2
        print(machine.mermaid(), end="")
    elif args.command == "machines":
        for machine in registered_machines():
            print(f"{machine.name}: {', '.join(machine.spec.states)}")
    else:
        for kind in event_types():
            summary = (kind.__doc__ or "").strip().splitlines()[0].replace("``", "")
            print(f"{kind.flow.value:<11} {kind.name():<24} {summary}")
    return 0
