"""The import picture: arrows run one way, ocift -> stacks -> cdk -> contract and ocift -> launcher -> contract.

Every import statement of every module, at any depth (a function-level import is an arrow too),
read with `ast`, so a lazy import cannot hide an upward arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import REPO

#: What each package of ours may import (itself included). Anything of ours not listed is upward.
ALLOWED: dict[str, set[str]] = {
    "contract": {"contract"},
    "launcher": {"launcher", "contract"},
    "cdk": {"cdk", "contract"},
    "stacks": {"stacks", "cdk", "contract"},
    "ocift": {"ocift", "stacks", "cdk", "launcher", "contract"},
}
OURS = set(ALLOWED)


def imported_packages(path: Path) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import of ours in `path`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, name.split(".")[0]) for name in names if name.split(".")[0] in OURS]
    return found


def upward_imports(package: str) -> list[str]:
    return [
        f"{path.relative_to(REPO)}:{line}: imports {target}"
        for path in sorted((REPO / package).rglob("*.py"))
        for line, target in imported_packages(path)
        if target not in ALLOWED[package]
    ]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_run_downward_only(package: str) -> None:
    assert not upward_imports(package)


def test_the_cdk_core_is_imported_through_cdk_framework_only() -> None:
    """Switching between CDKTF and CDK Terrain stays a one-line change (cdk/framework.py)."""
    direct = [
        f"{path.relative_to(REPO)}:{node.lineno}"
        for folder in (*ALLOWED, "tests", "bench")
        for path in sorted((REPO / folder).rglob("*.py"))
        if path != REPO / "cdk" / "framework.py"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.Import, ast.ImportFrom))
        and {(alias.name if isinstance(node, ast.Import) else node.module or "").split(".")[0] for alias in node.names}
        & {"cdktf", "cdktn"}
    ]
    assert not direct, "import the CDK core from cdk.framework"


def test_relative_imports_stay_inside_their_package() -> None:
    """A relative import cannot leave its package, so the absolute ones above are every arrow between rooms."""
    escaping = [
        f"{path.relative_to(REPO)}:{node.lineno}"
        for package in ALLOWED
        for path in (REPO / package).rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.level > len(path.relative_to(REPO).parts) - 1
    ]
    assert not escaping


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "probe.py"
    module.write_text("def f():\n    from stacks.config import X\n    import launcher.cluster, json\n")
    assert imported_packages(module) == [(2, "stacks"), (3, "launcher")]
