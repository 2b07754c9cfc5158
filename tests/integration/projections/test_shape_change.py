"""A release that changes a read model's shape starts against the old tables: they keep serving,
untouched, until its rebuild swaps the new ones in (a new index on a new column once failed
every node's start, before any rebuild could run)."""

from __future__ import annotations

from projections.base import Table
from projections.checkpoints import ensure_projection
from projections.rebuild import rebuild

NAME = "shape_probe"


class Probe:
    """A read model of no events: only its tables' shape matters here."""

    name = NAME

    def __init__(self, table: Table) -> None:
        self.tables = (table,)

    async def apply(self, conn, names, events) -> None:
        pass


OLD = Probe(Table(NAME, (("id", "text"), ("a", "text")), indexes=("a",)))
# A column, and an index on it listed first: the old index's name (shape_probe_ix0) now means it.
NEW = Probe(Table(NAME, (("id", "text"), ("a", "text"), ("b", "text")), indexes=("b", "a")))


async def _indexes(conn) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = $1 AND indexname LIKE $2",
        NAME,
        f"{NAME}_ix%",
    )
    return {r["indexname"]: r["indexdef"].rsplit("(", 1)[1].rstrip(")") for r in rows}


async def _columns(conn) -> list[str]:
    rows = await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = $1"
        " ORDER BY ordinal_position",
        NAME,
    )
    return [r["column_name"] for r in rows]


async def test_a_new_shape_leaves_the_old_tables_serving_until_its_rebuild_swaps(pool):
    async with pool.acquire() as conn:
        assert await ensure_projection(conn, OLD) is False
        await conn.execute(f"INSERT INTO {NAME} (id, a) VALUES ('k', 'old row')")

        assert await ensure_projection(conn, NEW) is True  # stale: a rebuild is due
        assert await _columns(conn) == ["id", "a"]
        assert await _indexes(conn) == {f"{NAME}_ix0": "a"}
        assert await conn.fetchval(f"SELECT a FROM {NAME} WHERE id = 'k'") == "old row"

        assert await rebuild(conn, NEW) == []
        assert await _columns(conn) == ["id", "a", "b"]
        assert await _indexes(conn) == {f"{NAME}_ix0": "b", f"{NAME}_ix1": "a"}
        assert await ensure_projection(conn, NEW) is False  # current from now on
