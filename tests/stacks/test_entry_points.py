"""The entry points as users run them: the real `cdktf synth` CLI (JSON and HCL), the cdktf app
module, and `ocift validate`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cdk.schema_check import validate_synth_dir
from ocift import cli
from tests.support import REPO, SHIPPED, write_config

CDKTF = REPO / "node_modules" / ".bin" / "cdktf"
STACKS = sorted(f"{p.stem}-{kind}" for p in SHIPPED for kind in ("iam", "network", "training"))


def run(command: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CHECKPOINT_DISABLE": "1",
        "NO_COLOR": "1",
        "CI": "1",
        **env,
    }
    return subprocess.run(command, cwd=REPO, env=environ, capture_output=True, text=True, timeout=300)


# ---- the real cdktf CLI ---------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not CDKTF.exists(), reason="cdktf CLI not installed (make setup)")
def test_cdktf_synth_writes_every_stack_and_they_validate(tmp_path: Path) -> None:
    out = tmp_path / "cdktf.out"
    result = run([str(CDKTF), "synth", "--output", str(out)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(json.loads((out / "manifest.json").read_text())["stacks"]) == STACKS
    assert sorted(p.parent.name for p in out.glob("stacks/*/cdk.tf.json")) == STACKS
    assert validate_synth_dir(out) == []


@pytest.mark.slow
@pytest.mark.skipif(not CDKTF.exists(), reason="cdktf CLI not installed (make setup)")
def test_cdktf_synth_hcl_writes_every_stack_with_its_attributes(tmp_path: Path) -> None:
    out = tmp_path / "cdktf.out"
    result = run([str(CDKTF), "synth", "--hcl", "--output", str(out)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.parent.name for p in out.glob("stacks/*/cdk.tf")) == STACKS
    prod = " ".join((out / "stacks" / "prod-training" / "cdk.tf").read_text().split())  # alignment aside
    assert 'backend "oci" {' in prod and 'data "terraform_remote_state" "network" {' in prod
    assert 'shape_name = "BM.GPU.H100.8"' in prod  # attributes survive HCL (hand-written L1 classes can drop them)
    assert 'version = "8.28.0"' in " ".join((out / "stacks" / "dev-iam" / "cdk.tf").read_text().split())


@pytest.mark.slow
@pytest.mark.skipif(not CDKTF.exists(), reason="cdktf CLI not installed (make setup)")
def test_cdktf_synth_with_a_bad_config_fails_and_writes_nothing(tmp_path: Path) -> None:
    bad = write_config(tmp_path, "dev", lambda d: d["training"]["node_groups"][0].update(replicas=0))
    out = tmp_path / "cdktf.out"
    result = run([str(CDKTF), "synth", "--output", str(out)], OCIFT_ENVIRONMENTS=str(bad))
    assert result.returncode != 0
    assert (
        f"{bad}: training.node_groups[0].replicas: Input should be greater than or equal to 1"
        in result.stdout + result.stderr
    )
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.skipif(not CDKTF.exists(), reason="cdktf CLI not installed (make setup)")
def test_cdktf_synth_works_when_the_set_of_stacks_shrinks_or_grows(tmp_path: Path) -> None:
    """The README's `OCIFT_ENVIRONMENTS=dev cdktf synth` after a full synth, and back: the CLI itself
    removes stacks the new manifest lacks, so the app must leave them for it."""
    out = tmp_path / "cdktf.out"
    dev = sorted(name for name in STACKS if name.startswith("dev-"))
    for environments, expected in (("", STACKS), ("dev", dev), ("", STACKS)):
        result = run([str(CDKTF), "synth", "--output", str(out)], OCIFT_ENVIRONMENTS=environments)
        assert result.returncode == 0, result.stdout + result.stderr
        assert sorted(json.loads((out / "manifest.json").read_text())["stacks"]) == expected
        assert sorted(p.name for p in (out / "stacks").iterdir()) == expected


def test_app_module_outside_the_cli_removes_stacks_no_longer_synthesized(tmp_path: Path) -> None:
    out = tmp_path / "out"
    for environments in ("dev,prod", "dev"):
        result = run([sys.executable, "-m", "stacks.main"], CDKTF_OUTDIR=str(out), OCIFT_ENVIRONMENTS=environments)
        assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (out / "stacks").iterdir()) == ["dev-iam", "dev-network", "dev-training"]


# ---- the cdktf app module -------------------------------------------------------------------


def test_app_module_synthesizes_the_named_environment(tmp_path: Path) -> None:
    result = run([sys.executable, "-m", "stacks.main"], CDKTF_OUTDIR=str(tmp_path / "out"), OCIFT_ENVIRONMENTS="dev")
    assert result.returncode == 0, result.stderr
    assert sorted(json.loads((tmp_path / "out" / "manifest.json").read_text())["stacks"]) == [
        "dev-iam",
        "dev-network",
        "dev-training",
    ]
    assert "all checks passed" in result.stdout


def test_app_module_reports_every_problem_and_creates_nothing(tmp_path: Path) -> None:
    bad = write_config(
        tmp_path,
        "prod",
        lambda d: (
            d.update(compartment_ocid="ocid1.vcn.oc1..aaaaaaaaexample0000"),
            d["training"].update(max_runtime_minutes=0),
        ),
    )
    result = run([sys.executable, "-m", "stacks.main"], CDKTF_OUTDIR=str(tmp_path / "out"), OCIFT_ENVIRONMENTS=str(bad))
    assert result.returncode == 1
    assert "2 problem(s)" in result.stderr
    assert (
        "prod.yaml: compartment_ocid: expected ocid1.compartment. or ocid1.tenancy. OCID, not a vcn OCID"
        in result.stderr
    )
    assert "prod.yaml: training.max_runtime_minutes: Input should be greater than or equal to 1" in result.stderr
    assert not (tmp_path / "out").exists()


def test_app_module_fails_on_a_rule_error_even_when_cdktf_would_continue(tmp_path: Path) -> None:
    """The CLI sets CDKTF_CONTINUE_SYNTH_ON_ERROR_ANNOTATIONS, so cdktf itself would write the stacks
    anyway: the app's own check of every stack is what stops it."""
    config = write_config(tmp_path, "dev", lambda d: d["storage"].update(versioning=False))
    result = run(
        [sys.executable, "-m", "stacks.main"],
        CDKTF_OUTDIR=str(tmp_path / "out"),
        OCIFT_ENVIRONMENTS=str(config),
        CDKTF_CONTINUE_SYNTH_ON_ERROR_ANNOTATIONS="true",
    )
    assert result.returncode == 1
    assert "[OCI-OS-2]" in result.stderr and "nothing written" in result.stderr
    assert not (tmp_path / "out").exists()


# ---- ocift validate -------------------------------------------------------------------------


def test_validate_all_shipped_configs(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["validate"]) == 0
    out = capsys.readouterr().out
    for env in ("dev", "prod"):
        assert f"{env} (stacks/{env}.yaml" in out or f"{env} ({REPO}/stacks/{env}.yaml" in out
    for name in STACKS:
        assert name in out
    assert "warning: training.image: not pinned to a digest" in out  # dev's tag-only image
    assert "all checks passed; nothing written" in out


def test_validate_by_environment_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["validate", "prod"]) == 0
    out = capsys.readouterr().out
    assert "prod-training" in out and "dev-training" not in out


def test_validate_fails_on_a_rule_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, "dev", lambda d: d["storage"].update(versioning=False))
    assert cli.main(["validate", str(config)]) == 1
    err = capsys.readouterr().err
    assert "rule error: dev-training:" in err and "[OCI-OS-2]" in err and "checks FAILED" in err


def test_validate_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["validate", str(tmp_path / "nope.yaml")]) == 1
    assert "nope.yaml: cannot read" in capsys.readouterr().err
