"""The layout holds: no import cycle, imports point down the layers, modules and folders stay
small. Read from the source with `ast`, so a lazy import inside a function counts too."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ledger", "projections")
CROSS_CUTTING = {
    f"ledger.{name}"
    for name in ("config", "database_url", "db", "money", "auth", "logs", "metrics", "text")
}
EDGES = ("ledger.cli", "ledger.http", "ledger.console", "run")
# Use cases may build on `ledger.orders`; `ledger.orders` builds on none of them.
USE_CASES = (
    "ledger.orders",
    "ledger.webhooks",
    "ledger.reconciliation",
    "ledger.bulk",
    "ledger.gl",
)
# Use cases built on a read model, through its package surface: the announcer tells merchants
# what the discrepancy projection found, as that projection shows it.
READ_MODEL_USERS = {("ledger.webhooks.announcer", "projections.discrepancies")}
ENGINE = {f"projections.{name}" for name in ("base", "checkpoints", "runner", "rebuild")}
READ_MODELS = ("projections.orders", "projections.discrepancies", "projections.gl")
# Pure code takes time and ids as arguments and does no I/O: none of these may be imported.
PURE = (
    "ledger.money",
    "ledger.text",
    "ledger.database_url",
    "ledger.orders.model",
    "ledger.orders.decisions",
    "ledger.orders.transitions",
    "ledger.orders.schedule",
    "ledger.orders.identifiers",
    "ledger.webhooks.signatures",
    "ledger.reconciliation.corrections",
    "ledger.reconciliation.file_format",
    "ledger.reconciliation.window",
    "ledger.bulk.parsing",
    "projections.discrepancies.matching",
    "projections.gl.postings",
)
IMPURE = {"asyncpg", "aiohttp", "os", "socket", "pathlib", "time", "random", "uuid", "secrets"}
MAX_LINES = 300
MAX_MODULES_PER_FOLDER = 12


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources() -> dict[str, Path]:
    files = [ROOT / "run.py"] + [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    return {module_name(p): p for p in files}


def imports(path: Path, known: set[str]) -> Iterator[str]:
    """Every module `path` imports, project modules resolved to the deepest known name."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                yield full if full in known else node.module


def graph() -> dict[str, set[str]]:
    modules = sources()
    known = set(modules)
    return {name: set(imports(path, known)) - {name} for name, path in modules.items()}


def within(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def refusal(source: str, target: str) -> str | None:
    """Why `source` may not import `target`, or None when the arrow points the right way."""
    ours = within(target, *PACKAGES)
    below_edges = within(source, "ledger") and not within(source, *EDGES)
    routes_of_read_model = within(source, *READ_MODELS) and source.endswith(".http")
    rules = [
        (
            within(target, "ledger.cli") and not within(source, "ledger.cli", "run"),
            "only run.py and the CLI import the CLI",
        ),
        (
            within(target, "ledger.http") and not (within(source, *EDGES) or routes_of_read_model),
            "only the edges and read models' routes import the HTTP layer",
        ),
        (
            source in CROSS_CUTTING and ours and target not in CROSS_CUTTING,
            "cross-cutting modules import only each other",
        ),
        (
            within(source, "ledger.log")
            and ours
            and not (within(target, "ledger.log") or target in CROSS_CUTTING),
            "the log imports only itself and the cross-cutting modules",
        ),
        (
            within(source, "ledger.vendors")
            and ours
            and not within(target, "ledger.vendors", "ledger.webhooks.signatures")
            and target not in CROSS_CUTTING,
            "vendors import only vendors, pure signatures and cross-cutting modules",
        ),
        (
            within(source, "ledger.orders") and within(target, *USE_CASES[1:]),
            "orders are below the other use cases",
        ),
        (
            below_edges
            and within(target, "projections")
            and (source, target) not in READ_MODEL_USERS
            and not (within(source, "ledger.gl") and target == "projections.gl"),
            "below the edges, ledger reaches a read model only through its package",
        ),
        (
            within(source, "ledger")
            and within(target, *READ_MODELS)
            and target not in READ_MODELS
            and not target.endswith(".http"),
            "ledger imports a read model's package surface or routes, never its internals",
        ),
        (
            source in ENGINE and within(target, *READ_MODELS),
            "the projection engine knows no read model (the registry lists them)",
        ),
    ]
    return next((reason for broken, reason in rules if broken), None)


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle among project modules, as a path, or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if target not in edges:
                continue
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_module_imports_itself_back_through_a_cycle():
    assert cycle(graph()) is None


def test_the_cycle_finder_finds_a_planted_cycle():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_every_import_points_down_the_layers():
    wrong = [
        f"{source} -> {target}: {reason}"
        for source, targets in graph().items()
        for target in sorted(targets)
        if (reason := refusal(source, target))
    ]
    assert wrong == []


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("ledger.log.store", "ledger.orders.model"),
        ("ledger.orders.intake", "ledger.http.problems"),
        ("ledger.bulk.parsing", "ledger.http.routes.orders"),
        ("ledger.gl.close", "projections.gl.reports"),
        ("ledger.reconciliation.runs", "projections.discrepancies"),
        ("ledger.http.app", "projections.gl.postings"),
        ("projections.runner", "projections.gl.projection"),
        ("ledger.money", "ledger.log.events"),
        ("ledger.vendors.registry", "ledger.webhooks.inbox"),
        ("ledger.orders.fulfilment", "ledger.webhooks.confirmer"),
    ],
)
def test_a_forbidden_direction_is_refused(source, target):
    assert refusal(source, target) is not None


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_no_io(module):
    path = sources()[module]
    found = {name.split(".")[0] for name in imports(path, set())} & IMPURE
    assert found == set(), f"{module} imports {found}"


def test_no_module_is_over_300_lines():
    files = [*sources().values(), *(ROOT / "tests").rglob("*.py")]
    long = [
        f"{p.relative_to(ROOT)}: {n}"
        for p in files
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    ]
    assert long == []


def test_no_folder_holds_more_than_12_modules():
    folders: dict[Path, int] = {}
    for path in [*sources().values(), *(ROOT / "tests").rglob("*.py")]:
        if path.name != "__init__.py" and path.parent != ROOT:
            folders[path.parent] = folders.get(path.parent, 0) + 1
    crowded = {
        str(f.relative_to(ROOT)): n for f, n in folders.items() if n > MAX_MODULES_PER_FOLDER
    }
    assert crowded == {}


def test_only_cross_cutting_modules_sit_at_the_top_of_ledger():
    top = {p.stem for p in (ROOT / "ledger").glob("*.py")} - {"__init__"}
    assert {f"ledger.{name}" for name in top} <= CROSS_CUTTING


def test_every_package_says_what_it_owns():
    undocumented = [
        str(init.relative_to(ROOT))
        for pkg in PACKAGES
        for init in (ROOT / pkg).rglob("__init__.py")
        if ast.get_docstring(ast.parse(init.read_text())) is None
    ]
    assert undocumented == []
