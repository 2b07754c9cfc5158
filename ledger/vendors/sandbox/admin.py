"""The sandbox's /_admin routes: the test harness's view of the truth (stats) and its way to
change a vendor record behind the service's back (create, patch, lose one), silently: admin
changes send no webhook. The same for every dialect; faults never apply here."""

from __future__ import annotations

import msgspec
from aiohttp import web

from ledger.vendors.sandbox.store import NotFound, SandboxStore

_encoder = msgspec.json.Encoder()


def json_answer(
    status: int, payload: object, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        body=_encoder.encode(payload),
        content_type="application/json",
        headers=headers,
    )


def error_answer(status: int, code: str, message: str) -> web.Response:
    return json_answer(status, {"error": {"code": code, "message": message}})


class _Admin:
    def __init__(self, store: SandboxStore) -> None:
        self.store = store

    async def stats(self, request: web.Request) -> web.Response:
        return json_answer(200, self.store.stats())

    async def create(self, request: web.Request) -> web.Response:
        try:
            return json_answer(201, self.store.admin_create(await request.read()))
        except msgspec.DecodeError as exc:
            return error_answer(422, "invalid_request", str(exc))

    async def patch(self, request: web.Request) -> web.Response:
        try:
            order = self.store.admin_patch(request.match_info["order_id"], await request.read())
        except msgspec.DecodeError as exc:
            return error_answer(422, "invalid_request", str(exc))
        except NotFound:
            return error_answer(404, "order_not_found", "no such order")
        return json_answer(200, order)

    async def delete(self, request: web.Request) -> web.Response:
        try:
            self.store.delete(request.match_info["order_id"])
        except NotFound:
            return error_answer(404, "order_not_found", "no such order")
        return web.Response(status=204)


def register_admin(router: web.UrlDispatcher, store: SandboxStore) -> None:
    admin = _Admin(store)
    router.add_get("/_admin/stats", admin.stats)
    router.add_post("/_admin/orders", admin.create)
    router.add_patch("/_admin/orders/{order_id}", admin.patch)
    router.add_delete("/_admin/orders/{order_id}", admin.delete)
