"""The OpenAPI document describes exactly the routes the app serves."""

import re

from ledger.http.operations import OPERATIONS


async def test_openapi_describes_every_served_route_and_nothing_else(client):
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in client.app.router.routes()
        if route.method not in ("HEAD", "OPTIONS")
    }
    # The browser console's pages are for people, not an API: HTML, outside the document.
    api = {(method, path) for method, path in served if path != "/" and "/console" not in path}
    described = {(op.method, op.path) for op in OPERATIONS}
    assert api == described
    assert ("get", "/console/gl") in served


async def test_openapi_json_carries_the_msgspec_schemas(client):
    response = await client.get("/openapi.json")
    spec = await response.json()
    assert response.status == 200 and spec["openapi"].startswith("3.")
    create = spec["components"]["schemas"]["CreateOrder"]
    assert set(create["required"]) == {"customer_id", "brand_id", "amount", "currency"}
    pattern = create["properties"]["currency"]["pattern"]
    assert re.search(pattern, "USD") and not re.search(pattern, "USD\n")
    post = spec["paths"]["/api/v1/orders"]["post"]
    assert {"200", "201", "202", "409", "422"} <= set(post["responses"])
    assert post["security"] == [{"bearer": ["orders:write"]}]


async def test_the_document_is_valid_openapi_3_1_with_ids_tags_and_query_parameters(client):
    from openapi_spec_validator import validate

    spec = await (await client.get("/openapi.json")).json()
    validate(spec)  # raises on anything openapi-spec-validator refuses
    operations = [op for path in spec["paths"].values() for op in path.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids)) == len(OPERATIONS) and all(op["tags"] for op in operations)
    daily = spec["paths"]["/api/v1/gl/daily"]["get"]
    assert [p["name"] for p in daily["parameters"]] == ["from", "to", "currency"]
    journal = {p["name"]: p for p in spec["paths"]["/api/v1/gl/journal"]["get"]["parameters"]}
    assert journal["date"]["required"] and not journal["currency"]["required"]
    example = spec["components"]["schemas"]["CreateOrder"]["properties"]["amount"]["examples"]
    assert example == ["25.00"]
    created = spec["paths"]["/api/v1/orders"]["post"]["responses"]["409"]
    assert {"X-Request-Id", "Retry-After"} <= set(created["headers"])


async def test_a_query_parameter_a_route_does_not_take_is_a_400_naming_it(client):
    """`cursor=` used to be ignored and page 1 returned; the parameter is `after`."""
    from ledger.auth import create_key
    from ledger.http.keys import POOL

    async with client.app[POOL].acquire() as conn:
        _, key = await create_key(conn, name="acme", scopes=["finance:read"])
    finance = {"Authorization": f"Bearer {key}"}
    response = await client.get("/api/v1/orders?cursor=abc", headers=finance)
    problem = await response.json()
    assert response.status == 400 and problem["code"] == "unknown_parameter", problem
    assert problem["field"] == "cursor" and "after" in problem["detail"]
    wrong = await client.get("/api/v1/orders?limit=many", headers=finance)
    assert wrong.status == 400 and (await wrong.json())["field"] == "limit"
    missing = await client.get("/api/v1/gl/journal", headers=finance)
    assert missing.status == 400 and (await missing.json())["field"] == "date"
    none_taken = await client.get("/healthz?verbose=1")
    assert none_taken.status == 400 and (await none_taken.json())["field"] == "verbose"
