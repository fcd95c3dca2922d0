"""CDKTF and CDK Terrain synthesize every shipped environment to the same JSON.

`cdk.framework` imports the CDK core from `cdktf` or `cdktn` (CDK_CORE); each core runs in a
process of its own (one jsii runtime each), synthesizes all of `stacks/*.yaml`, and the trees are
compared file by file. The one field allowed to differ is `//.metadata.version`, where each core
writes its own version.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cdk.framework import CORES
from tests.support import REPO

pytestmark = pytest.mark.slow

SYNTH = """
import importlib.metadata, sys
from pathlib import Path
from cdk import framework
from stacks.app import discover, synth_all
summary = synth_all(Path(sys.argv[1]), discover([]))
assert summary.ok, summary.render()
print(framework.CORE, importlib.metadata.version(framework.CORE))
"""


def synthesized(core: str, outdir: Path) -> tuple[str, dict[str, Any]]:
    env = {
        **os.environ,
        "CDK_CORE": core,
        "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(REPO)])),
    }
    result = subprocess.run(
        [sys.executable, "-c", SYNTH, str(outdir)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-4000:]
    name, version = result.stdout.split()[-2:]
    assert name == core
    stacks = {
        path.relative_to(outdir).as_posix(): json.loads(path.read_text())
        for path in sorted(outdir.glob("stacks/*/cdk.tf.json"))
    }
    assert stacks
    return version, stacks


def test_both_cores_synthesize_identical_stacks(tmp_path: Path) -> None:
    missing = [core for core in CORES if importlib.util.find_spec(core) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: `pip install -e .[infra]` pins both cores")
    (v1, first), (v2, second) = (synthesized(core, tmp_path / core) for core in CORES)
    assert sorted(first) == sorted(second)
    for name in first:
        assert first[name]["//"]["metadata"].pop("version") == v1, name
        assert second[name]["//"]["metadata"].pop("version") == v2, name
        assert first[name] == second[name], f"{name}: {CORES[0]} and {CORES[1]} synthesize different JSON"


def test_an_unknown_core_is_refused() -> None:
    env = {**os.environ, "CDK_CORE": "cdk8s"}
    result = subprocess.run(
        [sys.executable, "-c", "import cdk.framework"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "CDK_CORE='cdk8s': the CDK core is one of cdktf, cdktn" in result.stderr
