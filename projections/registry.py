"""Every projection the service runs, by name (used by serve, rebuild and verify)."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping

from ledger.config import ConfigError, Settings
from projections.base import Projection
from projections.discrepancies.projection import ReconciliationProjection
from projections.gl.postings import DEFAULT_CHART, Entry, load_chart
from projections.gl.projection import GLProjection
from projections.orders import OrdersProjection
from projections.rebuild import SHADOW_SUFFIX


def gl_chart(settings: Settings) -> Mapping[str, Entry | None]:
    if settings.gl_accounts_file is None:
        return DEFAULT_CHART
    try:
        return load_chart(tomllib.loads(settings.gl_accounts_file.read_text()))
    except (OSError, tomllib.TOMLDecodeError, ValueError) as exc:
        raise ConfigError(f"GL_ACCOUNTS_FILE {settings.gl_accounts_file}: {exc}") from None


def all_projections(settings: Settings | None = None) -> dict[str, Projection]:
    settings = settings or Settings()
    projections: list[Projection] = [
        OrdersProjection(),
        ReconciliationProjection(),
        GLProjection(settings.business_tz, gl_chart(settings)),
    ]
    return {p.name: p for p in projections}


def read_model_tables(settings: Settings | None = None) -> list[str]:
    """Every read-model table name, live and rebuild shadows: the service role owns them."""
    names = [t.name for p in all_projections(settings).values() for t in p.tables]
    return names + [name + SHADOW_SUFFIX for name in names]
