"""Settings from CONFIG_FILE and the environment (the environment wins), every bad key named,
and `run.py config`'s view of them with secrets masked (issue 18)."""

from __future__ import annotations

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
    with pytest.raises(ConfigError, match=f"{name} must be 0 or more"):
        load_settings({name: "-1"})
