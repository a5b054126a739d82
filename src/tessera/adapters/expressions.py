"""Campaign conditions in CEL, through the Rust-backed ``common-expression-language`` package.

A condition is compiled when it is saved (a syntax error or an unknown variable is refused with
its line and column) and compiled programs are cached per campaign version. At run time a
condition that fails (a wrong type, a missing field) counts as not matched and is logged: one
bad campaign never stops an event batch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import cel
import structlog

from tessera.domain.errors import Invalid

log = structlog.get_logger(__name__)

VARIABLES = ("event", "subscriber", "agg", "now")
_POSITION = re.compile(r"<input>:(\d+):(\d+): (.*?)(?:\n|$)")


class ConditionError(Invalid):
    code = "condition_invalid"

    def __init__(self, reason: str, line: int, column: int) -> None:
        super().__init__(
            "condition", f"line {line}, column {column}: {reason}", line=line, column=column
        )


def _position_of(source: str, name: str) -> tuple[int, int]:
    match = re.search(rf"\b{re.escape(name)}\b", source)
    if match is None:
        return 1, 1
    before = source[: match.start()]
    return before.count("\n") + 1, match.start() - (before.rfind("\n") + 1) + 1


def compile_condition(source: str) -> Any:
    """A compiled program, or ``ConditionError`` naming the line and column."""
    if not source.strip():
        raise ConditionError("must not be empty (use 'true' to match every event)", 1, 1)
    try:
        program = cel.compile(source)
    except ValueError as exc:
        text = str(exc)
        found = _POSITION.search(text)
        if found:
            raise ConditionError(
                found.group(3).strip(), int(found.group(1)), int(found.group(2))
            ) from None
        raise ConditionError(text, 1, 1) from None
    for name in program.variables():
        if name not in VARIABLES:
            line, column = _position_of(source, name)
            raise ConditionError(
                f"unknown variable '{name}' (known: {', '.join(VARIABLES)})", line, column
            )
    return program


class EvaluationContext:
    """One context per event, shared by every campaign the event triggers."""

    __slots__ = ("_context",)

    def __init__(
        self,
        event: Mapping[str, Any],
        subscriber: Mapping[str, Any],
        agg: Mapping[str, Any],
        now: datetime,
    ) -> None:
        self._context = cel.Context(
            {"event": event, "subscriber": subscriber, "agg": agg, "now": now}
        )

    def matches(self, program: Any, campaign_id: object) -> bool:
        try:
            return program.execute(self._context) is True
        except (TypeError, RuntimeError, ValueError) as exc:
            log.warning(
                "condition failed at run time", campaign_id=str(campaign_id), error=str(exc)
            )
            return False


class ProgramCache:
    """Compiled programs by (campaign id, version): an edit bumps the version."""

    def __init__(self) -> None:
        self._programs: dict[tuple[object, int], Any] = {}

    def get(self, campaign_id: object, version: int, source: str) -> Any:
        key = (campaign_id, version)
        program = self._programs.get(key)
        if program is None:
            program = compile_condition(source)
            self._programs[key] = program
        return program
