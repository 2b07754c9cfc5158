"""Typed application keys: the resources every handler may reach."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from ledger.config import Settings
from ledger.orders.intake import Intake
from ledger.orders.vault import CardVault
from ledger.vendors.client import VendorClient
from ledger.vendors.routing import Router
from ledger.webhooks.refusals import RefusalBudget
from ledger.webhooks.signatures import WebhookConfig
from projections.base import Projection
from projections.stalls import StallWatch

SETTINGS = web.AppKey("settings", Settings)
DSN = web.AppKey("dsn", str)
MIGRATE_DSN = web.AppKey("migrate_dsn", str)
# Why the service's own database role could rewrite the log ([] for a proper service role).
ROLE_WARNINGS = web.AppKey("role_warnings", list[str])
POOL = web.AppKey("pool", asyncpg.Pool)
PROJECTIONS = web.AppKey("projections", dict[str, Projection])
STALLS = web.AppKey("stalls", StallWatch)
VAULT = web.AppKey("vault", CardVault)
VENDORS = web.AppKey("vendors", dict[str, VendorClient])
INTAKE = web.AppKey("intake", Intake)
WEBHOOKS = web.AppKey("webhooks", dict[str, WebhookConfig])
ROUTER = web.AppKey("router", Router)
# Which refused vendor webhooks the inbox still keeps this minute (per vendor, this node).
REFUSALS = web.AppKey("refusals", RefusalBudget)
REQUEST_ID = web.RequestKey("request_id", str)
