"""Typed application keys: the resources every handler may reach."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from ledger.config import Settings
from projections.base import Projection

SETTINGS = web.AppKey("settings", Settings)
DSN = web.AppKey("dsn", str)
POOL = web.AppKey("pool", asyncpg.Pool)
REQUEST_ID = web.RequestKey("request_id", str)
PROJECTIONS = web.AppKey("projections", dict[str, Projection])
