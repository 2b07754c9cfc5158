"""Routing a new order's brand to a vendor: the first that sells it with its breaker closed."""

from __future__ import annotations

import pytest

from ledger.vendors.routing import NoVendorSells, Router, Routing

CATALOGS = {
    "tango": {"amazon-us": "U157189", "target-us": "U1"},
    "tremendous": {"amazon-us": "OKMHM2X2OHYV"},
    "sandbox": {},  # no table: sells every brand
}
ROUTING = Routing(default="tango", brands={"amazon-us": ["tango", "tremendous"]})


def router(open_breakers: set[str] = frozenset(), routing: Routing = ROUTING) -> Router:
    return Router(routing, "sandbox", CATALOGS, lambda vendor: vendor not in open_breakers)


def test_a_brand_goes_to_the_first_listed_vendor_while_its_breaker_is_closed():
    assert router().choose("amazon-us") == "tango"


def test_with_the_first_breaker_open_the_next_that_sells_it_takes_the_order():
    assert router({"tango"}).choose("amazon-us") == "tremendous"


def test_with_every_breaker_open_the_first_seller_still_takes_it_and_the_order_waits():
    assert router({"tango", "tremendous"}).choose("amazon-us") == "tango"


def test_an_unlisted_brand_goes_to_the_default_if_it_sells_it():
    assert router().choose("target-us") == "tango"
    with pytest.raises(NoVendorSells) as refused:
        router().choose("walmart-us")
    assert refused.value.brand_id == "walmart-us"


def test_a_listed_vendor_that_does_not_sell_the_brand_is_passed_over():
    routing = Routing(brands={"target-us": ["tremendous", "tango"]})
    assert router(routing=routing).choose("target-us") == "tango"


def test_without_routing_the_default_vendor_takes_every_brand_it_sells():
    assert router(routing=Routing()).choose("anything") == "sandbox"


def test_a_vendor_that_is_not_configured_sells_nothing():
    routing = Routing(default="runa")
    with pytest.raises(NoVendorSells):
        router(routing=routing).choose("amazon-us")
