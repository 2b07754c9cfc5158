"""The GL chart's geometry: bars scaled to a readable axis top, exact figures in each title."""

from datetime import date, timedelta

from ledger.console.charts import HEIGHT, daily_chart


def test_bars_scale_to_a_round_axis_top_and_title_the_exact_amount():
    days = [date(2026, 12, 1) + timedelta(days=i) for i in range(3)]
    chart = daily_chart("USD", days, {(days[0], "fulfilled"): 2500, (days[2], "failed"): 1234})
    assert chart.y_ticks[-1].label == "50.00"  # 25.00 is the largest: 50.00 tops the axis
    fulfilled, failed = chart.bars
    assert fulfilled.label == "2026-12-01 fulfilled: 25.00 USD"
    assert failed.label == "2026-12-03 failed: 12.34 USD"
    assert abs(fulfilled.height / failed.height - 2500 / 1234) < 1e-9
    assert all(b.y >= 0 and b.y + b.height <= HEIGHT for b in chart.bars)


def test_a_currency_without_minor_units_reads_in_whole_units_and_nothing_draws_no_bars():
    chart = daily_chart("JPY", [date(2026, 12, 1)], {(date(2026, 12, 1), "pending"): 3000})
    assert chart.bars[0].label.endswith("3000 JPY")
    assert daily_chart("USD", [date(2026, 12, 1)], {}).bars == []


def test_every_axis_label_is_the_exact_amount_at_its_gridline():
    """Four gridlines over an axis topping at 0.50 were labelled 0.12 and 0.37 (rounded down
    from 12.5 and 37.5 cents)."""
    day = date(2026, 12, 1)
    for currency, exponent in (("USD", 2), ("JPY", 0)):
        for largest in (1, 2, 3, 7, 45, 50, 99, 1234, 2500, 999_999):
            chart = daily_chart(currency, [day], {(day, "fulfilled"): largest})
            ticks = chart.y_ticks
            top = round(float(ticks[-1].label) * 10**exponent)
            assert top >= largest
            for k, tick in enumerate(ticks):
                minor = float(tick.label) * 10**exponent
                assert minor * (len(ticks) - 1) == top * k, (currency, largest, ticks)
