"""The package's layers (docs/development.md): the import-linter contract holds and no two
modules import each other, directly or through others."""

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

ROOT = Path(__file__).resolve().parents[2]


def test_the_layers_contract_holds():
    command = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(command).is_file():
        pytest.skip("import-linter is not installed (pip install '.[test]')")
    result = subprocess.run([command], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:]


def import_cycles(graph) -> list[list[str]]:
    """Groups of modules that import one another (strongly connected, more than one)."""
    modules = sorted(graph.modules)
    index = {name: i for i, name in enumerate(modules)}
    rows, cols = [], []
    for name in modules:
        for imported in graph.find_modules_directly_imported_by(name):
            if imported in index:
                rows.append(index[name])
                cols.append(index[imported])
    adjacency = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(modules),) * 2)
    _, labels = connected_components(adjacency, directed=True, connection="strong")
    groups = {}
    for name, label in zip(modules, labels):
        groups.setdefault(label, []).append(name)
    return [group for group in groups.values() if len(group) > 1]


def test_no_module_imports_itself_through_others():
    graph = grimp.build_graph("policy_themes")
    assert import_cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(name)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.a")
    graph.add_import(importer="pkg.c", imported="pkg.a")
    assert import_cycles(graph) == [["pkg.a", "pkg.b"]]
