"""pocketmt's modules import one way: no cycle, and no module imports a layer above its own.

Static analysis of every ``import`` statement (module level and inside functions both; only
``if TYPE_CHECKING:`` blocks are skipped, they never run), over every module of the three source
folders. The layers, bottom to top, are the house map of README.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"sdk": "pocketmt", "export": "pocketmt.export", "runtime": "pocketmt.runtime"}

# bottom first; a module belongs to the layer of its longest matching prefix
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("errors", ("pocketmt.runtime.errors",)),
    ("io", ("pocketmt.io",)),
    ("runtime", ("pocketmt.runtime", "pocketmt.models")),
    ("quantization", ("pocketmt.export.compression",)),
    ("export", ("pocketmt.export",)),
    ("training", ("pocketmt.export.training",)),
    ("evaluation", ("pocketmt.evaluate", "pocketmt.report", "pocketmt.bench")),
    ("command line", ("pocketmt",)),
]


def _modules() -> dict[str, Path]:
    found = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


def _is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    out: list[ast.Import | ast.ImportFrom] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if _is_type_checking(node):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            out.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return out


def _targets(name: str, path: Path, node: ast.Import | ast.ImportFrom, modules: dict[str, Path]) -> set[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join(package + ([node.module] if node.module else []))
        names = [base] + [f"{base}.{alias.name}" for alias in node.names]
    hits = set()
    for target in names:
        while target and target not in modules:  # pocketmt.export.arch.ADAPTERS -> pocketmt.export.arch
            target = target.rpartition(".")[0]
        if target and target != name:
            hits.add(target)
    return hits


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text("utf-8"), str(path))
        graph[name] = set().union(*(_targets(name, path, n, modules) for n in _imports(tree)))
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def layer_of(module: str) -> int:
    best, rank = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), index
    assert rank >= 0, f"{module} is in no layer of the house map"
    return rank


def test_the_analysis_sees_function_level_imports() -> None:
    graph = import_graph()
    assert "pocketmt.export.pipeline" in graph["pocketmt.cli"] or any(
        "pocketmt.export" in t for m, ts in graph.items() if m.startswith("pocketmt.commands") for t in ts
    )
    assert len(graph) > 60


def test_no_import_cycle_among_pocketmt_modules() -> None:
    cycle = _cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for module, targets in sorted(import_graph().items())
        for target in sorted(targets)
        if layer_of(target) > layer_of(module)
    ]
    assert upward == []
