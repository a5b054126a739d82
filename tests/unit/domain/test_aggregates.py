from datetime import UTC, datetime

import pytest

from tessera.domain.aggregates import AggregateDefinition, Function, Window
from tessera.domain.errors import Invalid
from tessera.domain.events import Event


def event(at, mb=10, type_="usage.data"):
    return Event("e", "s", type_, at, {"mb": mb})


def test_calendar_windows_cut_at_midnight_and_month_end_in_utc():
    day = AggregateDefinition("d", "usage.data", Function.SUM, Window.DAY, "mb")
    month = AggregateDefinition("m", "usage.data", Function.SUM, Window.MONTH, "mb")
    before = datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC)
    after = datetime(2026, 2, 1, 0, 0, 0, tzinfo=UTC)
    assert day.bucket_key(before) != day.bucket_key(after)
    assert month.bucket_key(before) == "2026-01"
    assert month.bucket_key(after) == "2026-02"


def test_rolling_window_reads_the_last_n_days():
    rolling = AggregateDefinition(
        "r", "usage.data", Function.SUM, Window.ROLLING_DAYS, "mb", days=3
    )
    keys = rolling.read_keys(datetime(2026, 3, 1, 5, tzinfo=UTC))
    assert keys == ["2026-03-01", "2026-02-28", "2026-02-27"]


def test_only_the_declared_event_type_and_numeric_values_count():
    total = AggregateDefinition("t", "usage.data", Function.SUM, Window.DAY, "mb")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert total.contribution(event(now, 5)) == 5
    assert total.contribution(event(now, "5")) is None
    assert total.contribution(event(now, True)) is None
    assert total.contribution(event(now, 5, "usage.sms")) is None
    count = AggregateDefinition("c", "usage.sms", Function.COUNT, Window.DAY)
    assert count.contribution(event(now, None, "usage.sms")) == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "Bad-Name"}, "name"),
        ({"function": Function.SUM, "attribute": None}, "attribute"),
        ({"window": Window.ROLLING_DAYS, "days": None}, "days"),
        ({"window": Window.DAY, "days": 3}, "days"),
    ],
)
def test_bad_aggregate_definitions_name_the_field(kwargs, field):
    values = {
        "name": "x",
        "event_type": "usage.data",
        "function": Function.SUM,
        "window": Window.DAY,
        "attribute": "mb",
    }
    with pytest.raises(Invalid) as caught:
        AggregateDefinition(**{**values, **kwargs}).validated()
    assert caught.value.field == field
