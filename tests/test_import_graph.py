"""The packages form layers: no module imports itself through others (no import cycle), ``sa_core`` (the model
stack) never imports the evaluation side, ``sa_util`` (the shared layer) imports no other project package, and the
folders of ``metrics`` are layers too (:data:`METRICS_LAYERS`).

Every import counts, those inside functions included; importing ``a.b.c`` also imports the packages ``a`` and
``a.b``."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("metrics", "sa_core", "sa_util", "sa_fixtures", "benchmarks", "reports", "tests")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Project module -> the project modules it imports (anywhere in its code)."""
    files = {module_name(f): f for package in PACKAGES for f in (ROOT / package).rglob("*.py")}

    def known(name: str) -> str | None:  # "metrics.files.audio.load_mono" -> "metrics.files.audio"
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        names: list[str] = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package, one level up per extra dot
                    parents = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(parents + ([base] if base else []))
                names += [base] + [f"{base}.{alias.name}" for alias in node.names]
        targets = {t for t in map(known, names) if t and t != module}
        packages = {".".join(t.split(".")[:i]) for t in targets for i in range(1, t.count(".") + 1)}
        graph[module] = targets | {p for p in packages if p in files and p != module and not module.startswith(p + ".")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search)."""
    state: dict[str, str] = {}  # module -> "open" while on the path, "done" after
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[module] = "done"
        path.pop()
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_layers():
    graph = import_graph()
    below = {"sa_core": ("metrics", "benchmarks", "reports", "sa_fixtures"),
             "sa_util": ("metrics", "sa_core", "sa_fixtures", "benchmarks", "reports", "tests")}
    wrong = sorted(f"{module} -> {target}" for module, targets in graph.items() for target in targets
                   for layer, forbidden in below.items()
                   if module.split(".")[0] == layer and target.split(".")[0] in forbidden)
    assert not wrong, "imports against the layers: " + ", ".join(wrong)


# metrics' folders, lowest first: a module imports from its own folder and the folders before it only (the package's
# top level, the command line and the run, comes last)
METRICS_LAYERS = {"metrics.files": 0, "metrics.scores": 0, "metrics.embedding": 1, "metrics.comparison": 2}


def metrics_layer(module: str) -> int | None:
    if module.split(".")[0] != "metrics":
        return None
    return METRICS_LAYERS.get(".".join(module.split(".")[:2]), len(METRICS_LAYERS))


def test_metrics_folders_are_layers():
    graph = import_graph()
    wrong = sorted(f"{module} -> {target}" for module, targets in graph.items() for target in targets
                   if target != "metrics" and (a := metrics_layer(module)) is not None
                   and (b := metrics_layer(target)) is not None
                   and (b > a or (a == b == 0 and module.split(".")[1] != target.split(".")[1])))
    assert not wrong, "imports against metrics' layers: " + ", ".join(wrong)
