"""``Moment``: the one type of every date and time a request brings (bodies and queries).

An ISO 8601 time with its offset, turned into UTC as it is read. A time that UTC cannot hold
(``9999-12-31T23:59:59-14:00`` is past year 9999 in UTC; ``0001-01-01T00:00:00+14:00`` before
year 1) is refused here, naming the field, instead of failing later as an ``OverflowError``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            "is outside what UTC can hold (years 1 to 9999 once its offset is applied)"
        ) from None


Moment = Annotated[AwareDatetime, AfterValidator(_in_utc)]
