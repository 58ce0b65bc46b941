"""The one-way architecture (components below the launcher), checked on the source.

Every ``import`` of a project module, at module level or inside a function, is read with ``ast``.
Modules are ranked by layer; an import may only go to a lower layer (or, inside the components
layer, to another component), and the graph of module imports has no cycle. The modules that
``docs/upstream.md`` proposes to torchgan import nothing from the launcher side.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "torchgan_ext"

#: Layer of each top-level module or subpackage; imports must point to a lower number (the
#: components, layer 1, may import each other as long as there is no cycle).
LAYERS = {
    "_validation": 0,
    "errors": 0.5,
    "_checkfiles": 0,
    "protocols": 0,
    "weights": 1,
    "layers": 1,
    "augment": 1,
    "models": 1,
    "losses": 1,
    "metrics": 1,
    "data": 1,
    "logging": 1,
    "callbacks": 1,
    "trainer": 1,
    "_registry": 2,
    "_hookspecs": 3,
    "config": 3,
    "arguments": 3.5,
    "build": 4,
    "_plugins": 5,
    "plugins": 5,
    "testing": 5,
    "loaders": 6,
    "preflight": 6,
    "inference": 6,
    "sampling": 7,
    "run_dir": 6.5,
    "runner": 7,
    "evaluate": 8,
    "folder_evaluation": 8.5,
    "commands": 8.7,
    "cli": 9,
    "__main__": 10,
    "__init__": 10,
}
COMPONENTS = {name for name, layer in LAYERS.items() if layer == 1}
LAUNCHER = {name for name, layer in LAYERS.items() if layer >= 2}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def project_imports(path: Path) -> set[str]:
    """Absolute names of the project modules ``path`` imports (anywhere in the file)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from .pkg import mod` may name submodules; `from .. import mod` names only them
            subs = [f"{target}.{a.name}" for a in node.names]
            names = subs if node.module is None else [target, *subs]
        else:
            continue
        for name in names:
            if name == "torchgan_ext" or name.startswith("torchgan_ext."):
                out.add(name)
    return out


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module an imported name refers to (a submodule, a module, or a package)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def top(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def import_graph() -> dict[str, set[str]]:
    modules = all_modules()
    graph = {}
    for name, path in modules.items():
        targets = {resolve(t, modules) for t in project_imports(path)}
        graph[name] = {t for t in targets if t and t != name and t != "torchgan_ext"}
    return graph


def test_every_module_has_a_layer():
    unknown = sorted({top(m) for m in all_modules()} - set(LAYERS))
    assert not unknown, f"give these modules a layer in LAYERS: {unknown}"


def test_imports_run_downward_only():
    wrong = []
    for module, targets in import_graph().items():
        src = top(module)
        for target in targets:
            dst = top(target)
            if src == dst:
                continue
            if LAYERS[dst] < LAYERS[src] or (src in COMPONENTS and dst in COMPONENTS):
                continue
            wrong.append(f"{module} -> {target}")
    assert not wrong, "imports against the layering:\n" + "\n".join(sorted(wrong))


def test_import_graph_has_no_cycle():
    graph = import_graph()
    # packages import their submodules from __init__; a submodule importing a sibling through
    # the package is an edge to the package's __init__ and counts
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt) :] + [nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    # a package __init__ that re-exports its submodules, and a submodule that imports a sibling
    # by relative path, is not a cycle at run time unless the submodule imports the package
    real = [c for c in cycles if not _only_package_reexport(c)]
    assert not real, "import cycles:\n" + "\n".join(real)


def _only_package_reexport(cycle: str) -> bool:
    """``pkg -> pkg.a -> pkg`` where ``pkg`` is ``pkg/__init__`` re-exporting ``pkg.a``."""
    nodes = cycle.split(" -> ")
    return (
        False if len(nodes) > 3 else nodes[0] == nodes[-1] and nodes[1].startswith(nodes[0] + ".")
    )


def upstream_modules() -> list[str]:
    """The modules docs/upstream.md lists (``torchgan_ext/...py`` paths in its PR sections)."""
    text = (ROOT / "docs" / "upstream.md").read_text(encoding="utf-8")
    paths = sorted(set(re.findall(r"`(torchgan_ext/[\w/]+\.py)`", text)))
    return paths


def test_upstream_doc_lists_existing_modules():
    paths = upstream_modules()
    assert len(paths) > 30
    missing = [p for p in paths if not (ROOT / p).is_file()]
    assert not missing, f"docs/upstream.md names files that do not exist: {missing}"


@pytest.mark.parametrize("path", upstream_modules())
def test_upstream_ready_module_imports_nothing_of_the_launcher(path):
    modules = all_modules()
    launcher_hits = sorted(
        t
        for t in (resolve(i, modules) for i in project_imports(ROOT / path))
        if t and (top(t) in LAUNCHER or t == "torchgan_ext")
    )
    assert not launcher_hits, f"{path} imports launcher modules: {launcher_hits}"
    source = (ROOT / path).read_text(encoding="utf-8")
    assert "ConfigError" not in source, f"{path} raises the launcher's ConfigError"
