"""Build the vendor clients from settings: the sandbox by default, real vendors from TOML."""

from __future__ import annotations

import base64
import os
import random
import secrets
from collections.abc import Callable
from datetime import timedelta

import aiohttp

from ledger.config import ConfigError, Settings, read_or_create_private
from ledger.vendors import rest
from ledger.vendors.base import VendorAdapter, WebhookHint
from ledger.vendors.breaker import CircuitBreaker
from ledger.vendors.client import DEFAULT_MAX_ATTEMPTS, VendorClient
from ledger.vendors.giftbit import adapter as giftbit
from ledger.vendors.ratelimit import TokenBucket
from ledger.vendors.reloadly import adapter as reloadly
from ledger.vendors.reloadly import webhooks as reloadly_webhooks
from ledger.vendors.rest import RestVendorAdapter
from ledger.vendors.routing import Routing
from ledger.vendors.runa import adapter as runa
from ledger.vendors.runa import webhooks as runa_webhooks
from ledger.vendors.tango import adapter as tango
from ledger.vendors.tango import webhooks as tango_webhooks
from ledger.vendors.tremendous import adapter as tremendous
from ledger.vendors.tremendous import webhooks as tremendous_webhooks
from ledger.vendors.vendors_file import WEBHOOK_SCHEMES, VendorConfig, load_vendors_file
from ledger.webhooks.signatures import WebhookConfig

SANDBOX = "sandbox"
SANDBOX_SIGNING_KEY_FILE = "sandbox-webhook-secret"


def sandbox_webhook_secret(settings: Settings) -> str:
    """SANDBOX_WEBHOOK_SECRET, or a whsec_ secret generated once into DATA_DIR (0600)."""
    if settings.sandbox_webhook_secret:
        return settings.sandbox_webhook_secret
    return read_or_create_private(
        settings.data_dir / SANDBOX_SIGNING_KEY_FILE,
        lambda: "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
    )


def vendor_configs(settings: Settings) -> dict[str, VendorConfig]:
    return vendor_setup(settings)[0]


def vendor_setup(settings: Settings) -> tuple[dict[str, VendorConfig], Routing]:
    """The configured vendors (the sandbox's built from SANDBOX_URL or SANDBOX_PORT, then
    VENDORS_FILE's) and the routing between them, checked to name only those vendors."""
    configs: dict[str, VendorConfig] = {}
    routing = Routing()
    sandbox_url = settings.sandbox_url or (
        f"http://127.0.0.1:{settings.sandbox_port}" if settings.sandbox_port else None
    )
    if sandbox_url:
        configs[SANDBOX] = VendorConfig(
            base_url=sandbox_url,
            attempt_timeout_s=settings.vendor_attempt_timeout_s,
            webhook_secrets=[sandbox_webhook_secret(settings)],
        )
    if settings.vendors_file:
        loaded = load_vendors_file(settings.vendors_file, os.environ)
        configs.update(loaded.vendors)
        routing = loaded.routing
    named = {f"routing.brands.{brand}": vendors for brand, vendors in routing.brands.items()}
    if routing.default is not None:
        named["routing.default"] = [routing.default]
    for key, vendors in named.items():
        unknown = sorted(set(vendors) - set(configs))
        if unknown:
            raise ConfigError(f"{key} names {', '.join(unknown)}, not a configured vendor")
    return configs, routing


# The documented key retention per adapter (vendors.md: Tango's 90 days is one revision's).
# Tremendous documents none: a day, the cautious common value, until its account manager says.
# Giftbit says it creates one order per id, without saying for how long: a day, cautiously.
# Reloadly documents no idempotency at all: none, so every step after an attempt looks first.
_KEY_RETENTION_HOURS = {
    "sandbox": 24.0,
    "tango": 90 * 24.0,
    "tremendous": 24.0,
    "giftbit": 24.0,
    "reloadly": 0.0,
    "runa": 30 * 24.0,  # Runa keeps a key and its answer 30 days
}
_MAX_ATTEMPTS = {"reloadly": 1}
# Published order-creation limits, used when rate_limit_per_s is unset: Tango's 1 per second,
# Tremendous' about 10, Runa's lowest tier of 60 a minute.
_RATE_LIMIT_PER_S = {"tango": 1.0, "tremendous": 10.0, "runa": 1.0}


WEBHOOK_PARSERS: dict[str, Callable[[bytes], WebhookHint]] = {
    "sandbox": rest.parse_webhook,
    "tremendous": tremendous_webhooks.parse_webhook,
    "reloadly": reloadly_webhooks.parse_webhook,
    "runa": runa_webhooks.parse_webhook,
    "tango": tango_webhooks.parse_webhook,
}


def webhook_configs(configs: dict[str, VendorConfig]) -> dict[str, WebhookConfig]:
    webhooks = {}
    for name, config in configs.items():
        if not config.webhook_secrets:
            continue
        scheme, header, timestamp_header = WEBHOOK_SCHEMES[config.adapter]
        webhooks[name] = WebhookConfig(
            scheme=config.webhook_scheme or scheme,
            secrets=tuple(config.webhook_secrets),
            header=config.webhook_header or header,
            timestamp_header=timestamp_header,
            tolerance_s=config.webhook_tolerance_s,
            dialect=config.adapter,
        )
    return webhooks


def build_adapter(name: str, config: VendorConfig, session: aiohttp.ClientSession) -> VendorAdapter:
    hours = config.key_retention_hours
    hours = _KEY_RETENTION_HOURS[config.adapter] if hours is None else hours
    retention = timedelta(hours=hours)
    head = (name, config.base_url, session)
    tail = (config.brands, config.attempt_timeout_s, retention)
    api_key = str(config.api_key)
    match config.adapter:
        case "tango":
            account = tango.TangoAccount(
                str(config.platform_name),
                str(config.platform_key),
                str(config.account_identifier),
                str(config.customer_identifier),
            )
            return tango.TangoAdapter(
                *head, account, *tail, list_cap=config.list_cap, first_page=config.first_page
            )
        case "tremendous":
            funding = str(config.funding_source_id)
            return tremendous.TremendousAdapter(*head, api_key, funding, *tail)
        case "reloadly":
            credentials = (str(config.client_id), str(config.client_secret), config.auth_url)
            account = reloadly.ReloadlyAccount(
                *credentials, config.sender_name, str(config.recipient_email)
            )
            return reloadly.ReloadlyAdapter(*head, account, *tail, first_page=config.first_page)
        case "runa":
            return runa.RunaAdapter(*head, api_key, *tail)
        case "giftbit":
            return giftbit.GiftbitAdapter(*head, api_key, *tail, currency=config.account_currency)
    return RestVendorAdapter(*head, config.api_key, config.attempt_timeout_s, retention)


def build_clients(
    configs: dict[str, VendorConfig], session: aiohttp.ClientSession, rng: random.Random
) -> dict[str, VendorClient]:
    clients = {}
    for name, config in configs.items():
        adapter = build_adapter(name, config, session)
        breaker = CircuitBreaker(
            failure_rate=config.breaker_failure_rate,
            minimum_calls=config.breaker_minimum_calls,
            window_s=config.breaker_window_s,
            open_for_s=config.breaker_reset_s,
            probes=config.breaker_probes,
        )
        rate = config.rate_limit_per_s or _RATE_LIMIT_PER_S.get(config.adapter)
        limiter = TokenBucket(rate) if rate else None
        clients[name] = VendorClient(
            adapter,
            max_attempts=config.max_attempts
            or _MAX_ATTEMPTS.get(config.adapter, DEFAULT_MAX_ATTEMPTS),
            breaker=breaker,
            rng=rng,
            limiter=limiter,
        )
    return clients
