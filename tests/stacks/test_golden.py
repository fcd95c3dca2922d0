"""Golden files: the exact synthesized JSON of every shipped stack, so a change to the output is
reviewed as a diff. Regenerate after an intended change with

    OCIFT_UPDATE_GOLDEN=1 .venv/bin/pytest tests/stacks/test_golden.py

and review `git diff tests/stacks/golden/`. The synthesized JSON is deterministic as it stands
(construct paths and hashed ids, no absolute paths or timestamps: local state paths are relative);
`test_synth_is_deterministic` keeps it so.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stacks.app import synth_all
from tests.support import SHIPPED

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("OCIFT_UPDATE_GOLDEN") == "1"


def synthesized(outdir: Path) -> dict[str, str]:
    """Synthesize the shipped configs into `outdir`: `<env>/<stack>.json` -> the stack's cdk.tf.json text."""
    summary = synth_all(outdir, SHIPPED)
    assert summary.ok, summary.render()
    return {
        f"{env.environment}/{s.name}.json": (outdir / "stacks" / s.name / "cdk.tf.json").read_text()
        for env in summary.environments
        for s in env.stacks
    }


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return synthesized(tmp_path_factory.mktemp("golden") / "cdktf.out")


def test_stacks_match_their_golden_files(first: dict[str, str]) -> None:
    actual = first
    if UPDATE:
        for old in GOLDEN.glob("*/*.json"):
            old.unlink()
        for name, text in actual.items():
            (GOLDEN / name).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / name).write_text(text)
    expected = {p.relative_to(GOLDEN).as_posix(): p.read_text() for p in sorted(GOLDEN.glob("*/*.json"))}
    assert sorted(actual) == sorted(expected), "stacks added or removed: regenerate (see the module docstring)"
    for name, text in actual.items():
        assert text == expected[name], f"{name} differs from its golden file: regenerate if intended"


def test_synth_is_deterministic(first: dict[str, str], tmp_path: Path) -> None:
    assert synthesized(tmp_path / "elsewhere" / "out") == first
