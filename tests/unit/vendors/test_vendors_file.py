"""VENDORS_FILE: validated at start, every error naming the key; credentials from `env:VAR`;
each adapter built from its section."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from ledger.config import ConfigError, Settings
from ledger.vendors.registry import build_adapter, vendor_setup
from ledger.vendors.rest import RestVendorAdapter
from ledger.vendors.tango.adapter import TangoAdapter
from ledger.vendors.vendors_file import load_vendors_file

TANGO = """
[vendors.tango]
adapter = "tango"
base_url = "https://integration-api.tangocard.com"
platform_name = "merchant"
platform_key = "env:TANGO_KEY"
account_identifier = "acct-1"
customer_identifier = "cust-1"

[vendors.tango.brands]
amazon-us = "U157189"
"""


def _in_section(line: str) -> str:
    return TANGO.replace(
        'customer_identifier = "cust-1"\n', f'customer_identifier = "cust-1"\n{line}\n'
    )


def _load(tmp_path, text: str, **environ: str):
    path = tmp_path / "vendors.toml"
    path.write_text(text)
    return load_vendors_file(path, environ).vendors


def test_a_credential_given_as_env_var_is_read_from_the_environment(tmp_path):
    vendors = _load(tmp_path, TANGO, TANGO_KEY="from-the-environment")
    assert vendors["tango"].platform_key == "from-the-environment"
    assert vendors["tango"].brands == {"amazon-us": "U157189"}


def test_an_env_credential_that_is_not_set_names_the_key_and_the_variable(tmp_path):
    with pytest.raises(ConfigError, match=r"vendors\.tango\.platform_key names TANGO_KEY"):
        _load(tmp_path, TANGO)


def test_a_missing_credential_names_the_key_and_the_adapter(tmp_path):
    text = TANGO.replace('account_identifier = "acct-1"\n', "")
    with pytest.raises(ConfigError, match=r"vendors\.tango\.account_identifier is required"):
        _load(tmp_path, text, TANGO_KEY="k")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (TANGO.replace('adapter = "tango"', 'adapter = "tangoo"'), r"vendors\.tango\.adapter"),
        (_in_section('platfrom_key = "typo"'), r"vendors\.tango: .*platfrom_key"),
        (TANGO.replace('"U157189"', "157189"), r"vendors\.tango\.brands"),
        (_in_section("list_cap = 0"), r"vendors\.tango\.list_cap"),
    ],
    ids=["unknown adapter", "unknown key", "brand not text", "cap below 1"],
)
def test_every_malformed_section_is_refused_naming_the_key(tmp_path, text, named):
    with pytest.raises(ConfigError, match=named):
        _load(tmp_path, text, TANGO_KEY="k")


async def test_each_adapter_is_built_from_its_section_with_its_documented_retention(tmp_path):
    vendors = _load(tmp_path, TANGO + '\n[vendors.plain]\nbase_url = "http://x"\n', TANGO_KEY="k")
    async with aiohttp.ClientSession() as session:
        tango = build_adapter("tango", vendors["tango"], session)
        plain = build_adapter("plain", vendors["plain"], session)
    assert isinstance(tango, TangoAdapter) and tango.key_retention == timedelta(days=90)
    assert isinstance(plain, RestVendorAdapter) and plain.key_retention == timedelta(hours=24)


def test_the_readme_example_vendors_file_loads_with_its_secrets_from_the_environment(tmp_path):
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    example = readme.split("## Vendors", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    environ = {
        "TANGO_PLATFORM_KEY": "tango-key",
        "TREMENDOUS_API_KEY": "tr-key",
        "TREMENDOUS_WEBHOOK_KEY": "tr-webhook-key",
    }
    path = tmp_path / "vendors.toml"
    path.write_text(example)
    loaded = load_vendors_file(path, environ)
    assert loaded.vendors["tremendous"].webhook_secrets == ["tr-webhook-key"]
    assert loaded.vendors["tango"].platform_key == "tango-key"
    assert loaded.routing.brands == {"amazon-us": ["tango", "tremendous"]}


def test_routing_that_names_an_unconfigured_vendor_is_refused_naming_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("TANGO_KEY", "k")
    text = TANGO + '\n[routing.brands]\namazon-us = ["tango", "runa"]\n'
    path = tmp_path / "vendors.toml"
    path.write_text(text)
    settings = Settings(vendors_file=path, sandbox_port=0)
    with pytest.raises(ConfigError, match=r"routing\.brands\.amazon-us names runa"):
        vendor_setup(settings)


def test_webhooks_for_a_vendor_that_sends_none_are_refused_at_start(tmp_path):
    giftbit = '[vendors.gb]\nadapter = "giftbit"\nbase_url = "http://x"\napi_key = "k"\n'
    with pytest.raises(ConfigError, match=r"vendors\.gb\.webhook_secrets"):
        _load(tmp_path, giftbit + 'webhook_secrets = ["k"]\n')
