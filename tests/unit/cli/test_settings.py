"""Settings from CONFIG_FILE and the environment (the environment wins), every bad key named,
and `run.py config`'s view of them with secrets masked (issue 18)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ledger.cli.show_config import MASK, effective, masked_url
from ledger.config import ConfigError, load_settings


def _file(tmp_path, text: str) -> dict[str, str]:
    path = tmp_path / "ledger.toml"
    path.write_text(text)
    return {"CONFIG_FILE": str(path)}


def test_a_config_file_sets_what_the_environment_does_not(tmp_path):
    env = _file(tmp_path, 'port = 9000\nschedules = false\ndata_dir = "/srv/ledger"\n')
    settings = load_settings(env | {"PORT": "9100"})
    assert settings.port == 9100, "the environment wins"
    assert settings.schedules is False and settings.data_dir == Path("/srv/ledger")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("prot = 9000\n", "prot: not a setting"),
        ('port = "9000"\n', "port = '9000' is not an integer"),
        ("schedules = 1\n", "schedules = 1 is not true or false"),
        ("port = true\n", "port = True is not an integer"),
        ("port = [\n", "CONFIG_FILE"),
    ],
)
def test_every_bad_key_in_the_file_is_refused_naming_it(tmp_path, text, named):
    with pytest.raises(ConfigError, match=named.replace("[", r"\[")):
        load_settings(_file(tmp_path, text))


def test_the_effective_settings_mask_secrets_and_passwords_in_urls():
    settings = load_settings(
        {
            "DATABASE_URL": "postgresql://app:hunter2@db:5432/ledger",
            "MIGRATE_DATABASE_URL": "postgresql://owner@db/ledger?password=s3cret&sslmode=require",
            "SECRETS_KEY": "c2VjcmV0",
        }
    )
    shown = effective(settings)
    assert shown["database_url"] == f"postgresql://app:{MASK}@db:5432/ledger"
    assert shown["migrate_database_url"].endswith(f"?password={MASK}&sslmode=require")
    assert shown["secrets_key"] == MASK and shown["port"] == 8080
    assert "hunter2" not in str(shown) and "s3cret" not in str(shown)
    assert masked_url("postgresql://db/ledger") == "postgresql://db/ledger"


@pytest.mark.parametrize(
    "name",
    [
        "VENDOR_WEBHOOK_INBOX_DAYS",
        "VENDOR_WEBHOOK_REFUSALS_KEPT_PER_MINUTE",
        "VENDOR_NOT_FOUND_SETTLE_S",
    ],
)
def test_a_negative_bound_is_refused_naming_it(name):
    with pytest.raises(ConfigError, match=f"{name} must be a number 0 or more"):
        load_settings({name: "-1"})


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("notaurl", "postgresql:// or postgres://"),
        ("mysql://db/ledger", "postgresql:// or postgres://"),
        ("postgresql:ledger", "postgresql:// or postgres://"),
        ("postgresql://db:99999/ledger", "port 99999"),
        ("postgresql://db:abc/ledger", "port abc"),
        ("postgresql://a:5432,b:0/ledger", "port 0"),
        ("postgresql://db/ledger?port=70000", "port 70000"),
        ("postgresql://[::1/ledger", "IPv6"),
        ("postgresql://db/ledger?sslmode=sometimes", "sslmode='sometimes'"),
        ("postgresql://db/ledger?target_session_attrs=any-old", "target_session_attrs"),
    ],
)
@pytest.mark.parametrize("setting", ["DATABASE_URL", "MIGRATE_DATABASE_URL", "READ_DATABASE_URL"])
def test_a_database_url_that_cannot_be_parsed_is_refused_naming_it(url, named, setting):
    with pytest.raises(ConfigError, match=f"^{setting}: .*{re.escape(named)}"):
        load_settings({setting: url})


@pytest.mark.parametrize(
    "url",
    [
        "postgres://",
        "POSTGRESQL://db/ledger",
        "postgresql://app:pw@db1:5432,db2:5433/ledger?sslmode=require"
        "&target_session_attrs=read-write",
        "postgresql:///ledger?host=/var/run/postgresql",
        "postgresql://[::1]:5432/ledger",
        "postgresql://app@db/ledger?options=-c%20role%3Dledger_service&application_name=x",
    ],
)
def test_every_url_form_postgres_takes_is_accepted(url):
    assert load_settings({"DATABASE_URL": url}).database_url == url


@pytest.mark.parametrize(
    ("name", "raw", "rule"),
    [
        ("POLL_INTERVAL_S", "0", "more than 0"),
        ("POLL_INTERVAL_S", "nan", "more than 0"),
        ("SEAL_INTERVAL_S", "-5", "more than 0"),
        ("WEBHOOK_TIMEOUT_S", "inf", "more than 0"),
        ("VENDOR_ATTEMPT_TIMEOUT_S", "0", "more than 0"),
        ("MAX_BODY_BYTES", "0", "more than 0"),
        ("BULK_MAX_ROWS", "-1", "more than 0"),
        ("MAX_AMOUNT_MINOR", "0", "more than 0"),
        ("SYNC_BUDGET_S", "-1", "0 or more"),
        ("SYNC_BUDGET_S", "nan", "0 or more"),
        ("RECONCILE_OVERLAP_S", "-1", "0 or more"),
        ("READY_MAX_LAG_EVENTS", "-1", "0 or more"),
        ("WEBHOOK_SECRET_OVERLAP_S", "inf", "0 or more"),
    ],
)
def test_a_number_outside_its_settings_range_is_refused_naming_it(name, raw, rule):
    with pytest.raises(ConfigError, match=f"^{name} must be a number {rule} \\(got "):
        load_settings({name: raw})


def test_a_zero_where_zero_means_something_is_accepted():
    settings = load_settings({"SYNC_BUDGET_S": "0", "VENDOR_WEBHOOK_INBOX_DAYS": "0"})
    assert settings.sync_budget_s == 0 and settings.vendor_webhook_inbox_days == 0


def test_the_effective_settings_mask_credentials_in_a_presigned_url():
    presigned = (
        "https://digests.s3.amazonaws.com/ledger.jsonl?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAEXAMPLE%2F20261207&X-Amz-Signature=0123abcd&X-Amz-Expires=3600"
    )
    shown = effective(load_settings({"DIGEST_PUBLISH": presigned}))
    assert "AKIAEXAMPLE" not in shown["digest_publish"]
    assert "0123abcd" not in shown["digest_publish"]
    assert shown["digest_publish"].startswith("https://digests.s3.amazonaws.com/ledger.jsonl?")
    assert f"X-Amz-Signature={MASK}" in shown["digest_publish"]
    # What says how to connect, not who may, stays readable.
    url = "postgresql://app@db/ledger?sslmode=require&application_name=ledger&sslpassword=k3y"
    assert masked_url(url) == (
        f"postgresql://app@db/ledger?sslmode=require&application_name=ledger&sslpassword={MASK}"
    )
