"""CEL conditions: refused when saved with line and column; failing at run time = no match."""

from datetime import UTC, datetime

import pytest

from tessera.adapters.expressions import (
    ConditionError,
    EvaluationContext,
    ProgramCache,
    compile_condition,
)


@pytest.mark.parametrize(
    ("source", "line", "column", "words"),
    [
        ("event.attributes.mb > ", 1, 23, "syntax"),
        (
            "event.attributes.mb > 1 &&\n   customer.tier == 'gold'",
            2,
            4,
            "unknown variable 'customer'",
        ),
        ("   ", 1, 1, "empty"),
    ],
)
def test_a_bad_condition_is_refused_with_line_and_column(source, line, column, words):
    with pytest.raises(ConditionError) as caught:
        compile_condition(source)
    assert caught.value.extra["line"] == line
    assert caught.value.extra["column"] == column
    assert words in caught.value.reason.lower()


def test_a_condition_that_fails_at_run_time_counts_as_not_matched():
    program = compile_condition("event.attributes.mb > 100")
    context = EvaluationContext({"attributes": {"mb": "lots"}}, {}, {}, datetime.now(UTC))
    assert context.matches(program, "c1") is False


def test_conditions_see_event_subscriber_aggregates_and_now():
    program = compile_condition(
        "event.attributes.mb >= 100 && subscriber.tier == 'gold' && agg.data_mb_month > 1000 "
        "&& now > timestamp('2026-01-01T00:00:00Z')"
    )
    context = EvaluationContext(
        {"attributes": {"mb": 150}}, {"tier": "gold"}, {"data_mb_month": 1500}, datetime.now(UTC)
    )
    assert context.matches(program, "c1") is True


def test_the_program_cache_recompiles_only_for_a_new_version():
    cache = ProgramCache()
    first = cache.get("c", 1, "true")
    assert cache.get("c", 1, "false") is first
    assert cache.get("c", 2, "false") is not first
