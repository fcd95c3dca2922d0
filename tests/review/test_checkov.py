"""Checkov, the scanner infra teams already run, over every synthesized stack: no parsing errors,
and no failed check that `.checkov.yaml` does not skip with its reason.

Checkov 3.3.30 fails to parse a cdktf JSON stack whose `terraform` block holds `required_version`
(bridgecrewio/checkov#7454), so each stack is scanned without its `terraform` block (backend,
required providers and version: settings no OCI check reads).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from ocift.review.load import load_tree, synth_dir
from tests.support import REPO

pytestmark = pytest.mark.slow  # checkov takes ~10 s to start

CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
CONFIG = REPO / ".checkov.yaml"


@pytest.fixture(scope="module")
def scan_dir(tmp_path_factory) -> Path:
    if not CHECKOV.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHECKOV} is missing: `make setup` installs it")
        pytest.skip(f"{CHECKOV} is missing: run `make setup`")
    work = tmp_path_factory.mktemp("checkov")
    tree = load_tree(synth_dir(REPO, work / "out"))
    for stack, document in tree.items():
        (work / "scan" / stack).mkdir(parents=True)
        scanned = {k: v for k, v in document.items() if k != "terraform"}  # checkov#7454
        (work / "scan" / stack / "cdk.tf.json").write_text(json.dumps(scanned, indent=1))
    return work / "scan"


def _checkov(directory: Path, *args: str) -> dict:
    # cwd outside the repository: checkov reads a .checkov.yaml it finds there on its own
    proc = subprocess.run(
        [str(CHECKOV), "-d", str(directory), "-o", "json", *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode in (0, 1), proc.stderr[-3000:]  # 1: failed checks, reported below
    report = json.loads(proc.stdout)
    return report if isinstance(report, dict) else report[0]


def test_every_stack_parses_and_passes_or_is_skipped_with_a_reason(scan_dir: Path) -> None:
    report = _checkov(scan_dir, "--config-file", str(CONFIG))
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"], c["file_path"]) for c in report["results"]["failed_checks"]]
    assert summary["parsing_errors"] == 0
    assert failed == []
    assert summary["passed"] > 0 and {s.name for s in scan_dir.iterdir()} >= {"dev-training", "prod-training"}


def test_every_skip_is_still_needed(scan_dir: Path) -> None:
    """What `.checkov.yaml` skips is exactly what fails without it: no stale skip hides a check."""
    skipped = set(yaml.safe_load(CONFIG.read_text())["skip-check"])
    report = _checkov(scan_dir, "--framework", "terraform_json", "--skip-download")
    assert {c["check_id"] for c in report["results"]["failed_checks"]} == skipped


def test_prod_buckets_use_a_customer_managed_key(scan_dir: Path) -> None:
    prod = scan_dir.parent / "prod"
    for stack in scan_dir.iterdir():
        if stack.name.startswith("prod-"):
            (prod / stack.name).mkdir(parents=True)
            (prod / stack.name / "cdk.tf.json").write_text((stack / "cdk.tf.json").read_text())
    summary = _checkov(prod, "--framework", "terraform_json", "--skip-download", "--check", "CKV_OCI_9")["summary"]
    assert (summary["failed"], summary["parsing_errors"]) == (0, 0) and summary["passed"] >= 1
