"""The bundle's standalone `verify.py`: this package's checking modules joined into one file.

A court's clerk gets one file to read and run with only Python and `cryptography`; the
project keeps the same code in short modules. Joining drops each module's docstring and its
imports from this package, and puts the outside imports (standard library and `cryptography`
only) together at the top. Every top-level name is defined once across the joined modules, so
one namespace holds them all (tests/recordings/test_verify.py checks that).
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = "recordings.verify"
HERE = Path(__file__).resolve().parent
# In dependency order; `script` (the command line) comes last and gives the file its docstring.
PARTS = ("chain", "verdict", "reading", "heads", "folder", "files", "sessions", "materials",
         "datadir",
         "bundle", "modes", "paths", "output", "script")
MAIN = '\n\nif __name__ == "__main__":\n    sys.exit(main())\n'


def part_paths() -> list[Path]:
    """The source files joined into the standalone verifier, in order."""
    return [HERE / f"{name}.py" for name in PARTS]


class _Imports:
    """The outside imports of the joined modules, each once."""

    def __init__(self) -> None:
        self.plain: set[str] = set()
        self.names: dict[str, set[str]] = {}

    def add(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            self.plain.update(_alias(a) for a in node.names)
            return
        module = node.module or ""
        if module == "__future__" or module == PACKAGE or module.startswith(PACKAGE + "."):
            return
        self.names.setdefault(module, set()).update(_alias(a) for a in node.names)

    def text(self) -> str:
        lines = [f"import {name}" for name in sorted(self.plain)]
        for module in sorted(self.names):
            line = f"from {module} import {', '.join(sorted(self.names[module]))}"
            if len(line) > 99:
                inner = "".join(f"    {n},\n" for n in sorted(self.names[module]))
                line = f"from {module} import (\n{inner})"
            lines.append(line)
        return "\n".join(lines)


def _alias(alias: ast.alias) -> str:
    return alias.name if alias.asname is None else f"{alias.name} as {alias.asname}"


def _body(source: str, imports: _Imports) -> tuple[str, str]:
    """(module docstring, the module's code without it and without its imports)."""
    tree = ast.parse(source)
    drop: set[int] = set()
    doc = ast.get_docstring(tree, clean=False) or ""
    for i, node in enumerate(tree.body):
        is_doc = i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        if isinstance(node, ast.Import | ast.ImportFrom):
            imports.add(node)
        elif not is_doc:
            continue
        drop.update(range(node.lineno - 1, node.end_lineno or node.lineno))
    lines = source.splitlines()
    return doc, "\n".join(x for n, x in enumerate(lines) if n not in drop).strip("\n")


@functools.cache
def standalone_source() -> bytes:
    """The text of the bundle's `verify.py` (stdlib and `cryptography` only; runs offline)."""
    imports = _Imports()
    sections, doc = [], ""
    for path in part_paths():
        doc, code = _body(path.read_text(encoding="utf-8"), imports)
        summary = doc.strip().splitlines()[0] if doc.strip() else path.stem
        sections.append(f"# --- {path.stem}: {summary}\n\n{code}")
    head = f'"""{doc}"""\n\nfrom __future__ import annotations\n\n{imports.text()}\n\n\n'
    return (head + "\n\n\n".join(sections) + "\n" + MAIN).encode("utf-8")
