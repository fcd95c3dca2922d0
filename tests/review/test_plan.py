"""The plan reader, tested against plans made by the real Terraform CLI.

Terraform's built-in `terraform_data` resource needs no provider download, so a real
apply/plan cycle runs offline and yields genuine `terraform show -json` documents.
"""

import json
import os
import shutil
import subprocess

import pytest

from ocift.review import main, review_plan
from ocift.review.load import ReviewInputError, load_plan
from ocift.review.model import Action
from ocift.review.render import to_markdown, to_text

TERRAFORM = shutil.which("terraform")


def _tf(workdir, *args):
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
    proc = subprocess.run([TERRAFORM, *args], cwd=workdir, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _config(workdir, resources):
    (workdir / "main.tf.json").write_text(json.dumps({"resource": {"terraform_data": resources}}))


@pytest.fixture(scope="module")
def plan_json(tmp_path_factory):
    assert TERRAFORM, "terraform is part of this machine image; the plan reader is tested against it"
    work = tmp_path_factory.mktemp("tf")
    _config(
        work,
        {
            "job": {"input": "image@sha256:aaa", "triggers_replace": ["v1"]},
            "tags": {"input": {"team": "ml"}},
            "old": {"input": "gone"},
            "token": {"input": '${sensitive("hunter2-secret-value")}'},
        },
    )
    _tf(work, "init", "-input=false")
    _tf(work, "apply", "-auto-approve", "-input=false")
    _config(
        work,
        {
            "job": {"input": "image@sha256:bbb", "triggers_replace": ["v2"]},
            "tags": {"input": {"team": "research"}},
            "new": {"input": "fresh"},
            "token": {"input": '${sensitive("changed-secret-value")}'},
        },
    )
    _tf(work, "plan", "-out=plan.bin", "-input=false")
    path = work / "plan.json"
    path.write_text(_tf(work, "show", "-json", "plan.bin"))
    return path


def test_actions_follow_terraform(plan_json):
    report = review_plan(load_plan(plan_json), "demo")
    actions = {c.address: c.action for c in report.stacks[0].changes}
    assert actions == {
        "terraform_data.job": Action.REPLACE,
        "terraform_data.old": Action.DELETE,
        "terraform_data.new": Action.CREATE,
        "terraform_data.tags": Action.UPDATE,
        "terraform_data.token": Action.UPDATE,
    }
    ordered = [c.action for c in report.stacks[0].changes]
    assert ordered.index(Action.REPLACE) < ordered.index(Action.CREATE)


def test_replace_paths_mark_the_cause(plan_json):
    job = next(
        c for c in review_plan(load_plan(plan_json), "demo").stacks[0].changes if c.address == "terraform_data.job"
    )
    assert "triggers_replace" in job.reason
    assert any(a.path.startswith("triggers_replace") and a.forces_replacement for a in job.changes)


def test_sensitive_values_never_rendered(plan_json):
    report = review_plan(load_plan(plan_json), "demo")
    rendered = to_markdown(report) + to_text(report)
    assert "hunter2" not in rendered and "changed-secret-value" not in rendered
    assert "(sensitive)" in rendered


def test_cli_renders_plan_and_exit_code(plan_json, capsys):
    # terraform_data is not stateful: replacing it is not dangerous
    assert main(["--plan", str(plan_json), "--stack", "demo", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["counts"]["replace"] == 1 and data["dangerous"] is False


def test_not_a_plan_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "plan.json"
    bad.write_text('{"resource_changes": []}')
    with pytest.raises(ReviewInputError, match="no format_version"):
        load_plan(bad)
    assert main(["--plan", str(bad)]) == 1
    assert "not `terraform show -json` output" in capsys.readouterr().err
