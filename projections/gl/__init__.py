"""The GL read model: `postings` (pure moves, chart of accounts, journals), `projection` (the
fold into postings tables), `reports` (daily totals and journals), `http` (finance routes).
"""

from projections.gl.projection import GLProjection
from projections.gl.reports import (
    DayFigures,
    GLNotCurrent,
    closing_figures,
    daily,
    daily_csv,
    day_journal,
    journal_as_it_stands,
    journal_csv,
    open_days_before,
)

__all__ = [
    "DayFigures",
    "GLNotCurrent",
    "GLProjection",
    "closing_figures",
    "daily",
    "daily_csv",
    "day_journal",
    "journal_as_it_stands",
    "journal_csv",
    "open_days_before",
]
