"""Partner voucher lists: codes someone else made, uploaded here and handed out one by one.

A list's status is what the operator set (active, paused, archived), except that an active or
paused list whose end date has passed *is* expired: nothing has to run for that to happen.
Utilization is counted on the list itself (uploaded, issued, redeemed at the partner), so
reading it costs one row whatever the list's size.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from tessera.domain.errors import Conflict, Invalid
from tessera.domain.tenants import validate_name

CODE_MAX = 100
DESCRIPTION_MAX = 500
CODES_PER_SUBSCRIBER_MAX = 1000


class ListStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    EXPIRED = "expired"  # never set by hand: the end date passed
    ARCHIVED = "archived"  # final


SETTABLE = frozenset({ListStatus.ACTIVE, ListStatus.PAUSED, ListStatus.ARCHIVED})


class CodeState(StrEnum):
    AVAILABLE = "available"
    ISSUED = "issued"  # given to one subscriber
    REDEEMED = "redeemed"  # the partner reported its use


@dataclass(frozen=True, slots=True)
class ListSpec:
    """The editable fields of a list, checked together."""

    partner: str
    name: str
    description: str = ""
    low_stock_percent: int = 80
    ends_at: datetime | None = None
    # A distribution gives one subscriber at most this many codes of the list; one at the
    # cap is answered the code it was given last (campaign rewards have their own caps).
    codes_per_subscriber: int = 1

    def validated(self) -> ListSpec:
        if len(self.description) > DESCRIPTION_MAX:
            raise Invalid("description", f"must be at most {DESCRIPTION_MAX} characters")
        if not 1 <= self.low_stock_percent <= 100:
            raise Invalid("low_stock_percent", "must be a percentage from 1 to 100")
        if self.ends_at is not None and self.ends_at.tzinfo is None:
            raise Invalid("ends_at", "must carry a time zone offset")
        if not 1 <= self.codes_per_subscriber <= CODES_PER_SUBSCRIBER_MAX:
            raise Invalid("codes_per_subscriber", f"must be from 1 to {CODES_PER_SUBSCRIBER_MAX}")
        return ListSpec(
            partner=validate_name(self.partner, "partner"),
            name=validate_name(self.name),
            description=self.description,
            low_stock_percent=self.low_stock_percent,
            ends_at=self.ends_at,
            codes_per_subscriber=self.codes_per_subscriber,
        )


@dataclass(frozen=True, slots=True)
class Utilization:
    uploaded: int
    issued: int
    redeemed: int

    @property
    def remaining(self) -> int:
        return self.uploaded - self.issued

    @property
    def issued_percent(self) -> float:
        return 0.0 if self.uploaded == 0 else round(100 * self.issued / self.uploaded, 2)


@dataclass(frozen=True, slots=True)
class VoucherList:
    id: uuid.UUID
    spec: ListSpec
    set_status: ListStatus  # as the operator left it
    utilization: Utilization
    low_stock_armed: bool
    created_at: datetime
    updated_at: datetime

    def status(self, now: datetime) -> ListStatus:
        return effective_status(self.set_status, self.spec.ends_at, now)


def effective_status(set_status: ListStatus, ends_at: datetime | None, now: datetime) -> ListStatus:
    if set_status is ListStatus.ARCHIVED:
        return set_status
    if ends_at is not None and ends_at <= now:
        return ListStatus.EXPIRED
    return set_status


def check_status_change(current: VoucherList, wanted: ListStatus) -> None:
    if wanted not in SETTABLE:
        raise Invalid("status", "may be set to active, paused or archived (expiry follows ends_at)")
    if current.set_status is ListStatus.ARCHIVED and wanted is not ListStatus.ARCHIVED:
        raise Conflict("an archived list stays archived", code="list_archived")


def is_low(issued: int, uploaded: int, percent: int) -> bool:
    """Whether issued / uploaded has reached the threshold (integers: no rounding surprises)."""
    return uploaded > 0 and issued * 100 >= percent * uploaded


# --- CSV rows ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CodeRow:
    line: int
    code: str
    description: str | None
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class RowProblem:
    line: int
    reason: str


def parse_expiry(text: str, now: datetime) -> datetime | None:
    """Empty: no expiry. A date means the end of that day (UTC); a time must carry an offset.

    Raises ``ValueError`` with the reason.
    """
    text = text.strip()
    if not text:
        return None
    if len(text) == 10:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"expiry '{text}' is not a date (YYYY-MM-DD)") from None
        if day == date.max:  # its end is past what a datetime holds
            raise ValueError(f"expiry '{text}' is past the last date that can be stored")
        moment = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
    else:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"expiry '{text}' is not an ISO 8601 date or time") from None
        if moment.tzinfo is None:
            raise ValueError(f"expiry '{text}' has no time zone offset (add Z or +03:00)")
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:
            raise ValueError(f"expiry '{text}' is outside what UTC can hold") from None
    if moment <= now:
        raise ValueError(f"expiry '{text}' has already passed")
    return moment


def validate_code(code: str) -> str:
    """Partner codes are kept as given (case matters to some partners), trimmed of spaces."""
    code = code.strip()
    if not code:
        raise ValueError("code is empty")
    if len(code) > CODE_MAX:
        raise ValueError(f"code is longer than {CODE_MAX} characters")
    if not code.isprintable():
        raise ValueError("code contains a control character")
    return code


class RowParser:
    """Turns CSV records into code rows or problems, given the header's column positions."""

    def __init__(self, header: list[str], now: datetime) -> None:
        names = [h.strip().lower() for h in header]
        if "code" not in names:
            found = ", ".join(repr(h) for h in header[:10]) or "nothing"
            raise Invalid(
                "file",
                f"the header has no 'code' column (found {found}); "
                "the first line must name the columns: code, description, expiry",
                code="csv_no_code_column",
            )
        self.width = len(names)
        self.code_at = names.index("code")
        self.description_at = names.index("description") if "description" in names else None
        self.expiry_at = names.index("expiry") if "expiry" in names else None
        self.now = now
        self._expiries: dict[str, datetime | None] = {}  # partner files repeat a few dates

    def parse(self, line: int, fields: list[str]) -> CodeRow | RowProblem:
        width = len(fields)
        if width > self.width:
            return RowProblem(line, f"has {width} fields; the header has {self.width}")
        at = self.description_at
        description = fields[at].strip() if at is not None and at < width else ""
        at = self.expiry_at
        expiry = fields[at] if at is not None and at < width else ""
        try:
            code = validate_code(fields[self.code_at] if self.code_at < width else "")
            if len(description) > DESCRIPTION_MAX:
                raise ValueError(f"description is longer than {DESCRIPTION_MAX} characters")
            if "\x00" in description:  # PostgreSQL cannot store it; SQLite would
                raise ValueError("description contains a NUL character")
            expires_at = self._expiry(expiry)
        except ValueError as exc:
            return RowProblem(line, str(exc))
        return CodeRow(line, code, description or None, expires_at)

    def _expiry(self, text: str) -> datetime | None:
        if text in self._expiries:
            return self._expiries[text]
        value = parse_expiry(text, self.now)
        if len(self._expiries) < 1000:
            self._expiries[text] = value
        return value
