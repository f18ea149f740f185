"""The house's rules, read from the source (ast, no imports): who may import whom, where Qt widgets may live,
and how long a module or a function may grow.

- engine imports neither instrument nor gui; instrument never imports gui (not even inside a function).
- Qt widgets (PySide6.QtWidgets, PySide6.QtGui) and pyqtgraph are imported in gui/ only.
- No module over MODULE_LINES_MAX lines in engine/ or instrument/ unless its docstring says "Long because";
  no function over FUNCTION_LINES_MAX lines (def line to last line).

`python tests/test_architecture.py` prints every offender of the size rules.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "instrument", "gui")
# package -> the first-party packages it must never import (not even lazily)
FORBIDDEN = {"engine": ("instrument", "gui"), "instrument": ("gui",), "gui": ()}
QT_WIDGET_MODULES = ("PySide6.QtWidgets", "PySide6.QtGui", "pyqtgraph")  # gui/ only
MODULE_LINES_MAX = 500
FUNCTION_LINES_MAX = 50
LONG_MODULE_EXCUSE = "Long because"


@dataclass(frozen=True)
class Import:
    path: Path  # the importing file, relative to ROOT
    line: int
    module: str  # the imported module's full dotted name (for `from a import b`: a.b when b may be a module)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: imports {self.module}"


def python_files(package: str) -> list[Path]:
    return sorted(path for path in (ROOT / package).rglob("*.py") if "__pycache__" not in path.parts)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(path: Path, node: ast.ImportFrom) -> str:
    """The absolute module of a `from ... import` (relative imports resolved against the file's package)."""
    if not node.level:
        return node.module or ""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    base = package[:len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _dynamic_import(node: ast.Call) -> str | None:
    """The module of `importlib.import_module("x")` or `__import__("x")` with a literal name."""
    function = node.func
    name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", None)
    if name in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant) \
            and isinstance(node.args[0].value, str):
        return node.args[0].value
    return None


def imports_of(path: Path) -> Iterator[Import]:
    """Every import in the file, at any depth (module level, functions, methods, `if TYPE_CHECKING:` blocks)."""
    relative = path.relative_to(ROOT)
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(relative, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(path, node)
            yield Import(relative, node.lineno, base)
            for alias in node.names:  # `from PySide6 import QtWidgets`, `from gui import app`
                yield Import(relative, node.lineno, f"{base}.{alias.name}")
        elif isinstance(node, ast.Call) and (module := _dynamic_import(node)) is not None:
            yield Import(relative, node.lineno, module)


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def all_imports() -> dict[str, list[Import]]:
    return {package: [found for path in python_files(package) for found in imports_of(path)] for package in PACKAGES}


def test_the_walker_sees_lazy_and_relative_imports() -> None:
    """The rules are only as good as the walk: imports inside functions and relative ones are found."""
    found = {item.module for item in imports_of(ROOT / "instrument" / "commands" / "play.py")}
    assert {"argparse", "instrument.live_setup", "instrument.curves.CurvePlayer", "instrument.session.status_json"} <= found
    relative = ast.parse("from .commands import play").body[0]
    assert isinstance(relative, ast.ImportFrom)
    assert _resolve(ROOT / "instrument" / "cli.py", relative) == "instrument.commands"
    assert _resolve(ROOT / "instrument" / "controller" / "__init__.py", relative) == "instrument.controller.commands"


def test_no_upward_import() -> None:
    """engine -> instrument|gui and instrument -> gui are refused, lazy imports included (no import circle)."""
    upward = [str(found) for package, found_imports in all_imports().items() for found in found_imports
              if any(_within(found.module, forbidden) for forbidden in FORBIDDEN[package])]
    assert upward == [], "upward imports:\n" + "\n".join(upward)


def test_no_qt_widgets_outside_gui() -> None:
    outside = [str(found) for package, found_imports in all_imports().items() if package != "gui"
               for found in found_imports if any(_within(found.module, qt) for qt in QT_WIDGET_MODULES)]
    assert outside == [], "Qt widget imports outside gui/:\n" + "\n".join(outside)


def test_no_qt_at_all_outside_gui() -> None:
    """Not even QtCore: engine/ and instrument/ run headless (`cascade play`, the output process) without it."""
    outside = [str(found) for package, found_imports in all_imports().items() if package != "gui"
               for found in found_imports if _within(found.module, "PySide6") or _within(found.module, "shiboken6")]
    assert outside == [], "Qt imports outside gui/:\n" + "\n".join(outside)


def _function_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    return (node.end_lineno or node.lineno) - node.lineno + 1


def size_offenders() -> list[str]:
    """Modules over MODULE_LINES_MAX lines in engine/ and instrument/ without a "Long because" docstring, and
    functions over FUNCTION_LINES_MAX lines anywhere in engine/, instrument/ and gui/."""
    offenders = []
    for package in PACKAGES:
        for path in python_files(package):
            source = path.read_text()
            tree = ast.parse(source, filename=str(path))
            relative = path.relative_to(ROOT)
            lines = len(source.splitlines())
            excused = LONG_MODULE_EXCUSE in (ast.get_docstring(tree) or "")
            if package != "gui" and lines > MODULE_LINES_MAX and not excused:
                offenders.append(f"{relative}: module of {lines} lines")
            offenders += [f"{relative}:{node.lineno}: {node.name}() of {_function_lines(node)} lines"
                          for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                          and _function_lines(node) > FUNCTION_LINES_MAX]
    return offenders


def part_of(module: str) -> str | None:
    """The part of the house a first-party module belongs to: `engine.codec` for engine/codec/phase.py,
    `engine.generate` for engine/generate.py, `gui.app` for gui/app.py (None outside engine/instrument/gui)."""
    parts = module.split(".")
    if parts[0] not in PACKAGES:
        return None
    if len(parts) == 1:
        return parts[0]
    here = ROOT / parts[0] / parts[1]
    return ".".join(parts[:2]) if here.is_dir() or here.with_suffix(".py").exists() else parts[0]


def part_graph() -> dict[str, set[str]]:
    """part -> the other parts it imports (lazy imports included)."""
    graph: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in python_files(package):
            source = part_of(module_name(path))
            if source is None or source in PACKAGES:  # a package's own __init__ re-exports its parts
                continue
            targets = graph.setdefault(source, set())
            for found in imports_of(path):
                target = part_of(found.module)
                if target not in (None, source) and target not in PACKAGES:
                    targets.add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle among the parts, as the list of parts around it, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target, path + [target])) is not None:
                return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])) is not None:
            return cycle
    return None


def test_no_import_circle_between_the_parts_of_the_house() -> None:
    """engine.codec, engine.stream, instrument.session, gui.app, ... import one another in one direction only."""
    assert find_cycle(part_graph()) is None, " -> ".join(find_cycle(part_graph()) or [])


def test_the_circle_finder_finds_a_circle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def part_path(part: str) -> str:
    """`engine.codec` -> "engine/codec/", `engine.generate` -> "engine/generate.py"."""
    package, name = part.split(".")
    return f"{package}/{name}/" if (ROOT / package / name).is_dir() else f"{package}/{name}.py"


def test_docs_architecture_names_every_part_and_no_gone_one() -> None:
    """docs/architecture.md draws the house as it is: every part (package folder or top-level module) of
    engine/, instrument/ and gui/ is named there by its path, and every such path it names exists."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    parts = {part for package in PACKAGES for path in python_files(package)
             if (part := part_of(module_name(path))) is not None and part not in PACKAGES}
    missing = sorted(part_path(part) for part in parts if part_path(part) not in text)
    named = set(re.findall(r"\b((?:engine|instrument|gui)/[\w/]*\w(?:\.py|/))", text))
    gone = sorted(path for path in named if not (ROOT / path).exists())
    assert not missing and not gone, f"not named: {missing}; named but gone: {gone}"


def test_modules_and_functions_stay_short() -> None:
    offenders = size_offenders()
    print("\n".join(["too long:", *offenders]) if offenders else "nothing too long")
    assert offenders == [], "too long (split it by job, or say why in the module docstring):\n" + "\n".join(offenders)


if __name__ == "__main__":
    print("\n".join(size_offenders()) or "nothing too long")
