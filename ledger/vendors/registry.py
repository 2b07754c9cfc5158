"""Build the vendor clients from settings: the sandbox by default, real vendors from TOML."""

from __future__ import annotations

import random
import tomllib
from datetime import timedelta
from pathlib import Path

import aiohttp
import msgspec

from ledger.config import ConfigError, Settings
from ledger.vendors.client import CircuitBreaker, VendorClient
from ledger.vendors.rest import RestVendorAdapter

SANDBOX = "sandbox"


class VendorConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    base_url: str
    api_key: str | None = None
    # A gift card create usually answers in well under a second; 5 s covers slow days.
    attempt_timeout_s: float = 5.0
    # Most vendors keep idempotency keys for a day; configure the real value per vendor.
    key_retention_hours: float = 24.0
    max_attempts: int = 4
    breaker_threshold: int = 5
    breaker_reset_s: float = 30.0


class VendorsFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    vendors: dict[str, VendorConfig] = {}


def vendor_configs(settings: Settings) -> dict[str, VendorConfig]:
    configs: dict[str, VendorConfig] = {}
    sandbox_url = settings.sandbox_url or (
        f"http://127.0.0.1:{settings.sandbox_port}" if settings.sandbox_port else None
    )
    if sandbox_url:
        configs[SANDBOX] = VendorConfig(
            base_url=sandbox_url, attempt_timeout_s=settings.vendor_attempt_timeout_s
        )
    if settings.vendors_file:
        configs.update(load_vendors_file(settings.vendors_file).vendors)
    return configs


def load_vendors_file(path: Path) -> VendorsFile:
    try:
        return msgspec.convert(tomllib.loads(path.read_text()), VendorsFile)
    except (OSError, tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        raise ConfigError(f"VENDORS_FILE {path}: {exc}") from None


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
            failure_threshold=config.breaker_threshold, reset_after=config.breaker_reset_s
        )
        clients[name] = VendorClient(
            adapter, max_attempts=config.max_attempts, breaker=breaker, rng=rng
        )
    return clients
