"""The import contract: layers point one way, modules form no cycle, bench/ stays out of tests/.

Layers, bottom to top: core (`fieldrelay`, except the program), `recordings`, `relay`,
`signaling`, and the program (`fieldrelay.program`, `fieldrelay.__main__`). A module may import
its own layer and the ones below. Every import counts wherever it is written: at module level,
inside a function, under `if TYPE_CHECKING:`, relative or absolute, and `importlib.import_module`
or `__import__` with a literal name. Read with `ast`, so nothing is imported to check it.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("fieldrelay", "recordings", "relay", "signaling", "portal")
# The portal stands beside the node's layers, on core alone: its place in this order only
# lets it import core; `portal_imports` keeps the node's layers from importing it.
LAYERS = ("core", "portal", "recordings", "relay", "signaling", "program")
PROGRAM = ("fieldrelay.program", "fieldrelay.__main__")
PACKAGE_LAYER = {"fieldrelay": "core", "recordings": "recordings", "relay": "relay",
                 "signaling": "signaling", "portal": "portal"}
# Of the node's layers, only the program may import the portal (to run one beside a node).
PORTAL_IMPORTERS = ("program", "portal")
# Production code never imports the test suite or the benchmarks: above every layer.
OUTSIDE = ("tests", "bench")
DYNAMIC_IMPORTS = {"import_module", "__import__"}


@dataclass(frozen=True)
class Import:
    """One import statement's target, resolved to a module of the tree where it names one."""

    source: str
    target: str
    path: Path
    line: int

    def where(self, root: Path) -> str:
        return f"{self.path.relative_to(root)}:{self.line}"


def module_name(root: Path, path: Path) -> str:
    """`recordings/index.py` -> `recordings.index`; a package's __init__ is the package."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules_of(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Every module of these packages (folders) under root, by dotted name."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            if "__pycache__" not in path.parts:
                found[module_name(root, path)] = path
    return found


def _resolve(name: str, known: set[str]) -> str:
    """The longest prefix of a dotted name that is a module of the tree, else the name."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in known:
            return ".".join(parts[:end])
    return name


def _from_base(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module a `from X import ...` reads from (relative levels resolved)."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _targets(node: ast.AST, module: str, is_package: bool, known: set[str]) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield _resolve(alias.name, known)
    elif isinstance(node, ast.ImportFrom):
        base = _from_base(node, module, is_package)
        for alias in node.names:
            # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod.
            full = f"{base}.{alias.name}" if base else alias.name
            yield full if full in known else _resolve(base, known)
    elif isinstance(node, ast.Call) and node.args:
        func, arg = node.func, node.args[0]
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name in DYNAMIC_IMPORTS and isinstance(arg, ast.Constant) and isinstance(arg.value,
                                                                                     str):
            yield _resolve(arg.value, known)


def imports_of(root: Path, path: Path, known: set[str]) -> list[Import]:
    """Every import in one file, at any depth of its syntax tree."""
    module = module_name(root, path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [Import(module, target, path, getattr(node, "lineno", 0))
            for node in ast.walk(tree)
            for target in dict.fromkeys(_targets(node, module, is_package, known))]


def all_imports(root: Path, packages: tuple[str, ...] = PACKAGES) -> list[Import]:
    """The imports of every module of these packages under root."""
    modules = modules_of(root, packages)
    known = set(modules)
    return [imp for path in modules.values() for imp in imports_of(root, path, known)]


def layer_of(module: str) -> int | None:
    """The layer index of a module of the tree; None for the standard library and others."""
    if any(module == p or module.startswith(p + ".") for p in PROGRAM):
        return LAYERS.index("program")
    top = module.split(".")[0]
    if top in OUTSIDE:
        return len(LAYERS)
    layer = PACKAGE_LAYER.get(top)
    return None if layer is None else LAYERS.index(layer)


def _layer_name(index: int) -> str:
    return LAYERS[index] if index < len(LAYERS) else "tests/bench"


def upward_imports(root: Path, packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """`file:line: a (layer) imports b (higher layer)` for each import that points up."""
    found = []
    for imp in all_imports(root, packages):
        src, dst = layer_of(imp.source), layer_of(imp.target)
        if src is not None and dst is not None and dst > src:
            found.append(f"{imp.where(root)}: {imp.source} ({_layer_name(src)}) imports "
                         f"{imp.target} ({_layer_name(dst)}), a layer above it")
    return found


def portal_imports(root: Path, packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """`file:line: ...` for each import of the portal from a node layer below the program."""
    found = []
    for imp in all_imports(root, packages):
        src, dst = layer_of(imp.source), layer_of(imp.target)
        if dst == LAYERS.index("portal") and src is not None and src < len(LAYERS) and (
                _layer_name(src) not in PORTAL_IMPORTERS):
            found.append(f"{imp.where(root)}: {imp.source} ({_layer_name(src)}) imports "
                         f"{imp.target}: the portal is for the program alone")
    return found


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components of more than one module, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _cycle_through(start: str, members: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest path start -> ... -> start inside one component (breadth first)."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & members):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if nxt not in previous:
                    previous[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"{start} is in a component but on no cycle")


def import_cycles(root: Path, packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """One line per cycle between modules, each step with the file:line of its import."""
    imports = all_imports(root, packages)
    known = set(modules_of(root, packages))
    graph: dict[str, set[str]] = {m: set() for m in known}
    first: dict[tuple[str, str], Import] = {}
    for imp in imports:
        if imp.target in known and imp.target != imp.source:
            graph[imp.source].add(imp.target)
            first.setdefault((imp.source, imp.target), imp)
    found = []
    for component in _strongly_connected(graph):
        cycle = _cycle_through(component[0], set(component), graph)
        steps = [f"{a} -> {b} ({first[a, b].where(root)})" for a, b in itertools.pairwise(cycle)]
        found.append(f"cycle among {', '.join(component)}: " + "; ".join(steps))
    return found


def bench_imports_of_tests(root: Path) -> list[str]:
    """`file:line: ...` for each import in bench/ of tests/ (as a package or by bare name after
    a sys.path change)."""
    bench = root / "bench"
    if not bench.is_dir():
        return []
    bench_names = {p.stem for p in bench.rglob("*.py")}
    test_files = {p.stem for p in (root / "tests").glob("*.py")} - {"__init__"}
    bare = test_files - bench_names - set(PACKAGES)
    test_modules = set(modules_of(root, ("tests",)))
    found = []
    for path in sorted(bench.rglob("*.py")):
        for imp in imports_of(root, path, test_modules):
            top = imp.target.split(".")[0]
            if top == "tests" or imp.target in bare:
                found.append(f"{imp.where(root)}: {imp.source} imports {imp.target} from tests/")
    return found


def function_level_imports(root: Path, packages: tuple[str, ...]) -> list[str]:
    """`file:line` of each import written inside a function of these packages."""
    found = []
    for path in modules_of(root, packages).values():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for func in ast.walk(tree):
            if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                found += [f"{path.relative_to(root)}:{node.lineno}" for node in ast.walk(func)
                          if isinstance(node, ast.Import | ast.ImportFrom)]
    return sorted(set(found))


# --- the contract on this repository ---------------------------------------------------------

def test_the_walk_sees_every_package_and_its_imports() -> None:
    modules = modules_of(REPO, PACKAGES)
    imports = all_imports(REPO)
    for package in PACKAGES:
        assert any(m.startswith(package + ".") for m in modules), package
        assert any(i.source.startswith(package + ".") and layer_of(i.target) is not None
                   for i in imports), f"no import of the tree seen in {package}/"
    assert any(layer_of(i.source) == LAYERS.index("program") for i in imports)


def test_no_import_points_up_a_layer() -> None:
    found = upward_imports(REPO)
    assert not found, "imports that point up a layer:\n" + "\n".join(found)


def test_only_the_program_imports_the_portal() -> None:
    found = portal_imports(REPO)
    assert not found, "imports of the portal:\n" + "\n".join(found)


def test_the_portal_is_caught_reaching_into_the_node(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "portal/app.py": "from fieldrelay.config import Config\nfrom recordings import ledger\n",
        "recordings/ledger.py": "",
        "signaling/app.py": "from portal import app\n",
        "fieldrelay/program/__init__.py": "",
        "fieldrelay/program/cli.py": "from portal.app import build\n",
    })
    assert [line.split(": ")[0] for line in upward_imports(root)] == ["portal/app.py:2"]
    assert [line.split(": ")[0] for line in portal_imports(root)] == ["signaling/app.py:1"]


def test_no_cycle_between_modules() -> None:
    found = import_cycles(REPO)
    assert not found, "import cycles (function-level imports included):\n" + "\n".join(found)


def test_the_program_imports_at_module_top() -> None:
    # The program imports every layer; a reader sees all of that at the top of each module.
    found = function_level_imports(REPO, ("fieldrelay/program",))
    assert not found, "imports inside functions of the program:\n" + "\n".join(found)


def test_bench_does_not_import_tests() -> None:
    found = bench_imports_of_tests(REPO)
    assert not found, "bench/ imports from tests/:\n" + "\n".join(found)


# --- the checker itself, against trees made to break it ---------------------------------------

def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for package in PACKAGES:
        (root / package).mkdir(exist_ok=True)
        (root / package / "__init__.py").touch()
    return root


def test_a_clean_tree_passes(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "fieldrelay/config.py": "import os\nfrom fieldrelay import errors\n",
        "fieldrelay/errors.py": "",
        "recordings/ledger.py": "from fieldrelay.config import X\nfrom . import store\n",
        "recordings/store.py": "import json\n",
        "relay/stream.py": "from recordings import ledger\n",
        "signaling/app.py": "import relay.stream\nfrom recordings.store import S\n",
        "fieldrelay/program/__init__.py": "",
        "fieldrelay/program/cli.py": "from signaling.app import build_app\n",
        "fieldrelay/__main__.py": "from fieldrelay.program.cli import main\n",
        "bench/run.py": "import relay.stream\nimport common\n",
        "bench/common.py": "",
        "tests/conftest.py": "",
    })
    assert upward_imports(root) == []
    assert import_cycles(root) == []
    assert bench_imports_of_tests(root) == []


def test_upward_imports_are_found_wherever_they_hide(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "fieldrelay/cli.py": "import os\n\n\ndef serve():\n    from signaling.app import build\n",
        "fieldrelay/hidden.py": "import importlib\nimportlib.import_module('relay.stream')\n",
        "fieldrelay/rel.py": "from .program import cli\n",
        "fieldrelay/program/__init__.py": "",
        "fieldrelay/program/cli.py": "",
        "recordings/typed.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                "    from relay.stream import Stream\n"),
        "relay/stream.py": "class Stream: ...\n",
        "relay/probe.py": "def f():\n    import tests.conftest\n",
        "signaling/app.py": "def build(): ...\n",
    })
    found = upward_imports(root)
    assert [line.split(": ")[0] for line in found] == [
        "fieldrelay/cli.py:5", "fieldrelay/hidden.py:2", "fieldrelay/rel.py:1",
        "recordings/typed.py:3", "relay/probe.py:2"], found
    assert "fieldrelay.cli (core) imports signaling.app (signaling)" in found[0]
    assert "fieldrelay.program.cli (program)" in found[2]
    assert function_level_imports(root, ("fieldrelay", "relay")) == [
        "fieldrelay/cli.py:5", "relay/probe.py:2"]


def test_a_cycle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "recordings/index.py": "from recordings.retention import holds\n",
        "recordings/retention.py": "def run():\n    from recordings import index\n",
        "recordings/ledger.py": "from recordings import index\n",  # leads in, not a cycle
    })
    [cycle] = import_cycles(root)
    assert cycle.startswith("cycle among recordings.index, recordings.retention: ")
    assert "recordings.index -> recordings.retention (recordings/index.py:1)" in cycle
    assert "recordings.retention -> recordings.index (recordings/retention.py:2)" in cycle
    assert "ledger" not in cycle


def test_a_longer_cycle_with_relative_imports_is_found(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "signaling/a.py": "from . import b\n",
        "signaling/b.py": "from .c import X\n",
        "signaling/c.py": "def f():\n    from .a import Y\n",
    })
    [cycle] = import_cycles(root)
    assert ("signaling.a -> signaling.b (signaling/a.py:1); signaling.b -> signaling.c "
            "(signaling/b.py:1); signaling.c -> signaling.a (signaling/c.py:2)") in cycle


def test_bench_importing_tests_is_found(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "tests/__init__.py": "",
        "tests/conftest.py": "",
        "tests/hostile.py": "",
        "bench/fuzz.py": ("import sys\nfrom tests.conftest import free_port\n\n\n"
                          "def main():\n    import hostile\n"),
        "bench/ok.py": "import relay\nimport fuzz\n",
    })
    assert [line.split(": ")[0] for line in bench_imports_of_tests(root)] == [
        "bench/fuzz.py:2", "bench/fuzz.py:6"]
