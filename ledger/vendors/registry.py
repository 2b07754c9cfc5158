"""Build the vendor clients from settings: the sandbox by default, real vendors from TOML."""

from __future__ import annotations

import base64
import os
import random
import secrets
import tomllib
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

import aiohttp
import msgspec

from ledger.config import ConfigError, Settings, read_or_create_private
from ledger.vendors import rest
from ledger.vendors.base import VendorAdapter, WebhookHint
from ledger.vendors.breaker import (
    DEFAULT_FAILURE_RATE,
    DEFAULT_MINIMUM_CALLS,
    DEFAULT_OPEN_FOR_S,
    DEFAULT_PROBES,
    DEFAULT_WINDOW_S,
    CircuitBreaker,
)
from ledger.vendors.client import VendorClient
from ledger.vendors.ratelimit import TokenBucket
from ledger.vendors.rest import RestVendorAdapter
from ledger.vendors.routing import Routing
from ledger.vendors.tango import adapter as tango
from ledger.vendors.tremendous import adapter as tremendous
from ledger.vendors.tremendous import webhooks as tremendous_webhooks
from ledger.webhooks.signatures import DEFAULT_HEX_HEADER, WebhookConfig

SANDBOX = "sandbox"
SANDBOX_SIGNING_KEY_FILE = "sandbox-webhook-secret"


class VendorConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    base_url: str
    # Whose dialect the vendor speaks: the sandbox's, or a real vendor's (docs/vendors.md).
    adapter: Literal["sandbox", "tango", "tremendous"] = "sandbox"
    # Credentials; any of them may be "env:VAR", read from the environment at start.
    api_key: str | None = None
    platform_name: str | None = None  # tango
    platform_key: str | None = None  # tango
    account_identifier: str | None = None  # tango
    customer_identifier: str | None = None  # tango
    funding_source_id: str | None = None  # tremendous ("balance": the account's balance)
    # Our brand_id -> the vendor's product id (Tango's utid); a real vendor needs one per brand.
    brands: dict[str, str] = {}
    # A gift card create usually answers in well under a second; 5 s covers slow days.
    attempt_timeout_s: float = 5.0
    # How long the vendor keeps an idempotency key; unset, the adapter's documented (or, where
    # undocumented, cautious) default: 24 h for the sandbox, 90 days for Tango.
    key_retention_hours: Annotated[float, msgspec.Meta(gt=0)] | None = None
    # Tango only: the most orders one list query answers, and the number of its first page
    # (both unconfirmed in Tango's documentation).
    list_cap: Annotated[int, msgspec.Meta(ge=1)] = tango.DEFAULT_LIST_CAP
    first_page: Annotated[int, msgspec.Meta(ge=0, le=1)] = 0
    max_attempts: int = 4
    # The circuit breaker (ledger/vendors/breaker.py has why these defaults): open when this
    # share of at least `breaker_minimum_calls` calls in the window failed unhealthily; probe
    # with `breaker_probes` calls after `breaker_reset_s`.
    breaker_failure_rate: Annotated[float, msgspec.Meta(gt=0, le=1)] = DEFAULT_FAILURE_RATE
    breaker_minimum_calls: Annotated[int, msgspec.Meta(ge=1)] = DEFAULT_MINIMUM_CALLS
    breaker_window_s: Annotated[float, msgspec.Meta(gt=0)] = DEFAULT_WINDOW_S
    breaker_reset_s: Annotated[float, msgspec.Meta(gt=0)] = DEFAULT_OPEN_FOR_S
    breaker_probes: Annotated[int, msgspec.Meta(ge=1)] = DEFAULT_PROBES
    # Order attempts per second the vendor allows (its published limit); unset: no limit
    # beyond the completer's concurrency. Bulk batches are what reach it.
    rate_limit_per_s: Annotated[float, msgspec.Meta(gt=0)] | None = None
    # Unset: the adapter's own scheme (the sandbox's Standard Webhooks, Tremendous' hex HMAC).
    webhook_scheme: Literal["standard", "hex"] | None = None
    # Every secret listed is accepted: add the new one, deploy, then drop the old one.
    webhook_secrets: list[str] = []
    webhook_header: str | None = None
    # Standard Webhooks' recommended tolerance; replays older than this are refused.
    webhook_tolerance_s: int = 300


class VendorsFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    vendors: dict[str, VendorConfig] = {}
    routing: Routing = Routing()


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


# What each adapter cannot work without.
REQUIRED: dict[str, tuple[str, ...]] = {
    "sandbox": (),
    "tango": ("platform_name", "platform_key", "account_identifier", "customer_identifier"),
    "tremendous": ("api_key", "funding_source_id"),
}
_CREDENTIALS = (
    "api_key",
    "platform_name",
    "platform_key",
    "account_identifier",
    "customer_identifier",
    "funding_source_id",
)
# The documented key retention per adapter (vendors.md: Tango's 90 days is one revision's).
# Tremendous documents none: a day, the cautious common value, until its account manager says.
_KEY_RETENTION_HOURS = {"sandbox": 24.0, "tango": 90 * 24.0, "tremendous": 24.0}
# Published order-creation limits, used when rate_limit_per_s is unset: Tango's 1 per second,
# Tremendous' about 10.
_RATE_LIMIT_PER_S = {"tango": 1.0, "tremendous": 10.0}


# Each adapter's webhook scheme and signature header, and how its bodies read. Tango's
# signature (X.509 or HMAC, header and encoding) is unconfirmed: no webhooks from it yet.
_WEBHOOKS: dict[str, tuple[Literal["standard", "hex"], str]] = {
    "sandbox": ("standard", DEFAULT_HEX_HEADER),
    "tremendous": ("hex", tremendous_webhooks.SIGNATURE_HEADER),
}
WEBHOOK_PARSERS: dict[str, Callable[[bytes], WebhookHint]] = {
    "sandbox": rest.parse_webhook,
    "tremendous": tremendous_webhooks.parse_webhook,
}


def load_vendors_file(path: Path, environ: Mapping[str, str]) -> VendorsFile:
    """VENDORS_FILE, validated: every error names the key (`vendors.NAME.field`)."""
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"VENDORS_FILE {path}: {exc}") from None
    sections = raw.pop("vendors", {})
    try:
        routing = msgspec.convert(raw.pop("routing", {}), Routing)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"VENDORS_FILE {path}: routing: {exc}") from None
    if raw or not isinstance(sections, dict):
        raise ConfigError(
            f"VENDORS_FILE {path}: only [vendors.NAME] and [routing] tables belong here"
        )
    loaded = {}
    for name, section in sections.items():
        try:
            loaded[name] = msgspec.convert(section, VendorConfig)
        except msgspec.ValidationError as exc:
            # msgspec says "... - at `$.brands`": the path inside this vendor's table.
            message, _, at = str(exc).partition(" - at `$")
            where = f"vendors.{name}{at.rstrip('`')}" if at else f"vendors.{name}"
            raise ConfigError(f"VENDORS_FILE {path}: {where}: {message}") from None
    vendors = {}
    for name, config in loaded.items():
        resolved = {}
        for field in _CREDENTIALS:
            value = getattr(config, field)
            if isinstance(value, str) and value.startswith("env:"):
                variable = value.removeprefix("env:")
                if not environ.get(variable):
                    raise ConfigError(
                        f"VENDORS_FILE {path}: vendors.{name}.{field} names {variable},"
                        " which is not set in the environment"
                    )
                resolved[field] = environ[variable]
        config = msgspec.structs.replace(config, **resolved)
        for field in REQUIRED[config.adapter]:
            if not getattr(config, field):
                raise ConfigError(
                    f"VENDORS_FILE {path}: vendors.{name}.{field} is required"
                    f" for adapter {config.adapter!r}"
                )
        if config.webhook_secrets and config.adapter not in _WEBHOOKS:
            raise ConfigError(
                f"VENDORS_FILE {path}: vendors.{name}.webhook_secrets: {config.adapter}"
                " webhooks are not supported; its orders are confirmed by look-ups and"
                " reconciliation"
            )
        vendors[name] = config
    return VendorsFile(vendors, routing)


def webhook_configs(configs: dict[str, VendorConfig]) -> dict[str, WebhookConfig]:
    webhooks = {}
    for name, config in configs.items():
        if not config.webhook_secrets:
            continue
        scheme, header = _WEBHOOKS[config.adapter]
        webhooks[name] = WebhookConfig(
            scheme=config.webhook_scheme or scheme,
            secrets=tuple(config.webhook_secrets),
            header=config.webhook_header or header,
            tolerance_s=config.webhook_tolerance_s,
            dialect=config.adapter,
        )
    return webhooks


def build_adapter(name: str, config: VendorConfig, session: aiohttp.ClientSession) -> VendorAdapter:
    hours = config.key_retention_hours or _KEY_RETENTION_HOURS[config.adapter]
    retention = timedelta(hours=hours)
    if config.adapter == "tango":
        account = tango.TangoAccount(
            str(config.platform_name),
            str(config.platform_key),
            str(config.account_identifier),
            str(config.customer_identifier),
        )
        return tango.TangoAdapter(
            name,
            config.base_url,
            session,
            account,
            config.brands,
            config.attempt_timeout_s,
            retention,
            list_cap=config.list_cap,
            first_page=config.first_page,
        )
    if config.adapter == "tremendous":
        return tremendous.TremendousAdapter(
            name,
            config.base_url,
            session,
            str(config.api_key),
            str(config.funding_source_id),
            config.brands,
            config.attempt_timeout_s,
            retention,
        )
    return RestVendorAdapter(
        name, config.base_url, session, config.api_key, config.attempt_timeout_s, retention
    )


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
            adapter, max_attempts=config.max_attempts, breaker=breaker, rng=rng, limiter=limiter
        )
    return clients
