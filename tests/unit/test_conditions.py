"""CEL conditions: refused when saved with line and column; failing at run time = no match."""

import itertools
from datetime import UTC, datetime

import pytest
from structlog.testing import capture_logs

from tessera.adapters.expressions import (
    ConditionError,
    EvaluationContext,
    ProgramCache,
    Screen,
    check_condition,
    compile_condition,
    merge_uses,
    uses_of,
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


@pytest.mark.parametrize(
    "source",
    [
        "event.attributes.note == 'agg.nope' && agg.mb > 1",  # a name in a string is no reference
        "event.attributes.agg.nope == 1",  # a field named agg of something else
        "has(agg.mb) && agg.mb + 1.0 > 2.0",  # a double sum takes a double
        "subscriber.tier + 1 > 2",  # only a profile can say
    ],
)
def test_a_condition_only_an_event_can_settle_is_accepted(source):
    check_condition(source, ["mb"], "usage.data", datetime(2026, 11, 1, tzinfo=UTC))


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


def test_a_condition_reads_only_the_fields_it_names():
    uses = uses_of("event.attributes.mb > 1 && subscriber.tier == 'gold' && agg.mb_day > 2")
    assert uses == {
        "event": frozenset({"attributes"}),
        "subscriber": frozenset({"tier"}),
        "agg": frozenset({"mb_day"}),
    }


@pytest.mark.parametrize(
    "source",
    [
        "event['type'] == 'topup'",
        "event.size() > 2",
        "event.?attributes.hasValue()",
        "[1, 2].exists(event, event > 1)",
        "has(event) || 'event' == event.type",
    ],
)
def test_a_variable_used_other_than_by_field_name_is_handed_over_whole(source):
    assert uses_of(source)["event"] is None


def test_merged_uses_keep_every_field_and_whole_wins():
    merged = merge_uses([uses_of("event.type == 'a'"), uses_of("event.id == 'b' && agg.x > 1")])
    assert merged == {"event": frozenset({"type", "id"}), "agg": frozenset({"x"})}
    assert merge_uses([merged, uses_of("agg == {}")])["agg"] is None


def test_a_narrowed_context_evaluates_as_the_whole_one():
    source = "event.attributes.mb >= 100 && subscriber.tier == 'gold' && agg.mb_day > 1000"
    program = compile_condition(source)
    event = {"id": "e1", "type": "usage.data", "attributes": {"mb": 150}}
    whole = EvaluationContext(event, {"tier": "gold"}, {"mb_day": 1500, "n": 3}, datetime.now(UTC))
    narrowed = EvaluationContext(
        event, {"tier": "gold"}, {"mb_day": 1500, "n": 3}, datetime.now(UTC), uses_of(source)
    )
    assert whole.matches(program, "c1") is narrowed.matches(program, "c1") is True


def test_one_failing_condition_does_not_stop_the_others_from_matching():
    good, bad = (
        compile_condition("event.attributes.mb > 1"),
        compile_condition("event.attributes.mb.startsWith('x')"),
    )
    context = EvaluationContext({"attributes": {"mb": 5}}, {}, {}, datetime.now(UTC))
    assert context.matching([("a", good), ("b", bad), ("c", good)]) == ["a", "c"]


NOW = datetime(2026, 11, 23, tzinfo=UTC)
SCREENED = [
    "event.attributes.mb > 100 && subscriber.tier == 'gold'",
    "subscriber.tier == 'silver' && event.attributes.mb > 10 // a comment on the last line",
    "agg.mb_day > 1000 || event.attributes.mb == 7",
    "event.attributes.mb.startsWith('x')",  # fails at run time on a number
    "event.attributes.mb",  # not a boolean: never a match
    "now > timestamp('2026-01-01T00:00:00Z') && event.attributes.mb < 0",
]


@pytest.mark.parametrize("size", [1, 2, len(SCREENED)])
def test_the_screen_on_the_event_alone_changes_no_outcome_nor_log(size):
    uses = merge_uses([uses_of(s) for s in SCREENED])
    for sources in itertools.combinations(SCREENED, size):
        programs = [(s, compile_condition(s)) for s in sources]
        screen = Screen([p for _s, p in programs])
        for mb, tier, mb_day in itertools.product(
            [0, 5, 7, 50, 150, "x1", -3], ["gold", "silver"], [0, 5000]
        ):
            screened, each = (
                EvaluationContext(
                    {"attributes": {"mb": mb}}, {"tier": tier}, {"mb_day": mb_day}, NOW, uses
                )
                for _ in range(2)
            )
            with capture_logs() as screened_logs:
                found = screened.matching(programs, screen)
            with capture_logs() as each_logs:
                assert found == each.matching(programs), (mb, tier, mb_day)
            assert screened_logs == each_logs  # the same failures logged


def test_the_subscriber_and_aggregates_are_read_only_when_the_event_does_not_settle_it():
    programs = [("c", compile_condition("event.attributes.mb > 100 && agg.mb_day > 1"))]
    screen = Screen([p for _c, p in programs])
    reads = []

    def agg() -> dict[str, int]:
        reads.append(1)
        return {"mb_day": 5}

    def context(mb: int) -> EvaluationContext:
        return EvaluationContext({"attributes": {"mb": mb}}, {}, agg, datetime.now(UTC))

    assert context(5).matching(programs, screen) == []
    assert reads == []
    assert context(500).matching(programs, screen) == ["c"]
    assert reads == [1]


def test_a_condition_failing_behind_the_screen_is_still_reported():
    programs = [
        ("bad", compile_condition("event.attributes.mb.startsWith('x')")),
        ("missing", compile_condition("event.attributes.tier == 'gold'")),
        ("zero", compile_condition("event.attributes.mb / 0 > 1")),
    ]
    context = EvaluationContext({"attributes": {"mb": 5}}, {}, {}, datetime.now(UTC))
    failed: list[tuple[str, str]] = []
    assert context.matching(programs, Screen([p for _c, p in programs]), failed) == []
    assert [name for name, _reason in failed] == ["bad", "missing", "zero"]
    assert "tier" in failed[1][1]


def test_a_screen_that_seldom_settles_is_dropped_after_its_trial():
    programs = [("c", compile_condition("event.attributes.mb > 10 && agg.mb_day > 1"))]
    screen = Screen([p for _c, p in programs], trial=10)
    reads: list[int] = []

    def context(mb: int) -> EvaluationContext:
        return EvaluationContext(
            {"attributes": {"mb": mb}}, {}, lambda: reads.append(mb) or {"mb_day": 0}, NOW
        )

    for mb in [5] + [50] * 9:  # settled 1 in 10
        assert context(mb).matching(programs, screen) == []
    assert context(5).matching(programs, screen) == []
    assert reads == [50] * 9 + [5]


def test_a_condition_may_read_the_wallet_and_is_checked_against_it():
    now = datetime.now(UTC)
    assert check_condition("wallet.data_mb > 100", [], "usage.data", now) is not None
    with pytest.raises(ConditionError, match="cannot be a boolean"):
        check_condition('wallet.data_mb + "x"', [], "usage.data", now)


def test_a_balance_type_the_wallet_lacks_reads_as_zero():
    context = EvaluationContext(
        {"attributes": {}}, {}, {}, datetime.now(UTC), uses_of("wallet.voice_min == 0"), {}
    )
    assert context.matches(compile_condition("wallet.voice_min == 0"), "c")
