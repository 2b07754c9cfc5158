"""Build the vendor clients from settings: the sandbox by default, real vendors from TOML."""

from __future__ import annotations

import base64
import random
import secrets
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

import aiohttp
import msgspec

from ledger.config import ConfigError, Settings, read_or_create_private
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
from ledger.webhooks.signatures import WebhookConfig

SANDBOX = "sandbox"
SANDBOX_SIGNING_KEY_FILE = "sandbox-webhook-secret"


class VendorConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    base_url: str
    api_key: str | None = None
    # A gift card create usually answers in well under a second; 5 s covers slow days.
    attempt_timeout_s: float = 5.0
    # Most vendors keep idempotency keys for a day; configure the real value per vendor.
    key_retention_hours: float = 24.0
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
    webhook_scheme: Literal["standard", "hex"] = "standard"
    # Every secret listed is accepted: add the new one, deploy, then drop the old one.
    webhook_secrets: list[str] = []
    webhook_header: str = "X-Signature-256"
    # Standard Webhooks' recommended tolerance; replays older than this are refused.
    webhook_tolerance_s: int = 300


class VendorsFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    vendors: dict[str, VendorConfig] = {}


def sandbox_webhook_secret(settings: Settings) -> str:
    """SANDBOX_WEBHOOK_SECRET, or a whsec_ secret generated once into DATA_DIR (0600)."""
    if settings.sandbox_webhook_secret:
        return settings.sandbox_webhook_secret
    return read_or_create_private(
        settings.data_dir / SANDBOX_SIGNING_KEY_FILE,
        lambda: "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
    )


def vendor_configs(settings: Settings) -> dict[str, VendorConfig]:
    configs: dict[str, VendorConfig] = {}
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
        configs.update(load_vendors_file(settings.vendors_file).vendors)
    return configs


def load_vendors_file(path: Path) -> VendorsFile:
    try:
        return msgspec.convert(tomllib.loads(path.read_text()), VendorsFile)
    except (OSError, tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        raise ConfigError(f"VENDORS_FILE {path}: {exc}") from None


def webhook_configs(configs: dict[str, VendorConfig]) -> dict[str, WebhookConfig]:
    return {
        name: WebhookConfig(
            scheme=config.webhook_scheme,
            secrets=tuple(config.webhook_secrets),
            header=config.webhook_header,
            tolerance_s=config.webhook_tolerance_s,
        )
        for name, config in configs.items()
        if config.webhook_secrets
    }


def build_clients(
    configs: dict[str, VendorConfig], session: aiohttp.ClientSession, rng: random.Random
) -> dict[str, VendorClient]:
    clients = {}
    for name, config in configs.items():
        adapter = RestVendorAdapter(
            name,
            config.base_url,
            session,
            config.api_key,
            config.attempt_timeout_s,
            timedelta(hours=config.key_retention_hours),
        )
        breaker = CircuitBreaker(
            failure_rate=config.breaker_failure_rate,
            minimum_calls=config.breaker_minimum_calls,
            window_s=config.breaker_window_s,
            open_for_s=config.breaker_reset_s,
            probes=config.breaker_probes,
        )
        limiter = TokenBucket(config.rate_limit_per_s) if config.rate_limit_per_s else None
        clients[name] = VendorClient(
            adapter, max_attempts=config.max_attempts, breaker=breaker, rng=rng, limiter=limiter
        )
    return clients
