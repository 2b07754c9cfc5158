"""Which vendor a new order goes to, chosen once, when the order is recorded. Pure.

`[routing]` in VENDORS_FILE names a default and, per brand, an ordered list of vendors: the
first whose catalog has the brand and whose breaker is closed takes the order; when every such
breaker is open, the first that sells the brand does (the order is recorded and waits for it,
rather than being refused). A vendor sells a brand when its `brands` table names it; a vendor
without a table (the sandbox) sells every brand. The vendor is part of the recorded order, so
an order never moves to another vendor afterwards: retries, the completer and look-ups all go
to the vendor that may hold it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import msgspec


class Routing(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # Unset: DEFAULT_VENDOR.
    default: str | None = None
    brands: dict[str, list[str]] = {}


class NoVendorSells(Exception):
    """No configured vendor sells the brand (a 422 naming brand_id)."""

    def __init__(self, brand_id: str) -> None:
        super().__init__(f"no configured vendor sells brand {brand_id!r}")
        self.brand_id = brand_id


class Router:
    def __init__(
        self,
        routing: Routing,
        default_vendor: str,
        catalogs: Mapping[str, Mapping[str, str]],
        breaker_closed: Callable[[str], bool],
    ) -> None:
        """`catalogs`: each configured vendor's brand table (empty: it sells every brand)."""
        self._default = routing.default or default_vendor
        self._brands = routing.brands
        self._catalogs = catalogs
        self._closed = breaker_closed

    def _sells(self, vendor: str, brand_id: str) -> bool:
        catalog = self._catalogs.get(vendor)
        return catalog is not None and (not catalog or brand_id in catalog)

    def candidates(self, brand_id: str) -> Sequence[str]:
        listed = self._brands.get(brand_id, [self._default])
        return [vendor for vendor in listed if self._sells(vendor, brand_id)]

    def choose(self, brand_id: str) -> str:
        selling = self.candidates(brand_id)
        if not selling:
            raise NoVendorSells(brand_id)
        return next((vendor for vendor in selling if self._closed(vendor)), selling[0])
