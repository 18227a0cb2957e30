"""The package's layers: no import circle between files or subpackages, and no import of a higher layer.

Parses every module under `cotexit/` with `ast` (nothing is imported or run)
and builds the import graph: every import, those inside functions included;
only imports under `if TYPE_CHECKING:` are left out. `from a.b import c` is an
edge to the module `a.b.c` when that module exists, else to `a.b`; relative
imports are resolved against the importing file. A subpackage is the first
component under `cotexit/` (`cotexit/version.py` is its own, the root
`cotexit/__init__.py` is `cotexit`). `LAYERS` lists them lowest first: a
module may import its own layer's subpackages and lower ones, never a higher
one. Failures name the offending import as `cotexit/x/y.py:LINE imports
cotexit.z.w`, and for a circle every import on it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "cotexit"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("version", "jsonlines", "shipped", "files", "hub", "vllm_plugin"),
    ("benchmarks", "calibration"),  # leaves: suites, extraction, grading; pure statistics
    ("models", "certificates"),
    ("controller",),
    ("probes", "baselines"),
    ("engines",),
    ("depth",),
    ("experiments", "toy"),
    ("api",),  # the Python face: Engine, Exits, collect, calibrate_probe
    ("cli",),
    ("cotexit",),  # the root __init__: the public face, above everything
)


@dataclass(frozen=True, order=True)
class Edge:
    """One import statement: `source` (a module) imports `target` (a module) at `path:line`."""

    path: str
    line: int
    source: str
    target: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.target}"


def package_of(module: str) -> str:
    """The subpackage a dotted module belongs to: `cotexit.models.loading` -> `models`, `cotexit` -> `cotexit`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


# --- reading the graph -------------------------------------------------------------------------


def find_modules(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every `.py` under `root/package` (a package is its `__init__.py`)."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement below `node`, skipping the bodies of `if TYPE_CHECKING:`."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                if isinstance(other, (ast.Import, ast.ImportFrom)):
                    yield other
                else:
                    yield from _imports(other)
        else:
            yield from _imports(child)


def _known_prefix(name: str, modules: dict[str, Path]) -> str | None:
    """The longest dotted prefix of `name` that is a module here (`a.b.Thing` -> `a.b`)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def module_edges(module: str, path: Path, modules: dict[str, Path], root: Path = ROOT) -> list[Edge]:
    """The imports of one file, as edges to modules of the package (outside imports are dropped)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = module if path.name == "__init__.py" else module.rpartition(".")[0]
    rel = path.relative_to(root).as_posix()
    edges = []
    for node in _imports(tree):
        targets: list[str | None] = []
        if isinstance(node, ast.Import):
            targets = [_known_prefix(alias.name, modules) for alias in node.names]
        else:
            if node.level:
                base = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            for alias in node.names:
                submodule = f"{origin}.{alias.name}"
                targets.append(submodule if submodule in modules else _known_prefix(origin, modules))
        for target in targets:
            if target is not None and target != module:
                edges.append(Edge(rel, node.lineno, module, target))
    return sorted(set(edges))


def import_graph(root: Path = ROOT, package: str = PACKAGE) -> list[Edge]:
    modules = find_modules(root, package)
    return [edge for module, path in modules.items() for edge in module_edges(module, path, modules, root)]


# --- checking it -------------------------------------------------------------------------------


def _components(nodes: Iterable[str], succ: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out = []
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(succ.get(start, ())))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(succ.get(child, ()))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return out


def _cycle_through(start: str, members: set[str], first: dict[tuple[str, str], Edge]) -> list[Edge]:
    """A shortest circle from `start` back to itself inside one component, as the edges that make it."""
    succ: dict[str, list[str]] = {}
    for a, b in sorted(first):
        if a in members and b in members:
            succ.setdefault(a, []).append(b)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in succ.get(node, ()):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    nodes = path[::-1] + [start]
                    return [first[(a, b)] for a, b in zip(nodes, nodes[1:])]
                if nxt not in came_from:
                    came_from[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"{start} is on no circle within {sorted(members)}")


def find_circles(edges: Iterable[Edge], node=lambda module: module) -> list[list[Edge]]:
    """One circle per strongly connected component of the graph of `node(source) -> node(target)`.

    Each circle is the list of its edges (the first import found for each pair of nodes), the last one closing it.
    """
    first: dict[tuple[str, str], Edge] = {}
    for edge in sorted(edges):
        pair = (node(edge.source), node(edge.target))
        if pair[0] != pair[1]:
            first.setdefault(pair, edge)
    succ: dict[str, list[str]] = {}
    for a, b in sorted(first):
        succ.setdefault(a, []).append(b)
    return [_cycle_through(component[0], set(component), first) for component in _components(sorted(succ), succ)]


def describe_circle(circle: Sequence[Edge], node=lambda module: module) -> str:
    names = [node(circle[0].source)] + [node(edge.target) for edge in circle]
    lines = [" -> ".join(names)] + [f"    {edge}" for edge in circle[:-1]]
    lines.append(f"  closed by {circle[-1]}")
    return "\n".join(lines)


def layer_violations(edges: Iterable[Edge], layers: Sequence[Sequence[str]] = LAYERS) -> list[str]:
    """A message per import of a subpackage from a lower layer than its own, and per subpackage not in `layers`."""
    rank = {name: i for i, layer in enumerate(layers) for name in layer}
    problems = []
    for edge in sorted(edges):
        low, high = package_of(edge.source), package_of(edge.target)
        for name in (low, high):
            if name not in rank:
                problems.append(f"{edge}: subpackage {name!r} is not in LAYERS; add it to its layer")
        if low in rank and high in rank and rank[low] < rank[high]:
            problems.append(f"{edge}: {low} (layer {rank[low] + 1}) may not import {high} (layer {rank[high] + 1})")
    return sorted(set(problems))


# --- the package -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph() -> list[Edge]:
    return import_graph()


def test_the_graph_is_read(graph):
    assert any(e.source == "cotexit.cli.main" and package_of(e.target) == "cli" for e in graph)


def test_no_circle_between_files(graph):
    circles = find_circles(graph)
    assert not circles, "import circles between files:\n" + "\n".join(describe_circle(c) for c in circles)


def test_no_circle_between_subpackages(graph):
    circles = find_circles(graph, node=package_of)
    assert not circles, "import circles between subpackages:\n" + "\n".join(
        describe_circle(c, node=package_of) for c in circles
    )


def test_no_subpackage_imports_a_higher_layer(graph):
    problems = layer_violations(graph)
    assert not problems, "imports against the layer order:\n" + "\n".join(problems)


def test_every_subpackage_has_a_layer():
    names = {package_of(m) for m in find_modules()}
    declared = {n for layer in LAYERS for n in layer}
    assert names <= declared, f"subpackages missing from LAYERS: {sorted(names - declared)}"


# --- the checker itself ------------------------------------------------------------------------


def _edges(*specs: tuple[str, int, str]) -> list[Edge]:
    return [Edge(source.replace(".", "/") + ".py", line, source, target) for source, line, target in specs]


def test_checker_reports_a_circle_and_the_import_that_closes_it():
    edges = _edges(("cotexit.a", 3, "cotexit.b"), ("cotexit.b", 5, "cotexit.c"), ("cotexit.c", 7, "cotexit.a"), ("cotexit.c", 9, "cotexit.d"))
    circles = find_circles(edges)
    assert len(circles) == 1
    text = describe_circle(circles[0])
    assert text.splitlines()[0] == "cotexit.a -> cotexit.b -> cotexit.c -> cotexit.a"
    assert "cotexit/a.py:3 imports cotexit.b" in text
    assert "closed by cotexit/c.py:7 imports cotexit.a" in text


def test_checker_reports_a_circle_between_subpackages():
    edges = _edges(("cotexit.x.one", 2, "cotexit.y.two"), ("cotexit.y.three", 4, "cotexit.x.four"))
    assert find_circles(edges) == []  # no circle between these files
    circles = find_circles(edges, node=package_of)
    assert len(circles) == 1
    text = describe_circle(circles[0], node=package_of)
    assert text.splitlines()[0] == "x -> y -> x"
    assert "closed by cotexit/y/three.py:4 imports cotexit.x.four" in text


def test_checker_reports_an_import_of_a_higher_layer():
    edges = _edges(("cotexit.low.a", 12, "cotexit.high.b"), ("cotexit.high.c", 1, "cotexit.low.d"), ("cotexit.new.e", 3, "cotexit.low.d"))
    problems = layer_violations(edges, layers=(("low",), ("high",)))
    assert "cotexit/low/a.py:12 imports cotexit.high.b: low (layer 1) may not import high (layer 2)" in problems
    assert any("'new' is not in LAYERS" in p for p in problems)
    assert len(problems) == 2


def test_reader_resolves_submodules_relative_imports_and_skips_type_checking(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from pkg.sub.leaf import thing\n")
    (pkg / "sub" / "leaf.py").write_text("thing = 1\n")
    (pkg / "other.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from pkg.sub import leaf\n"  # a submodule: an edge to it, not to the package
        "from .sub import thing\n"  # a name: an edge to the package
        "if TYPE_CHECKING:\n"
        "    import pkg.late\n"
        "def f():\n"
        "    import pkg.sub.leaf\n"
    )
    (pkg / "late.py").write_text("")
    edges = import_graph(tmp_path, "pkg")
    assert sorted((str(e), e.source) for e in edges) == [
        ("pkg/other.py:2 imports pkg.sub.leaf", "pkg.other"),
        ("pkg/other.py:3 imports pkg.sub", "pkg.other"),
        ("pkg/other.py:7 imports pkg.sub.leaf", "pkg.other"),
        ("pkg/sub/__init__.py:1 imports pkg.sub.leaf", "pkg.sub"),
    ]
