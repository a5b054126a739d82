"""Campaign conditions in CEL, through the Rust-backed ``common-expression-language`` package.

A condition is compiled when it is saved (a syntax error or an unknown variable is refused with
its line and column) and compiled programs are cached per campaign version. At run time a
condition that fails (a wrong type, a missing field) counts as not matched and is logged: one
bad campaign never stops an event batch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import suppress
from datetime import datetime
from typing import Any, TypeVar

import cel
import structlog

from tessera.domain.errors import Invalid

log = structlog.get_logger(__name__)
T = TypeVar("T")

VARIABLES = ("event", "subscriber", "agg", "wallet", "now")
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


# A string literal (single, double or triple quoted, with escapes), to blank before a scan.
_STRING = re.compile(
    r"'''[\s\S]*?'''" r'|"""[\s\S]*?"""' r"|'(?:\\.|[^'\\\n])*'" r'|"(?:\\.|[^"\\\n])*"'
)
_AGG_FIELD = re.compile(r"(?<![.\w])agg\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)")
_AGG_INDEX = re.compile(r"(?<![.\w])agg\s*\[\s*(?:'([^'\\\n]*)'|\"([^\"\\\n]*)\")\s*\]")


def _without_strings(source: str) -> str:
    """``source`` with the inside of each string literal blanked, positions kept: a name in
    a string is not a reference."""
    return _STRING.sub(
        lambda m: m.group(0)[0] + " " * (len(m.group(0)) - 2) + m.group(0)[-1], source
    )


def _line_column(source: str, offset: int) -> tuple[int, int]:
    before = source[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def _aggregates_named(source: str) -> list[tuple[str, int]]:
    """Each aggregate the condition names (``agg.name`` or ``agg['name']``), with its offset."""
    blanked = _without_strings(source)
    named = [(m.group(1), m.start(1)) for m in _AGG_FIELD.finditer(blanked)]
    for m in _AGG_INDEX.finditer(source):
        if blanked[m.start()] == "a":  # not inside a string literal
            group = 1 if m.group(1) is not None else 2
            named.append((m.group(group), m.start(group)))
    return sorted(named, key=lambda found: found[1])


def check_condition(
    source: str, aggregates: Collection[str], event_type: str, now: datetime
) -> Any:
    """``compile_condition``, then what can be known before any event: every aggregate it
    names must be declared (a misspelled one fails on every event), and its result must be
    able to be a boolean.

    The package has no type checker, so the result is probed: the condition runs with every
    declared aggregate at an int, then at a double (an aggregate is either), ``now``, an event
    of the campaign's type without attributes, and a subscriber without a profile. A probe
    that reads an attribute or a profile field fails on the missing key and decides nothing;
    the condition is refused only when every probe gives a value that is not a boolean, or a
    type error: these values have the types an event brings, so no event can do better.
    """
    program = compile_condition(source)
    declared = set(aggregates)
    for name, offset in _aggregates_named(source):
        if name not in declared:
            line, column = _line_column(source, offset)
            known = ", ".join(sorted(declared)) or "none is declared"
            raise ConditionError(f"unknown aggregate '{name}' (declared: {known})", line, column)
    event = {"id": "", "type": event_type, "subscriber": "", "occurred_at": now, "attributes": {}}
    failures = []
    for value in (1, 1.5):
        context = {
            "event": event,
            "subscriber": {"external_id": ""},
            "agg": dict.fromkeys(declared, value),
            "wallet": wallet_view({}, uses_of(source).get("wallet", frozenset())),
            "now": now,
        }
        try:
            result = program.execute(context)
        except TypeError as exc:
            failures.append(str(exc).split(". ")[0])
            continue
        except Exception:  # a missing key, a division by zero: not decided without an event
            return program
        if isinstance(result, bool):
            return program
        failures.append(f"its result is {_CEL_TYPE.get(type(result), 'not a boolean')}")
    line, column = _line_column(source, len(source) - len(source.lstrip()))
    told = [f for f in failures if f.startswith("Unsupported operation")] or failures
    raise ConditionError(f"cannot be a boolean: {told[0]}", line, column)


_CEL_TYPE = {int: "an int", float: "a double", str: "a string", bytes: "bytes", list: "a list",
             dict: "a map", datetime: "a timestamp", type(None): "null"}  # fmt: skip


# What a condition reads of a variable: a set of field names, or ALL when it uses the
# variable in any other way than ``name.field`` (indexing, a macro, a whole-value comparison).
ALL: None = None
Uses = dict[str, frozenset[str] | None]
_REFERENCE = re.compile(r"\b(" + "|".join(VARIABLES) + r")\b")
_FIELD = re.compile(r"\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*\()")


def uses_of(source: str) -> Uses:
    """The fields each variable is read through. Found in the text, so a mention in a string
    literal or a field of something else only widens the result, never narrows it."""
    found: dict[str, set[str] | None] = {}
    for match in _REFERENCE.finditer(source):
        name = match.group(1)
        field = _FIELD.match(source, match.end())
        before = source[: match.start()].rstrip()
        if field is None or before.endswith("."):
            found[name] = ALL
        elif name not in found or found[name] is not None:
            fields = found.setdefault(name, set())
            assert fields is not None
            fields.add(field.group(1))
    return {k: None if v is None else frozenset(v) for k, v in found.items()}


def merge_uses(all_uses: list[Uses]) -> Uses:
    merged: dict[str, frozenset[str] | None] = {}
    for uses in all_uses:
        for name, fields in uses.items():
            if name not in merged:
                merged[name] = fields
                continue
            known = merged[name]
            merged[name] = None if known is None or fields is None else known | fields
    return merged


def wallet_view(totals: Mapping[str, int], fields: frozenset[str] | None) -> Mapping[str, int]:
    """``wallet`` as a condition sees it: the usable balance per balance type, 0 for a type
    the condition names and the subscriber has none of (an empty wallet is no failure)."""
    if fields is None:
        return totals
    return {name: totals.get(name, 0) for name in fields}


def narrowed(value: Mapping[str, Any], fields: frozenset[str] | None) -> Mapping[str, Any]:
    if fields is None:
        return value
    return {k: value[k] for k in fields if k in value}


class Screen:
    """One event type's conditions or-ed into one program, evaluated on the event alone.

    CEL's ``||`` yields false only when every side is false (an error, such as a variable
    not handed over yet, or a non-boolean on a side makes it an error unless another side
    is true), so false means that none of them matches: an event that matches no campaign
    (most do not) costs one evaluation, without the subscriber and the aggregates. It pays
    only if it settles most events (not when a condition cannot be settled by the event, as
    ``subscriber.tier == 'gold'``), so it is dropped after a trial where it settled fewer
    than half.
    """

    __slots__ = ("_program", "_settled", "_trial", "_tried")

    def __init__(self, programs: Sequence[Any], trial: int = 1000) -> None:
        self._program: Any = None
        if programs:
            with suppress(ValueError):  # the line breaks end a ``//`` comment on a last line
                self._program = cel.compile(" || ".join(f"(\n{p.source}\n)" for p in programs))
        self._tried = self._settled = 0
        self._trial = trial

    def settles(self, context: Any) -> bool:
        """Whether no condition can match in ``context``."""
        program = self._program  # once: another thread may drop it meanwhile
        if program is None:
            return False
        try:
            settled = program.execute(context) is False
        except Exception:
            settled = False
        if self._tried < self._trial:  # counts may race between threads: only speed is at stake
            self._tried += 1
            self._settled += settled
            if self._tried >= self._trial and self._settled * 2 < self._tried:
                self._program = None
        return settled


Value = Mapping[str, Any]


class EvaluationContext:
    """One context per event, shared by every campaign the event triggers.

    Handing a value to CEL costs microseconds per map and per string (the extension tries
    conversions in turn, each failure raising a Python exception): a whole event is ~25 us,
    more than evaluating twenty conditions. So only the variables and fields that the
    conditions read (``uses``) are handed over, and in two steps: the event first, for the
    ``Screen``; the subscriber, the aggregates, the wallet and ``now`` only if the screen does
    not settle it. ``subscriber``, ``agg`` and ``wallet`` may be functions, called then.
    """

    __slots__ = ("_context", "_rest")

    def __init__(
        self,
        event: Value,
        subscriber: Value | Callable[[], Value],
        agg: Value | Callable[[], Value],
        now: datetime,
        uses: Uses | None = None,
        wallet: Value | Callable[[], Value] | None = None,
    ) -> None:
        if uses is None:
            first = {"event": event}
        else:
            first = {"event": narrowed(event, uses["event"])} if "event" in uses else {}
        self._context = cel.Context(first)
        self._rest: tuple[Any, ...] | None = (subscriber, agg, wallet or {}, now, uses)

    def _complete(self) -> Any:
        """The context with every variable the conditions read."""
        if self._rest is not None:
            subscriber, agg, wallet, now, uses = self._rest
            self._rest = None
            variables: dict[str, Any] = {}
            for name, value in (("subscriber", subscriber), ("agg", agg)):
                if uses is None or name in uses:
                    found = value() if callable(value) else value
                    variables[name] = found if uses is None else narrowed(found, uses[name])
            if uses is None or "wallet" in uses:
                found = wallet() if callable(wallet) else wallet
                variables["wallet"] = wallet_view(found, None if uses is None else uses["wallet"])
            if uses is None or "now" in uses:
                variables["now"] = now
            if variables:
                self._context.update(variables)
        return self._context

    def matching(
        self,
        candidates: Sequence[tuple[T, Any]],
        screen: Screen | None = None,
        failed: list[tuple[T, str]] | None = None,
    ) -> list[T]:
        """The candidates whose program matches, in order: ``matches`` for each, in one
        loop (a method call per program cost a third of the evaluation). ``screen``, of the
        candidates or more, goes first, on the event alone: its false is exact, since a
        variable missing makes an error, which ``||`` and ``&&`` drop only where the other
        side decides alone (``false && x`` whatever ``x``).

        A program that fails (a missing key, a wrong type, a division by zero: the extension
        raises KeyError, TypeError, ZeroDivisionError and more) does not match, and only that
        candidate is concerned: it goes to ``failed`` with the reason, for the caller to
        count."""
        if self.settled_by(screen):
            return []
        context = self._complete()
        found = []
        for candidate, program in candidates:
            try:
                if program.execute(context) is True:
                    found.append(candidate)
            except Exception as exc:
                if failed is not None:
                    failed.append((candidate, failure_reason(exc)))
        return found

    def settled_by(self, screen: Screen | None) -> bool:
        """Whether ``screen`` finds, on the event alone, that no condition can match."""
        return screen is not None and self._rest is not None and screen.settles(self._context)

    def matches(self, program: Any, campaign_id: object) -> bool:
        return bool(self.matching([(campaign_id, program)]))


def failure_reason(exc: BaseException) -> str:
    """What a failed condition says about it, bounded: the first sentence of the extension's
    message (a KeyError names only the key), which names fields, never their values."""
    text = str(exc).split(". ")[0].strip()
    if isinstance(exc, KeyError):
        text = f"no such key: {text}"
    return text[:200] or type(exc).__name__


class ProgramCache:
    """Compiled programs, and what they read, by (campaign id, version): an edit bumps the
    version."""

    def __init__(self) -> None:
        self._programs: dict[tuple[object, int], Any] = {}
        self._uses: dict[tuple[object, int], Uses] = {}

    def get(self, campaign_id: object, version: int, source: str) -> Any:
        key = (campaign_id, version)
        program = self._programs.get(key)
        if program is None:
            program = compile_condition(source)
            self._uses[key] = uses_of(source)  # first: a thread that sees the program reads it
            self._programs[key] = program
        return program

    def uses(self, campaign_id: object, version: int) -> Uses:
        """What the program cached by ``get`` reads."""
        return self._uses[(campaign_id, version)]
