"""Imports point down: the import-linter contracts in setup.cfg hold, each of them can fail,
and no module imports itself through others."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(project: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--config", str(project / "setup.cfg"),
                           "--no-cache"], cwd=project, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(project)})


def test_the_import_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "Contracts: 3 kept, 0 broken." in result.stdout


@pytest.mark.parametrize("module, added, broken", [
    ("app/store/upward.py", "import app.web.routes",
     "Each part imports only the parts below it"),
    ("app/web/engine_call.py", "from app.engine.docker_engine import DockerEngine",
     "The API and the page never reach the engine"),
    ("app/reconcile/policy.py", "import sqlalchemy", "The planner and its inputs do no I/O"),
])
def test_each_contract_fails_on_an_import_that_breaks_it(
        tmp_path: Path, module: str, added: str, broken: str) -> None:
    """On a copy of the package with one import added, lint-imports names the contract."""
    shutil.copytree(ROOT / "app", tmp_path / "app",
                    ignore=shutil.ignore_patterns("__pycache__", "static", "templates"))
    shutil.copy(ROOT / "setup.cfg", tmp_path / "setup.cfg")
    target = tmp_path / module
    target.write_text((target.read_text() if target.exists() else "") + f"\n{added}\n")

    result = lint_imports(tmp_path)

    assert result.returncode != 0
    assert f"{broken}" in result.stdout and "BROKEN" in result.stdout
    assert "Contracts: 2 kept, 1 broken." in result.stdout


def import_cycles(package: str) -> list[list[str]]:
    """Groups of modules that import each other, directly or through others (Tarjan)."""
    graph = grimp.build_graph(package, exclude_type_checking_imports=True)
    edges = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in edges[module]:
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = stack[stack.index(module):]
            del stack[stack.index(module):]
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return cycles


def test_no_module_imports_itself_through_others() -> None:
    assert import_cycles("app") == []


def test_the_cycle_check_finds_a_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                       ) -> None:
    package = tmp_path / "loop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from loop import b\n")
    (package / "b.py").write_text("from loop import c\n")
    (package / "c.py").write_text("import loop.a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles("loop") == [["loop.a", "loop.b", "loop.c"]]
