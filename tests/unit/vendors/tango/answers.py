"""Tango's answers as its swagger and error catalogue show them, for the adapter's tests."""

from __future__ import annotations

import re

from ledger.vendors.base import VendorOrderRequest
from ledger.vendors.tango.adapter import TangoAccount

BASE = "http://tango.test"
ORDERS = f"{BASE}/raas/v2/orders"
ACCOUNT = TangoAccount("platform", "key", "acct-1", "cust-1")
REQ = VendorOrderRequest("gcl-ref-0001", 2500, "USD", "amazon-us", "customer-9")
LISTED = re.compile(rf"^{re.escape(ORDERS)}\?.*$")


def tango_order(status: str = "COMPLETE", **extra: object) -> dict[str, object]:
    """As Tango's swagger (OrderViewSummary) has it."""
    order: dict[str, object] = {
        "referenceOrderID": "RA210101-1234-56",
        "externalRefID": REQ.reference,
        "accountIdentifier": "acct-1",
        "customerIdentifier": "cust-1",
        "utid": "U157189",
        "rewardName": "Amazon.com Gift Card",
        "status": status,
        "createdAt": "2026-10-21T07:27:30.123Z",
        "amountCharged": {"value": 25.0, "currencyCode": "USD", "total": 25.0},
        "denomination": {"value": 25.0, "currencyCode": "USD"},
        "reward": {
            "credentials": {"Card Number": "AMZN-1234", "PIN": "9876"},
            "credentialList": [
                {
                    "label": "Card Number",
                    "value": "AMZN-1234",
                    "type": "text",
                    "credentialType": "cardNumber",
                },
                {"label": "PIN", "value": "9876", "type": "text", "credentialType": "cardPin"},
            ],
        },
    }
    order.update(extra)
    return order


def tango_error(status: int, key: str) -> dict[str, object]:
    """As Tango's ApiError has it (tangocard-raas-client-starter)."""
    return {
        "timestamp": "2026-10-21T07:27:30.564Z",
        "requestId": "82b542f0-0000",
        "path": "/raas/v2/orders",
        "httpCode": status,
        "httpPhrase": "Error",
        "i18nKey": key,
        "message": f"{key} happened",
    }
