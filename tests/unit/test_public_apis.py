"""distweb reaches other packages through their public doors only: no private (leading
underscore) name of another package is imported or used, and no library class or module is
patched. A library upgrade may change its internals at any time; it keeps its public API.

Read from the source (ast), so the rule holds for code no test happens to run:
- ``from pkg import _name``, ``import pkg._mod``, ``from pkg._mod import x``: a private name
  of a package that is not ours;
- ``obj._name`` or ``getattr(obj, "_name")`` where ``_name`` is defined nowhere in our code:
  an attribute we did not make is someone else's internal;
- ``lib.attr = …``, ``setattr(lib, …)`` or ``del lib.attr`` on a name imported from another
  package (outside tests): patching a library.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OURS = ("distweb", "worker", "tests", "bench")
APP_CODE = [ROOT / "distweb", ROOT / "worker", ROOT / "bench", ROOT / "wsgi.py"]
ALL_CODE = [*APP_CODE, ROOT / "tests"]


def _files(roots) -> list[Path]:
    files = []
    for root in roots:
        files.extend([root] if root.is_file() else sorted(root.rglob("*.py")))
    return [f for f in files if "migrations" not in f.parts or f.name != "env.py"]


# Public by their libraries' documentation despite the underscore, which keeps them clear of
# field names: named tuples' methods, and SQLAlchemy's Row (documented as named-tuple-like).
DOCUMENTED_PUBLIC = frozenset({"_mapping", "_asdict", "_fields", "_replace", "_make", "_tuple", "_t"})


def _private(name: str) -> bool:
    return (name.startswith("_") and not (name.startswith("__") and name.endswith("__"))
            and name not in DOCUMENTED_PUBLIC)


def _ours(module: str | None, level: int = 0) -> bool:
    return level > 0 or (module or "").split(".")[0] in OURS


def _trees(roots) -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(encoding="utf-8"), str(path)) for path in _files(roots)}


def _defined_names(trees) -> set[str]:
    """Every name our code defines: functions, classes, arguments, assigned names and
    attributes, __slots__ entries, keyword arguments to our own calls, dict keys."""
    names: set[str] = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.alias):
                names.add(node.asname or node.name.split(".")[0])
            elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__slots__"
                                                      for t in node.targets):
                names.update(c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant))
            elif isinstance(node, ast.Call) and _is_setattr(node.func) and len(node.args) >= 2 \
                    and isinstance(node.args[1], ast.Constant):
                names.add(node.args[1].value)
    return names


def _is_setattr(func) -> bool:
    return (isinstance(func, ast.Name) and func.id in ("setattr", "set_")) or (
        isinstance(func, ast.Attribute) and func.attr == "__setattr__")


# Flask's per-request objects: setting attributes on them is what they are for (g.brand,
# session.permanent, request.max_content_length are documented), not a patch of Flask.
REQUEST_OBJECTS = {("flask", "g"), ("flask", "session"), ("flask", "request")}


def _third_party_bindings(tree: ast.Module) -> set[str]:
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not _ours(alias.name):
                    bound.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and not _ours(node.module, node.level):
            for alias in node.names:
                if (node.module, alias.name) not in REQUEST_OBJECTS:
                    bound.add(alias.asname or alias.name)
    return bound


def _root_name(node) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _private_name_findings(trees) -> list[str]:
    ours = _defined_names(trees)
    found = []
    for path, tree in trees.items():
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if not _ours(alias.name) and any(_private(part) for part in alias.name.split(".")):
                        found.append(f"{where}:{node.lineno}: import {alias.name}")
            elif isinstance(node, ast.ImportFrom) and not _ours(node.module, node.level):
                if node.module != "__future__" and any(_private(p) for p in (node.module or "").split(".")):
                    found.append(f"{where}:{node.lineno}: from {node.module} import …")
                for alias in node.names:
                    if _private(alias.name):
                        found.append(f"{where}:{node.lineno}: from {node.module} import {alias.name}")
            elif isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in ours:
                found.append(f"{where}:{node.lineno}: .{node.attr}")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id in ("getattr", "setattr", "hasattr", "delattr") and len(node.args) >= 2
                  and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
                  and _private(node.args[1].value) and node.args[1].value not in ours):
                found.append(f"{where}:{node.lineno}: {node.func.id}(…, {node.args[1].value!r})")
    return found


def _patch_findings(trees) -> list[str]:
    found = []
    for path, tree in trees.items():
        where = path.relative_to(ROOT)
        libraries = _third_party_bindings(tree)
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            elif isinstance(node, ast.Delete):
                targets = node.targets
            flat = []
            for target in targets:
                flat.extend(target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target])
            for target in flat:
                if isinstance(target, ast.Attribute) and _root_name(target) in libraries:
                    found.append(f"{where}:{node.lineno}: assigns {ast.unparse(target)}")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("setattr", "delattr") and node.args
                    and _root_name(node.args[0]) in libraries):
                found.append(f"{where}:{node.lineno}: {node.func.id}({ast.unparse(node.args[0])}, …)")
    return found


def test_no_private_name_of_another_package_is_imported_or_used():
    assert _private_name_findings(_trees(ALL_CODE)) == []


def test_no_library_module_or_class_is_patched():
    assert _patch_findings(_trees(APP_CODE)) == []


def test_the_checks_see_what_they_are_for(tmp_path):
    """The rules catch the forms of private use and patching that distweb once had."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from flask.globals import _cv_request\n"
        "from psycopg._queries import PostgresQuery\n"
        "import jinja2\n"
        "from jinja2.runtime import Context\n"
        "def f(compiled, g):\n"
        "    compiled._result_columns\n"
        "    getattr(g, '_flask_babel', None)\n"
        "    self._mine = 1\n"
        "    return self._mine\n"
        "jinja2.Environment.code_generator_class = object\n"
        "Context.call = f\n"
        "setattr(jinja2, 'x', 1)\n",
        encoding="utf-8")
    trees = {ROOT / "sample.py": ast.parse(sample.read_text(encoding="utf-8"))}
    private = _private_name_findings(trees)
    assert [f.split(": ", 1)[1] for f in private] == [
        "from flask.globals import _cv_request", "from psycopg._queries import …", "._result_columns",
        "getattr(…, '_flask_babel')"]
    patches = _patch_findings(trees)
    assert [f.split(": ", 1)[1] for f in patches] == [
        "assigns jinja2.Environment.code_generator_class", "assigns Context.call", "setattr(jinja2, …)"]
