"""Static checks of the source tree with `ast` (no imports of the code checked), each returning
the offences it finds as `path:line: what`, so a test can list them all at once and be tried on a
deliberately bad snippet.

- `tenant_queries`: a query method called on a tenant-owned table class, or SQL text naming a
  tenant-owned table, outside the files allowed to query (repositories, the schema module,
  migrations).
- `plugin_imports`: a plugin importing any part of `salescopilot` but the public contract.
- `controller_table_imports`: an HTTP module (one that declares route handlers) importing tables.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "platform" / "salescopilot"
PLUGINS = ROOT / "plugins"

#: Piccolo query builders a table class offers.
QUERY_METHODS = frozenset(
    {"select", "objects", "update", "delete", "insert", "raw", "count", "exists"}
)
#: Litestar's route decorators: a module using one is an HTTP module.
ROUTE_DECORATORS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "route", "websocket"}
)
OWN_PACKAGES = ("salescopilot", "plugins")


def python_files(*roots: Path) -> list[Path]:
    return sorted(p for root in roots for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def may_query(path: Path) -> bool:
    """Repositories, the schema module and migrations may query tenant-owned tables."""
    parts = path.as_posix()
    return (
        path.name == "repository.py"
        or parts.endswith("salescopilot/db/schema.py")
        or "/migrations/" in parts
    )


def _own_module(module: str | None, level: int) -> bool:
    return level > 0 or (module or "").split(".")[0] in OWN_PACKAGES


def _bound_names(tree: ast.AST, class_names: frozenset[str]) -> set[str]:
    """Local names that refer to one of `class_names` (imported from our packages, or defined)."""
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and _own_module(node.module, node.level):
            bound |= {a.asname or a.name for a in node.names if a.name in class_names}
        elif isinstance(node, ast.ClassDef) and node.name in class_names:
            bound.add(node.name)
    return bound


def _sql_pattern(table_names: Iterable[str]) -> re.Pattern[str]:
    names = "|".join(re.escape(n) for n in sorted(table_names))
    return re.compile(
        rf'\b(?:from|into|update|join|table)\s+"?(?:{names})"?(?![\w])', re.IGNORECASE
    )


def tenant_queries(
    source: str, path: str, class_names: frozenset[str], table_names: frozenset[str]
) -> list[str]:
    """Offences in one file (`path` decides whether it may query at all)."""
    if may_query(Path(path)):
        return []
    tree = ast.parse(source, filename=path)
    bound = _bound_names(tree, class_names)
    sql = _sql_pattern(table_names)
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in QUERY_METHODS
        ):
            receiver = node.func.value
            name = (
                receiver.id
                if isinstance(receiver, ast.Name) and receiver.id in bound
                else receiver.attr
                if isinstance(receiver, ast.Attribute) and receiver.attr in class_names
                else None
            )
            if name is not None:
                found.append(
                    f"{path}:{node.lineno}: {name}.{node.func.attr}(...) outside a repository"
                )
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and sql.search(node.value)
        ):
            text = node.value[:60]
            found.append(
                f"{path}:{node.lineno}: SQL on a tenant-owned table, not in a repository: {text!r}"
            )
    return found


def _imports(tree: ast.AST) -> Iterable[tuple[int, str, list[str], int]]:
    """(line, module, imported names, relative level) of every import."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, [], 0
        elif isinstance(node, ast.ImportFrom):
            yield node.lineno, node.module or "", [a.name for a in node.names], node.level


def _is_submodule(package: str, name: str) -> bool:
    try:
        return importlib.util.find_spec(f"{package}.{name}") is not None
    except (ImportError, ValueError):
        return False


def plugin_imports(source: str, path: str, allowed: frozenset[str]) -> list[str]:
    """Imports of `salescopilot` modules a plugin may not use (anything outside `allowed`:
    tables, repositories, services, the web layer...)."""
    found = []
    for line, module, names, level in _imports(ast.parse(source, filename=path)):
        if level or module.split(".")[0] != "salescopilot":
            continue
        # `from package import submodule` uses the submodule; `from module import name` the module.
        submodules = [f"{module}.{n}" for n in names if _is_submodule(module, n)]
        targets = submodules + ([module] if len(submodules) < len(names) or not names else [])
        for target in targets:
            if target not in allowed:
                kind = (
                    " (tables and repositories are never for plugins)"
                    if target.endswith((".tables", ".repository"))
                    else ""
                )
                found.append(f"{path}:{line}: imports {target}{kind}")
    return found


def declares_routes(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(
            (isinstance(b, ast.Name) and b.id == "Controller")
            or (isinstance(b, ast.Attribute) and b.attr == "Controller")
            for b in node.bases
        ):
            return True
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if isinstance(target, ast.Name) and target.id in ROUTE_DECORATORS:
                    return True
    return False


def controller_table_imports(
    source: str, path: str, table_class_names: frozenset[str]
) -> list[str]:
    """In a module that declares routes: imports of a `tables` module or of a table class (also
    through a package that re-exports one)."""
    tree = ast.parse(source, filename=path)
    if not declares_routes(tree):
        return []
    found = []
    for line, module, names, level in _imports(tree):
        if not (level or module.split(".")[0] in OWN_PACKAGES):
            continue
        if module.split(".")[-1] == "tables" or "tables" in names:
            target = module if module.endswith("tables") else f"{module or '.'}.tables"
            found.append(f"{path}:{line}: an HTTP module imports {target}")
        elif classes := sorted(set(names) & table_class_names):
            found.append(f"{path}:{line}: an HTTP module imports the table(s) {', '.join(classes)}")
    return found
