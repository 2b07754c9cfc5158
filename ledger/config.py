"""Settings from the environment: one frozen struct, read once at the edge (run.py)."""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Callable, Mapping
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from ledger.database_url import database_url_problem

# What `serve` can run as: ledger.http.app reads it (Settings.node_role says what each runs).
NODE_ROLES = ("all", "api", "workers")


class ConfigError(ValueError):
    """An environment variable has a value the service cannot use."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    host: str = "127.0.0.1"
    port: int = 8080
    # None means: start the embedded PostgreSQL in data_dir.
    database_url: str | None = None
    # A streaming replica the finance read routes use while it is within READ_MAX_LAG_S of the
    # primary; its login must be able to read the read models (the service's login will do).
    read_database_url: str | None = None
    # Finance may read a report this far behind the primary, no further: about a batch of the
    # projection runners, so a healthy replica serves and one replaying a backlog does not.
    read_max_lag_s: float = 5.0
    # Who migrates (owns the log); default DATABASE_URL. `serve` and workers connect with
    # DATABASE_URL, whose login should be a member of SERVICE_ROLE and own nothing.
    migrate_database_url: str | None = None
    # The NOLOGIN role `run.py migrate` creates and grants only what the service needs.
    service_role: str = "ledger_service"
    data_dir: Path = Path(".data")
    business_tz: str = "UTC"
    # TOML chart of accounts per GL state ([pending] debit = "...", credit = "..."); unset: the
    # defaults in projections/gl/postings.py.
    gl_accounts_file: Path | None = None
    # What this node runs (`serve --role` wins): "api" serves requests and runs no background
    # work; "workers" runs the followers, completer, sealer and schedules under their leases and
    # serves only the health and metrics routes; "all" (one machine) does both.
    node_role: str = "all"
    # Run the nightly reconciliation and GL close in this process. Any number of nodes may
    # (they agree through run ids and events); off for nodes that only serve or for tests.
    schedules: bool = True
    # Local time (BUSINESS_TZ) of the nightly reconciliation of the previous business day.
    reconcile_at: str = "02:00"
    # Each nightly window reaches this far into its neighbours, so late-listed records are seen.
    reconcile_overlap_s: float = 3600.0
    # Local time (BUSINESS_TZ) at which yesterday's GL day closes: after the nightly
    # reconciliation, so its corrections land in the day they belong to.
    gl_close_at: str = "04:00"
    # 0 disables the in-process sandbox vendor.
    sandbox_port: int = 8081
    sandbox_faults: str = ""
    sandbox_webhook_secret: str | None = None
    # Where the "sandbox" vendor is reached; default http://127.0.0.1:SANDBOX_PORT.
    sandbox_url: str | None = None
    # The vendor new orders go to.
    default_vendor: str = "sandbox"
    # Per-attempt timeout towards the sandbox vendor (real vendors set theirs in VENDORS_FILE).
    vendor_attempt_timeout_s: float = 2.0
    # An order a step left unsettled is worked again after up to BASE * 2^retries seconds
    # (ledger/orders/schedule.py: equal jitter, capped at 300 s). One second leaves a live
    # request's own retries alone.
    completer_backoff_s: float = 1.0
    # After an unanswered attempt, a look-up that finds nothing sends the order again only
    # this long after that attempt: a create that timed out may still be finishing at the
    # vendor, and its listing may show it late (Reloadly's reports, with no idempotency
    # behind them), so a resend sooner could be a second charge. Well past any attempt
    # timeout (2-30 s) plus such a lag; the cost is that wait on an order whose create
    # already went unanswered.
    vendor_not_found_settle_s: float = 120.0
    vendors_file: Path | None = None
    log_level: str = "info"
    # /readyz fails when a projection is further behind than this: long enough to ride out
    # a burst, short enough that a stuck runner takes the node out of rotation.
    ready_max_lag_events: int = 10_000
    # /readyz also fails when a projection has had events to apply and not moved its checkpoint
    # for this long: a runner applies a batch in well under a second, so a minute at rest with
    # work waiting is a stuck projection, however small its lag.
    ready_stall_s: float = 60.0
    # Followers also poll, so a lost NOTIFY delays them by at most this long.
    poll_interval_s: float = 1.0
    # How long POST /api/v1/orders waits for a terminal vendor answer before replying 202.
    sync_budget_s: float = 3.0
    # Largest accepted request body; order bodies are a few hundred bytes.
    max_body_bytes: int = 64 * 1024
    # Largest order amount in minor units, per order (guards against fat-finger amounts).
    max_amount_minor: int = 1_000_000_00
    secrets_key: str | None = None
    # Largest bulk CSV file: BULK_MAX_ROWS rows of 400 bytes (long ids and keys) fit. The file
    # is held in memory while it is validated, so this also bounds an upload's memory.
    bulk_max_bytes: int = 8 * 1024 * 1024
    # Most rows per bulk file. Every row is recorded before the upload is answered: 20,000 is
    # about 8 s on an idle node and under a minute on a busy one (README "Bulk orders"), within
    # a client's patience, and it bounds a 422 that lists every bad row. Split bigger campaigns.
    bulk_max_rows: int = 20_000
    # Seals bound how much recent history a rewrite could cover before it is sealed (and its
    # digest published); sealing reads only the events since the last seal, so a few seconds
    # is cheap.
    seal_interval_s: float = 5.0
    # Where each new ledger digest is published outside PostgreSQL: a file path (a JSON line
    # each) or an http(s) URL (a JSON POST each). Unset: digests stay in the database.
    digest_publish: str | None = None
    # Merchant webhooks (ledger/webhooks/deliveries.py). Private, loopback and link-local
    # targets are refused unless this is on (a receiver on the service's own network).
    webhook_allow_private: bool = False
    # One delivery attempt, connect to last byte: a receiver should answer at once and work
    # after; ten seconds is the common platforms' bound.
    webhook_timeout_s: float = 10.0
    # Retries start this soon and double (equal jitter) up to an hour apart ...
    webhook_retry_base_s: float = 5.0
    # ... for three days from the first attempt; then the delivery is given up.
    webhook_retry_window_s: float = 3 * 86400.0
    # An endpoint whose attempts have all failed for this long is disabled, with an event.
    webhook_disable_after_s: float = 3 * 86400.0
    # After a rotation the previous secret signs beside the new one this long by default.
    webhook_secret_overlap_s: float = 86400.0
    # The vendor webhook inbox (a diagnostic beside the log, which keeps every accepted webhook)
    # deletes rows older than this many days; 0 keeps them all. A quarter: a close and the
    # questions after it, and far past any vendor's redeliveries.
    vendor_webhook_inbox_days: int = 90
    # Refused vendor webhooks (anyone's requests) kept in the inbox per vendor and node: this
    # many at once, refilled at this many a minute; the rest are answered and counted only. A
    # misconfigured vendor needs a few rows to be diagnosed, not one per request.
    vendor_webhook_refusals_kept_per_minute: int = 60


_BOOLEANS = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}


def _parse(name: str, raw: str, kind: type) -> object:
    try:
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a valid {kind.__name__}") from None
    return raw


def _from_file(path: Path) -> dict[str, object]:
    """CONFIG_FILE: TOML with the settings' names in lower case (`port = 8080`), every key
    checked: a name that is no setting, or a value of the wrong type, is an error naming it."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"CONFIG_FILE {path}: {exc}") from None
    fields = {field.name: field for field in msgspec.structs.fields(Settings)}
    values: dict[str, object] = {}
    for key, value in raw.items():
        if key not in fields:
            raise ConfigError(f"CONFIG_FILE {path}: {key}: not a setting")
        default = fields[key].default
        kind = type(default) if default is not None and default is not msgspec.NODEFAULT else str
        if isinstance(default, Path) or key.endswith(("_dir", "_file")):
            kind = Path
        if kind is Path and isinstance(value, str):
            value = Path(value)
        elif kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not ok:
            expected = {bool: "true or false", int: "an integer", float: "a number"}
            raise ConfigError(
                f"CONFIG_FILE {path}: {key} = {value!r} is not {expected.get(kind, 'text')}"
            )
        values[key] = value
    return values


# The numbers for which 0 means something (none, keep all, answer at once, no overlap, no lag
# allowed); every other duration, size and count must be more than 0: a 0 there spins a loop,
# refuses every request or never waits. The ports are checked on their own.
_MAY_BE_ZERO = frozenset(
    {
        "read_max_lag_s",
        "reconcile_overlap_s",
        "vendor_not_found_settle_s",
        "ready_max_lag_events",
        "sync_budget_s",
        "webhook_secret_overlap_s",
        "vendor_webhook_inbox_days",
        "vendor_webhook_refusals_kept_per_minute",
    }
)
_PORTS = frozenset({"port", "sandbox_port"})


def _check_numbers(settings: Settings) -> None:
    """Every number within its range, and finite: nan compares false with every bound, so a
    nan interval would pass a plain `< 0` check and then never elapse."""
    for field in msgspec.structs.fields(Settings):
        value = getattr(settings, field.name)
        if field.name in _PORTS or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if field.name in _MAY_BE_ZERO:
            fits, rule = math.isfinite(value) and value >= 0, "0 or more"
        else:
            fits, rule = math.isfinite(value) and value > 0, "more than 0"
        if not fits:
            raise ConfigError(f"{field.name.upper()} must be a number {rule} (got {value!r})")


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from CONFIG_FILE (TOML), then environment variables named after the
    fields in upper case: the environment wins."""
    env = os.environ if environ is None else environ
    config_file = env.get("CONFIG_FILE")
    values: dict[str, object] = _from_file(Path(config_file)) if config_file else {}
    for field in msgspec.structs.fields(Settings):
        raw = env.get(field.name.upper())
        if raw is None or raw == "":
            continue
        default = field.default
        if isinstance(default, bool):
            if raw.lower() not in _BOOLEANS:
                raise ConfigError(f"{field.name.upper()}={raw!r} is not true or false")
            values[field.name] = _BOOLEANS[raw.lower()]
        elif isinstance(default, int):
            values[field.name] = _parse(field.name.upper(), raw, int)
        elif isinstance(default, float):
            values[field.name] = _parse(field.name.upper(), raw, float)
        elif isinstance(default, Path) or field.name.endswith(("_dir", "_file")):
            values[field.name] = Path(raw)
        else:
            values[field.name] = raw
    settings = Settings(**values)
    if not 0 <= settings.port <= 65535 or not 0 <= settings.sandbox_port <= 65535:
        raise ConfigError("PORT and SANDBOX_PORT must be between 0 and 65535")
    _check_numbers(settings)
    for name in ("database_url", "migrate_database_url", "read_database_url"):
        url = getattr(settings, name)
        problem = database_url_problem(url) if url is not None else None
        if problem is not None:
            raise ConfigError(f"{name.upper()}: {problem}")
    if settings.node_role not in NODE_ROLES:
        raise ConfigError(f"NODE_ROLE={settings.node_role!r} is not one of {', '.join(NODE_ROLES)}")
    for name in ("gl_close_at", "reconcile_at"):
        try:
            time.fromisoformat(getattr(settings, name))
        except ValueError:
            value = getattr(settings, name)
            raise ConfigError(f"{name.upper()}={value!r} is not a time (HH:MM)") from None
    try:
        ZoneInfo(settings.business_tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"BUSINESS_TZ={settings.business_tz!r} is not an IANA time zone"
        ) from None
    return settings


# Secrets generated on first run into DATA_DIR: created once, readable by the owner only.
def read_or_create_private(path: Path, generate: Callable[[], str]) -> str:
    """The file's content, writing `generate()` first if the file does not exist yet.

    O_CREAT|O_EXCL with mode 0600: never readable by others, even for a moment, and two
    processes starting at once agree on one value (the loser reads the winner's file).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(generate())
    return path.read_text().strip()
