"""The import graph of app/ runs one way: edge -> core -> models -> platform.

Read from the source with ``ast`` (nothing is imported), so an arrow hidden in
a function body counts as much as one at the top of a module.
"""

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "app"

# Lowest first. A module may import its own layer or any layer below it.
PLATFORM, MODELS, CORE, EDGE = range(4)
LAYERS = {
    "app.db": PLATFORM,
    "app.config": PLATFORM,
    "app.settings_parsing": PLATFORM,
    "app.passwords": PLATFORM,
    "app.models": MODELS,
    "app.core": CORE,
}
# Frameworks of the HTTP edge: the core must run without them (job runner, CLI).
WEB_PACKAGES = ("flask", "werkzeug", "flask_jwt_extended", "flask_limiter",
                "flask_smorest", "flask_cors", "marshmallow")  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(APP.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> int:
    """The layer of an app module: the longest matching prefix, else the edge."""
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return LAYERS[prefix]
    return EDGE


def imports(path: Path, known: set[str]) -> set[str]:
    """Every module ``path`` imports, anywhere in it; app modules resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                # ``from app import audit`` imports the module app.audit.
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in known else node.module)
    return found


def graph() -> dict[str, set[str]]:
    """app module -> the modules it imports (app ones and third-party roots)."""
    paths = {module_name(path): path for path in APP.rglob("*.py")}
    known = set(paths)
    return {name: imports(path, known) for name, path in paths.items()}


def upward_arrows(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Imports from a lower layer into a higher one."""
    return sorted(
        (source, target)
        for source, targets in edges.items()
        for target in targets
        if target.startswith("app") and layer(target) > layer(source)
    )


def web_in_core(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted(
        (source, target)
        for source, targets in edges.items()
        if layer(source) == CORE
        for target in targets
        if target.split(".")[0] in WEB_PACKAGES
    )


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of two or more app modules (Tarjan)."""
    app_edges = {
        name: {t for t in targets if t in edges and t != name}
        for name, targets in edges.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in app_edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(app_edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_points_up_a_layer():
    assert upward_arrows(graph()) == []


def test_the_core_knows_nothing_of_the_web():
    assert web_in_core(graph()) == []


def test_the_import_graph_has_no_cycle():
    assert cycles(graph()) == []


def test_the_checks_can_tell_a_wrong_arrow():
    """The three checks on a made-up graph with one defect each."""
    edges = {
        "app.models.account": {"app.core.movements"},  # up a layer
        "app.core.movements": {"flask", "app.models.user"},  # web in core
        "app.views.a": {"app.views.b"},
        "app.views.b": {"app.views.a"},  # a circle
    }
    assert upward_arrows(edges) == [("app.models.account", "app.core.movements")]
    assert web_in_core(edges) == [("app.core.movements", "flask")]
    assert cycles(edges) == [["app.views.a", "app.views.b"]]


@pytest.mark.parametrize(
    "module, expected",
    [("app.db", PLATFORM), ("app.models.ledger", MODELS),
     ("app.core.movements", CORE), ("app.views.customer", EDGE), ("app", EDGE)],
)  # fmt: skip
def test_layers_are_read_from_the_module_path(module, expected):
    assert layer(module) == expected
