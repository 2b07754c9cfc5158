"""Every route of /openapi.json, fed what an attacker or a broken client sends: hostile path
parameters, unknown and malformed query values, bodies of random bytes or random JSON. No
answer may be a 5xx (issue 13): bad input is a 4xx problem, whatever its shape."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.auth import create_key
from ledger.http.keys import POOL
from ledger.http.operations import OPERATIONS

# Enough examples per run to meet control characters, surrogates, huge numbers and deep JSON
# on every route, few enough that the suite spends seconds here. Hypothesis remembers failing
# examples between runs (.hypothesis/), so a found 500 is tried first next time.
EXAMPLES = 300
ROUTES = [(op.method, op.path) for op in OPERATIONS if op.path != "/openapi.json"]

hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
    st.sampled_from(["%00", "%ff%fe", "..", "../../etc/passwd", "' OR 1=1 --", "\x00", "9" * 40]),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
)


def _path(template: str, values: list[str]) -> str:
    parts = iter(values)
    return re.sub(r"\{[^}]+\}", lambda _: quote(next(parts), safe="") or "x", template)


@pytest.fixture
async def fuzzed(running):
    client, _, _ = running
    async with client.app[POOL].acquire() as conn:
        _, admin = await create_key(conn, name="fuzz", scopes=["admin"])
    return client, {"Authorization": f"Bearer {admin}"}


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    route=st.sampled_from(ROUTES),
    path_values=st.lists(hostile_text, min_size=3, max_size=3),
    query=st.dictionaries(hostile_text, hostile_text, max_size=3),
    body=bodies,
    content_type=st.sampled_from(["application/json", "text/csv", "application/x-www-form"]),
)
async def test_no_route_answers_a_5xx_to_anything(
    fuzzed, route, path_values, query, body, content_type
):
    client, admin = fuzzed
    method, template = route
    headers = admin | {"Content-Type": content_type, "Idempotency-Key": "fuzz-key-0001"}
    response = await client.request(
        method.upper(), _path(template, path_values), params=query, data=body, headers=headers
    )
    text = await response.text()
    assert response.status < 500, (method, template, path_values, query, body, text)
