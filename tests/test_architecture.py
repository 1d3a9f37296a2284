"""The house's rules, checked on the import graph: layers point one way, no circles, the
CLI stays light until it has chosen the Keras backend, every package has a public face."""

from __future__ import annotations

import importlib
import subprocess
import sys

import grimp
import pytest

from conftest import REPO

PACKAGES = ["space", "data", "model", "study", "report", "ablation", "commands"]


def test_layers_point_one_way():
    """The import-linter contract in pyproject.toml: commands > ablation > report > study >
    model > space > data > knobs > inputs, yaml_files > storage_url > errors."""
    done = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command;"
                           "lint_imports_command()"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "1 kept, 0 broken" in done.stdout


def _cycle(graph: grimp.ImportGraph) -> list[str] | None:
    """One import circle among the modules, if any (imports inside functions included)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        stack.append(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if state.get(imported) == 1:
                return stack[stack.index(imported):] + [imported]
            if imported not in state and (found := visit(imported)):
                return found
        stack.pop()
        state[module] = 2
        return None

    for module in sorted(graph.modules):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_no_module_imports_itself_through_others():
    graph = grimp.build_graph("search", include_external_packages=False)
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_a_circle_would_be_found():
    graph = grimp.ImportGraph()
    for a, b in (("x.a", "x.b"), ("x.b", "x.c"), ("x.c", "x.a")):
        graph.add_import(importer=a, imported=b)
    assert _cycle(graph) == ["x.a", "x.b", "x.c", "x.a"]


def test_the_cli_imports_no_keras_before_choosing_a_backend():
    done = subprocess.run([sys.executable, "-c", "import sys, search.commands.cli, search.study, "
                           "search.model, search.space, search.data, search.report, "
                           "search.ablation; print(sorted(m for m in sys.modules if m.split('.')[0] "
                           "in ('keras', 'tensorflow', 'jax', 'torch')))"],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_has_a_short_public_face(package):
    module = importlib.import_module(f"search.{package}")
    assert module.__doc__ and module.__all__, package
    assert len((REPO / "search" / package / "__init__.py").read_text().splitlines()) <= 40
    for name in module.__all__:
        assert getattr(module, name) is not None, f"search.{package}.{name}"


def test_no_module_is_over_320_lines():
    long = {str(p.relative_to(REPO)): n for p in (REPO / "search").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 320}
    assert not long, long
