"""The dashboard's charts: one bar per hour, the tallest filling the plot, each bar's value in
its title, the whole labelled with its total."""

from datetime import UTC, datetime

from tessera.entrypoints.console.charts import HEIGHT, PAD_BOTTOM, PAD_TOP, hourly_bars

START = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)


def test_each_hour_is_a_bar_titled_with_its_value_and_the_tallest_fills_the_plot():
    svg = str(hourly_bars("Redemptions per hour", [0, 5, 10], START))
    assert svg.count("<rect") == 3
    assert "<title>01:00 5</title>" in svg
    assert f'height="{HEIGHT - PAD_TOP - PAD_BOTTOM}.0"><title>02:00 10</title>' in svg
    assert 'aria-label="Redemptions per hour: 15 in the last 3 hours"' in svg
    assert ">max 10<" in svg


def test_a_chart_of_nothing_draws_empty_bars():
    svg = str(hourly_bars("Events per hour", [0] * 24, START))
    assert svg.count('height="0.0"') == 24
    assert ">max 0<" in svg


def test_the_title_is_escaped():
    assert "<b>" not in str(hourly_bars("<b>x</b>", [1], START))
