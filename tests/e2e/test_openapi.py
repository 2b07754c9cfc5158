"""The OpenAPI document describes exactly the routes the app serves."""

from ledger.http.openapi import OPERATIONS


async def test_openapi_describes_every_served_route_and_nothing_else(client):
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in client.app.router.routes()
        if route.method not in ("HEAD", "OPTIONS")
    }
    described = {(op.method, op.path) for op in OPERATIONS}
    assert served == described


async def test_openapi_json_carries_the_msgspec_schemas(client):
    response = await client.get("/openapi.json")
    spec = await response.json()
    assert response.status == 200 and spec["openapi"].startswith("3.")
    create = spec["components"]["schemas"]["CreateOrder"]
    assert set(create["required"]) == {"customer_id", "brand_id", "amount", "currency"}
    assert create["properties"]["currency"]["pattern"] == "^[A-Z]{3}$"
    post = spec["paths"]["/api/v1/orders"]["post"]
    assert {"200", "201", "202", "409", "422"} <= set(post["responses"])
    assert post["security"] == [{"bearer": ["orders:write"]}]
