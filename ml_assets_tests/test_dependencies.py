"""Declared dependencies (pyproject.toml) match what ml_assets/ imports."""

import ast
import importlib.metadata as metadata
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

PROJECT_ROOT = Path(__file__).resolve().parents[1]
NOT_IMPORTED = {"tabulate": "pandas' DataFrame.to_markdown",
                "dagster-postgres": "the stack instance's storage (dagster.yaml written by ml_assets/stack.py)",
                "psycopg2-binary": "the driver of dagster-postgres and of the MLflow server's PostgreSQL store",
                "s3fs": "fsspec's s3:// protocol for a storage.lake on an object store"}


def normalized(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_modules() -> set[str]:
    """Top-level modules imported anywhere under ml_assets/, without the standard library and ml_assets."""
    modules = set()
    for path in (PROJECT_ROOT / "ml_assets").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules - set(sys.stdlib_module_names) - {"ml_assets"}


def declared() -> set[str]:
    """Distributions pyproject.toml declares, with those its extras (dask[distributed]) bring."""
    requirements = [Requirement(text) for text in
                    tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]]
    names = {normalized(r.name) for r in requirements}
    for requirement in (r for r in requirements if r.extras):
        for text in metadata.requires(requirement.name) or []:
            extra = Requirement(text)
            if extra.marker and any(extra.marker.evaluate({"extra": e}) for e in requirement.extras):
                names.add(normalized(extra.name))
    return names


def test_every_imported_module_comes_from_a_declared_distribution():
    owners = metadata.packages_distributions()
    undeclared = {module: owners.get(module) for module in imported_modules()
                  if not {normalized(d) for d in owners.get(module, [module])} & declared()}
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def test_every_declared_distribution_is_imported_or_named_as_a_runtime_need():
    owners = metadata.packages_distributions()
    imported = {normalized(d) for module in imported_modules() for d in owners.get(module, [module])}
    direct = {normalized(Requirement(text).name) for text in
              tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    unused = direct - imported - set(NOT_IMPORTED)
    assert not unused, f"declared in pyproject.toml but never imported by ml_assets/: {sorted(unused)}"


def test_core_imports_neither_dagster_nor_the_defs_layers_above_it():
    above = {"dagster", "dagster_mlflow", "ml_assets.defs", "ml_assets.resources", "ml_assets.definitions",
             "ml_assets.runner", "ml_assets.cli"}
    offending = []
    for path in sorted((PROJECT_ROOT / "ml_assets" / "core").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            offending += [f"{path.relative_to(PROJECT_ROOT)}: {name}" for name in names
                          if any(name == layer or name.startswith(f"{layer}.") for layer in above)]
    assert not offending, offending
