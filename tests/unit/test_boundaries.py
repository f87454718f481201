"""Layer rules: the planner and its inputs stay pure, so they can be tested without Docker.

A static walk of the import graph (what import-linter does): a pure module may import only
the standard library, marshmallow/yaml for parsing, and other pure modules.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE_MODULES = ["app.reconcile.plan", "app.reconcile.policy", "app.reconcile.actions",
                "app.reconcile.views", "app.engine.observed", "app.status",
                "app.health.assessment", "app.desired_state.loader"]
FORBIDDEN = {"docker", "flask", "flask_smorest", "sqlalchemy", "requests", "apscheduler",
             "alembic"}


def imports_of(module: str) -> set[str]:
    path = ROOT / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = ROOT / module.replace(".", "/") / "__init__.py"
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def reachable(module: str) -> set[str]:
    seen: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo += [name for name in imports_of(current) if name.startswith("app.")]
        seen.update(name for name in imports_of(current) if not name.startswith("app."))
    return seen


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_modules_import_no_io_library(module: str) -> None:
    leaked = {name.split(".")[0] for name in reachable(module)} & FORBIDDEN
    assert not leaked, f"{module} reaches {sorted(leaked)}"


def test_the_check_itself_sees_a_violation() -> None:
    assert "docker" in {n.split(".")[0] for n in reachable("app.reconcile.executor")}
