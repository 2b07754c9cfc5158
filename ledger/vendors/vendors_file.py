"""VENDORS_FILE: the vendors' sections and the routing between them, validated at start with
every error naming its key (`vendors.NAME.field`); credentials may be `env:VAR`."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal, NamedTuple

import msgspec

from ledger.config import ConfigError
from ledger.money import CURRENCY_CODE_PATTERN
from ledger.vendors.breaker import (
    DEFAULT_FAILURE_RATE,
    DEFAULT_MINIMUM_CALLS,
    DEFAULT_OPEN_FOR_S,
    DEFAULT_PROBES,
    DEFAULT_WINDOW_S,
)
from ledger.vendors.reloadly.webhooks import SIGNATURE_HEADER as RELOADLY_SIGNATURE
from ledger.vendors.reloadly.webhooks import TIMESTAMP_HEADER as RELOADLY_TIMESTAMP
from ledger.vendors.routing import Routing
from ledger.vendors.tango.adapter import DEFAULT_LIST_CAP
from ledger.vendors.tango.webhooks import SIGNATURE_HEADER as TANGO_SIGNATURE
from ledger.vendors.tremendous.webhooks import SIGNATURE_HEADER as TREMENDOUS_SIGNATURE
from ledger.webhooks.signatures import DEFAULT_HEX_HEADER


class VendorConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    base_url: str
    # Whose dialect the vendor speaks: the sandbox's, or a real vendor's (docs/vendors.md).
    adapter: Literal["sandbox", "tango", "tremendous", "giftbit", "reloadly", "runa"] = "sandbox"
    # Credentials; any of them may be "env:VAR", read from the environment at start.
    api_key: str | None = None
    platform_name: str | None = None  # tango
    platform_key: str | None = None  # tango
    account_identifier: str | None = None  # tango
    customer_identifier: str | None = None  # tango
    funding_source_id: str | None = None  # tremendous ("balance": the account's balance)
    client_id: str | None = None  # reloadly (OAuth2 client credentials)
    client_secret: str | None = None  # reloadly
    auth_url: str = "https://auth.reloadly.com/oauth/token"  # reloadly's token endpoint
    # Reloadly sends each card to a recipient: the merchant's own mailbox, since the card is
    # shown to its customer by the merchant; and a sender name the card carries.
    recipient_email: str | None = None  # reloadly
    sender_name: str = "Gift card ledger"  # reloadly
    # Giftbit: the account's currency (its prices are cents of it; orders in another are
    # refused before anything is sent).
    account_currency: Annotated[str, msgspec.Meta(pattern=CURRENCY_CODE_PATTERN)] = "USD"
    # Our brand_id -> the vendor's product id (Tango's utid); a real vendor needs one per brand.
    brands: dict[str, str] = {}
    # A gift card create usually answers in well under a second; 5 s covers slow days.
    attempt_timeout_s: float = 5.0
    # How long the vendor keeps an idempotency key; unset, the adapter's documented (or, where
    # undocumented, cautious) default: 24 h for the sandbox, 90 days for Tango.
    key_retention_hours: Annotated[float, msgspec.Meta(ge=0)] | None = None
    # Tango only: the most orders one list query answers, and the number of its first page
    # (both unconfirmed in Tango's documentation).
    list_cap: Annotated[int, msgspec.Meta(ge=1)] = DEFAULT_LIST_CAP
    first_page: Annotated[int, msgspec.Meta(ge=0, le=1)] = 0
    # Attempts per step; unset: 4, but 1 for Reloadly (what it does with a repeated
    # customIdentifier is undocumented, so a look-up comes before any resubmission).
    max_attempts: Annotated[int, msgspec.Meta(ge=1)] | None = None
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
    webhook_scheme: Literal["standard", "hex", "base64"] | None = None
    # Every secret listed is accepted: add the new one, deploy, then drop the old one.
    webhook_secrets: list[str] = []
    webhook_header: str | None = None
    # Standard Webhooks' recommended tolerance; replays older than this are refused.
    webhook_tolerance_s: int = 300


class VendorsFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    vendors: dict[str, VendorConfig] = {}
    routing: Routing = Routing()


# What each adapter cannot work without.
REQUIRED: dict[str, tuple[str, ...]] = {
    "sandbox": (),
    "tango": ("platform_name", "platform_key", "account_identifier", "customer_identifier"),
    "tremendous": ("api_key", "funding_source_id"),
    "giftbit": ("api_key",),
    "reloadly": ("client_id", "client_secret", "recipient_email"),
    "runa": ("api_key",),
}
_CREDENTIALS = (
    "api_key",
    "platform_name",
    "platform_key",
    "account_identifier",
    "customer_identifier",
    "funding_source_id",
    "client_id",
    "client_secret",
)


# Each adapter's webhook scheme and signature header, and how its bodies read. Tango's
# signature (X.509 or HMAC, header and encoding) is unconfirmed: no webhooks from it yet.
class WebhookScheme(NamedTuple):
    scheme: Literal["standard", "hex", "base64", "body_timestamp"]
    header: str
    timestamp_header: str = ""


WEBHOOK_SCHEMES: dict[str, WebhookScheme] = {
    "sandbox": WebhookScheme("standard", DEFAULT_HEX_HEADER),
    "tremendous": WebhookScheme("hex", TREMENDOUS_SIGNATURE),
    # Tango's HMAC mode: its header and encoding are unconfirmed, so both are configurable
    # (webhook_header, webhook_scheme "base64" or "hex").
    "tango": WebhookScheme("base64", TANGO_SIGNATURE),
    "reloadly": WebhookScheme("body_timestamp", RELOADLY_SIGNATURE, RELOADLY_TIMESTAMP),
    # Svix's svix-* headers are the Standard Webhooks scheme under another name.
    "runa": WebhookScheme("standard", DEFAULT_HEX_HEADER),
}


def _from_environment(value: str, where: str, environ: Mapping[str, str]) -> str:
    """`env:VAR` is VAR's value (unset or empty: a start error naming the key); else value."""
    if not value.startswith("env:"):
        return value
    variable = value.removeprefix("env:")
    if not environ.get(variable):
        raise ConfigError(f"{where} names {variable}, which is not set in the environment")
    return environ[variable]


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
        at = f"VENDORS_FILE {path}: vendors.{name}"
        resolved: dict[str, object] = {
            field: _from_environment(value, f"{at}.{field}", environ)
            for field in _CREDENTIALS
            if isinstance(value := getattr(config, field), str)
        }
        resolved["webhook_secrets"] = [
            _from_environment(secret, f"{at}.webhook_secrets", environ)
            for secret in config.webhook_secrets
        ]
        config = msgspec.structs.replace(config, **resolved)
        for field in REQUIRED[config.adapter]:
            if not getattr(config, field):
                raise ConfigError(
                    f"VENDORS_FILE {path}: vendors.{name}.{field} is required"
                    f" for adapter {config.adapter!r}"
                )
        if config.webhook_secrets and config.adapter not in WEBHOOK_SCHEMES:
            raise ConfigError(
                f"VENDORS_FILE {path}: vendors.{name}.webhook_secrets: {config.adapter}"
                " webhooks are not supported; its orders are confirmed by look-ups and"
                " reconciliation"
            )
        vendors[name] = config
    return VendorsFile(vendors, routing)
