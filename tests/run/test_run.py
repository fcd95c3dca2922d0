"""`ocift run` through the real OCI SDK against a local server that records and answers requests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ocift import cli, run as runcmd
from tests.storage.fakes import RecordingServer, Reply, Request

JOB = "ocid1.datasciencejob.oc1.iad.amaaaaaajob"
RUN = "ocid1.datasciencejobrun.oc1.iad.amaaaaaarun"
COMPARTMENT = "ocid1.compartment.oc1..amaaaaaacomp"
PROJECT = "ocid1.datascienceproject.oc1.iad.amaaaaaaproj"
NODE_STATE = {"ACCEPTED": "CREATING", "IN_PROGRESS": "ACTIVE", "FAILED": "FAILED"}


def _group(name: str, replicas: int) -> dict:
    return {
        "name": name,
        "replicas": replicas,
        "minimumSuccessReplicas": replicas,
        "jobInfrastructureConfigurationDetails": {
            "jobInfrastructureType": "MULTI_NODE",
            "shapeName": "BM.GPU.H100.8",
            "blockStorageSizeInGBs": 512,
        },
        "jobConfigurationDetails": {
            "jobType": "DEFAULT",
            "environmentVariables": {"OCIFT_OUTPUT_URI": "oci://out@ns/run"},
        },
        # The recipe is the container's CMD, as the stacks render it.
        "jobEnvironmentConfigurationDetails": {
            "jobEnvironmentType": "OCIR_CONTAINER",
            "image": "iad.ocir.io/ns/ocift:1",
            "cmd": ["--model_name", "m", "--num_epochs", "1"],
        },
    }


class DataScienceFake:
    """Jobs, job runs (a scripted sequence of states) and Logging search, shaped like OCI's JSON."""

    def __init__(self, states: list[str], groups: list[dict] | None = None):
        self.states = states
        self.groups = groups if groups is not None else [_group("workers", 2)]
        self.gets = 0

    def job(self) -> dict:
        body = {
            "id": JOB,
            "compartmentId": COMPARTMENT,
            "projectId": PROJECT,
            "displayName": "ocift-dev-finetune",
            "lifecycleState": "ACTIVE",
            "createdBy": "me",
            "timeCreated": "2026-11-28T06:00:00.000Z",
        }
        if self.groups:
            body["jobNodeConfigurationDetails"] = {
                "jobNodeType": "MULTI_NODE",
                "startupOrder": "IN_PARALLEL",
                "maximumRuntimeInMinutes": 600,
                "jobNetworkConfiguration": {"jobNetworkType": "CUSTOM_NETWORK", "subnetId": "ocid1.subnet.oc1..s"},
                "jobNodeGroupConfigurationDetailsList": self.groups,
            }
        return body

    def run(self, state: str) -> dict:
        body = {
            "id": RUN,
            "jobId": JOB,
            "compartmentId": COMPARTMENT,
            "projectId": PROJECT,
            "displayName": "r1",
            "lifecycleState": state,
            "lifecycleDetails": "exit code 1" if state == "FAILED" else None,
            "timeAccepted": "2026-11-28T06:00:00.000Z",
            "createdBy": "me",
            "logDetails": {"logGroupId": "ocid1.loggroup.oc1..lg", "logId": "ocid1.log.oc1..log"},
            "nodeGroupDetailsList": [{"name": "workers", "lifecycleState": NODE_STATE.get(state, "DELETED")}],
        }
        if state != "ACCEPTED":
            body["timeStarted"] = "2026-11-28T06:05:00.000Z"
        if state in ("SUCCEEDED", "FAILED", "CANCELED", "NEEDS_ATTENTION"):
            body["timeFinished"] = "2026-11-28T06:35:00.000Z"  # 30 minutes of nodes
        return body

    def __call__(self, req: Request) -> Reply:
        if req.method == "GET" and req.path == f"/20190101/jobs/{JOB}":
            return Reply(200, self.job(), {"etag": "j"})
        if req.method == "POST" and req.path == "/20190101/jobRuns":
            return Reply(200, self.run("ACCEPTED"), {"etag": "r"})
        if req.method == "GET" and req.path == f"/20190101/jobRuns/{RUN}":
            state = self.states[min(self.gets, len(self.states) - 1)]
            self.gets += 1
            return Reply(200, self.run(state), {"etag": "r"})
        if req.method == "POST" and req.path == f"/20190101/jobRuns/{RUN}/actions/cancelJobRun":
            return Reply(202)
        if req.method == "POST" and req.path == "/20190909/search":
            return self.search(req)
        return Reply(404, {"code": "NotAuthorizedOrNotFound", "message": f"{req.method} {req.path}"})

    def search(self, req: Request) -> Reply:
        """Node 0 logs twice, node 1 once; the same entries come back on every search (overlap)."""
        entries = [("a1", 1764309600000, "node-0", "rank 0 joined"), ("a2", 1764309601000, "node-1", "rank 1 joined")]
        if self.gets >= 3:
            entries.append(("a3", 1764309602000, "node-0", "step 10 loss=1.23"))
        page = req.query.get("page")
        chosen = entries[:2] if page is None else entries[2:]
        results = [
            {"data": {"datetime": t, "logContent": {"id": i, "subject": node, "source": RUN, "data": {"message": msg}}}}
            for i, t, node, msg in chosen
        ]
        headers = {"opc-next-page": "p2"} if page is None and len(entries) > 2 else {}
        return Reply(200, {"results": results, "summary": {"resultCount": len(results)}}, headers)


@pytest.fixture
def fake_oci(oci_config: Path, monkeypatch: pytest.MonkeyPatch):
    def make(states: list[str], groups: list[dict] | None = None) -> tuple[DataScienceFake, RecordingServer]:
        fake = DataScienceFake(states, groups)
        server = RecordingServer(fake).__enter__()
        monkeypatch.setenv("OCI_DATA_SCIENCE_ENDPOINT", server.url)
        monkeypatch.setenv("OCI_LOGGING_SEARCH_ENDPOINT", server.url)
        monkeypatch.setenv("OCI_OBJECT_STORAGE_ENDPOINT", server.url)  # watch looks for synced metrics
        servers.append(server)
        return fake, server

    servers: list[RecordingServer] = []
    yield make
    for server in servers:
        server.__exit__()


def test_start_with_overrides_sends_the_run_request(fake_oci, capsys) -> None:
    _fake, server = fake_oci(["ACCEPTED"])
    code = cli.main(
        [
            "run",
            "start",
            "dev",
            "finetune",
            "--job-ocid",
            JOB,
            "--replicas",
            "4",
            "--args",
            "--max_steps 10 --note 'two words'",
            "--display-name",
            "smoke",
        ]
    )
    assert code == 0
    assert capsys.readouterr().out.strip() == RUN
    create = next(r for r in server.requests if r.path == "/20190101/jobRuns")
    assert create.method == "POST" and create.signed and create.headers.get("opc-retry-token")
    body = create.json
    assert (body["jobId"], body["compartmentId"], body["projectId"], body["displayName"]) == (
        JOB,
        COMPARTMENT,
        PROJECT,
        "smoke",
    )
    nodes = body["jobNodeConfigurationOverrideDetails"]
    assert nodes["jobNodeType"] == "MULTI_NODE" and nodes["startupOrder"] == "IN_PARALLEL"
    [group] = nodes["jobNodeGroupConfigurationDetailsList"]
    assert group["name"] == "workers" and group["replicas"] == 4 and group["minimumSuccessReplicas"] == 2
    environment = group["jobEnvironmentConfigurationDetails"]
    assert environment["cmd"] == ["--model_name", "m", "--num_epochs", "1", "--max_steps", "10", "--note", "two words"]
    assert (
        environment["image"] == "iad.ocir.io/ns/ocift:1"
        and "commandLineArguments" not in group["jobConfigurationDetails"]
    )
    assert body["freeformTags"] == {"ocift-env": "dev"}


def test_start_without_overrides_resolves_the_job_from_outputs(fake_oci, tmp_path: Path, capsys) -> None:
    _fake, server = fake_oci(["ACCEPTED"])
    outputs = tmp_path / "dev.json"
    outputs.write_text(json.dumps({"ocift-dev-training": {"finetune_job_id": JOB, "bucket": "b"}}))
    assert (
        runcmd.main(
            [
                "start",
                "dev",
                "finetune",
                "--outputs",
                str(outputs),
                "--compartment-ocid",
                "ocid1.compartment.oc1..other",
            ]
        )
        == 0
    )
    body = next(r for r in server.requests if r.path == "/20190101/jobRuns").json
    assert body["jobId"] == JOB and body["compartmentId"] == "ocid1.compartment.oc1..other"
    assert "jobNodeConfigurationOverrideDetails" not in body


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["start", "dev", "finetune", "--outputs", "/nonexistent.json"],
            "no --job-ocid, and no outputs file /nonexistent.json",
        ),
        (["start", "dev", "finetune", "--job-ocid", JOB, "--replicas", "0"], "--replicas must be at least 1"),
        (["status", "not-an-ocid"], "'not-an-ocid' is not a job run OCID"),
    ],
)
def test_bad_input_is_a_clear_error(fake_oci, capsys, argv: list[str], message: str) -> None:
    fake_oci(["ACCEPTED"])
    assert runcmd.main(argv) == 2
    assert message in capsys.readouterr().err


def test_several_node_groups_need_a_choice(fake_oci, capsys) -> None:
    fake_oci(["ACCEPTED"], groups=[_group("head", 1), _group("workers", 3)])
    assert runcmd.main(["start", "dev", "ft", "--job-ocid", JOB, "--replicas", "2"]) == 2
    assert "node groups head, workers: choose one with --node-group" in capsys.readouterr().err


def test_status_and_cancel(fake_oci, capsys) -> None:
    _fake, server = fake_oci(["IN_PROGRESS"])
    assert runcmd.main(["status", RUN]) == 0
    out = capsys.readouterr().out
    assert "state     IN_PROGRESS" in out and "nodes     workers: ACTIVE" in out
    assert runcmd.main(["cancel", RUN]) == 0
    cancel = server.requests[-1]
    assert cancel.method == "POST" and cancel.path == f"/20190101/jobRuns/{RUN}/actions/cancelJobRun" and cancel.signed


@pytest.mark.parametrize(("final", "code"), [("SUCCEEDED", 0), ("FAILED", 1), ("CANCELED", 3)])
def test_watch_streams_every_node_once_and_exits_with_the_outcome(fake_oci, capsys, final: str, code: int) -> None:
    _fake, server = fake_oci(["ACCEPTED", "IN_PROGRESS", "IN_PROGRESS", final])
    assert runcmd.main(["watch", RUN, "--poll-s", "0.01"]) == code
    out = capsys.readouterr().out.splitlines()
    assert out.count("[node-0] rank 0 joined") == 1 and out.count("[node-1] rank 1 joined") == 1
    assert out.count("[node-0] step 10 loss=1.23") == 1  # from the second page
    states = [line.split()[2].rstrip(":") for line in out if line.startswith("== ")]
    assert states == ["ACCEPTED", "IN_PROGRESS", final]
    search = next(r for r in server.requests if r.path == "/20190909/search")
    query = search.json["searchQuery"]
    assert query.startswith(f'search "{COMPARTMENT}/ocid1.loggroup.oc1..lg/ocid1.log.oc1..log"') and RUN in query
    assert search.signed


def test_service_errors_are_reported(fake_oci, capsys) -> None:
    fake_oci(["ACCEPTED"])
    other = "ocid1.datasciencejobrun.oc1.iad.amaaaaaaother"
    assert runcmd.main(["status", other]) == 1
    assert "HTTP 404 NotAuthorizedOrNotFound" in capsys.readouterr().err


def test_missing_oci_config_is_a_clear_error(monkeypatch, tmp_path: Path, capsys) -> None:
    monkeypatch.delenv("OCI_RESOURCE_PRINCIPAL_VERSION", raising=False)
    monkeypatch.setenv("OCI_CONFIG_FILE", str(tmp_path / "absent"))
    assert runcmd.main(["status", RUN]) == 2
    assert f"no OCI config file at {tmp_path / 'absent'}" in capsys.readouterr().err


def test_start_and_watch(fake_oci, capsys) -> None:
    fake_oci(["ACCEPTED", "IN_PROGRESS", "FAILED"])
    assert runcmd.main(["start", "dev", JOB, "--watch", "--poll-s", "0.01"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == RUN and out[-1].startswith(f"== {RUN} FAILED: exit code 1 (cost $80.00")


class RestartFake(DataScienceFake):
    """Every create makes a new run; run i goes through `scripts[i]` (states), failing with `details[i]`."""

    def __init__(self, scripts: list[list[str]], details: list[str]):
        super().__init__([])
        self.scripts, self.details = scripts, details
        self.created: list[dict] = []
        self.polls: dict[str, int] = {}

    def run_body(self, index: int, state: str) -> dict:
        body = self.run(state)
        body["id"] = f"{RUN}{index}"
        body["lifecycleDetails"] = self.details[index] if state == "FAILED" else None
        return body

    def __call__(self, req: Request) -> Reply:
        if req.method == "POST" and req.path == "/20190101/jobRuns":
            self.created.append(req.json)
            return Reply(200, self.run_body(len(self.created) - 1, "ACCEPTED"), {"etag": "r"})
        prefix = f"/20190101/jobRuns/{RUN}"
        if req.method == "GET" and req.path.startswith(prefix) and req.path[len(prefix) :].isdigit():
            index = int(req.path[len(prefix) :])
            seen = self.polls.get(req.path, 0)
            self.polls[req.path] = seen + 1
            states = self.scripts[index]
            return Reply(200, self.run_body(index, states[min(seen, len(states) - 1)]), {"etag": "r"})
        if req.method == "POST" and req.path == "/20190909/search":
            return Reply(200, {"results": [], "summary": {"resultCount": 0}})
        return super().__call__(req)


@pytest.fixture
def restart_oci(oci_config: Path, monkeypatch: pytest.MonkeyPatch):
    servers: list[RecordingServer] = []

    def make(scripts: list[list[str]], details: list[str]) -> RestartFake:
        fake = RestartFake(scripts, details)
        server = RecordingServer(fake).__enter__()
        servers.append(server)
        for name in ("OCI_DATA_SCIENCE_ENDPOINT", "OCI_LOGGING_SEARCH_ENDPOINT", "OCI_OBJECT_STORAGE_ENDPOINT"):
            monkeypatch.setenv(name, server.url)
        return fake

    yield make
    for server in servers:
        server.__exit__()


def _group_env(body: dict) -> dict:
    [group] = body["jobNodeConfigurationOverrideDetails"]["jobNodeGroupConfigurationDetailsList"]
    return group["jobConfigurationDetails"]


def _group_cmd(body: dict) -> list[str]:
    [group] = body["jobNodeConfigurationOverrideDetails"]["jobNodeGroupConfigurationDetailsList"]
    return group["jobEnvironmentConfigurationDetails"]["cmd"]


def test_restarts_continue_the_same_run_after_an_infrastructure_failure(restart_oci, capsys) -> None:
    fake = restart_oci(
        [["IN_PROGRESS", "FAILED"], ["IN_PROGRESS", "FAILED"], ["IN_PROGRESS", "SUCCEEDED"]],
        ["Job run failed with exit code 75", "The job run failed: node lost by the service", ""],
    )
    assert (
        runcmd.main(["start", "dev", JOB, "--restarts", "3", "--args", "--max_train_step 9", "--poll-s", "0.01"]) == 0
    )
    out = capsys.readouterr().out
    assert len(fake.created) == 3
    first = fake.created[0]
    assert "jobNodeConfigurationOverrideDetails" in first  # only the given --args
    assert _group_cmd(first)[-2:] == ["--max_train_step", "9"]
    logical = "amaaaaaarun0"  # attempt 1's own id: where its outputs landed
    for number, body in enumerate(fake.created[1:], 2):
        config = _group_env(body)
        assert config["environmentVariables"]["OCIFT_RUN_NAME"] == logical
        assert config["environmentVariables"]["OCIFT_OUTPUT_URI"] == "oci://out@ns/run"  # the job's own kept
        assert _group_cmd(body)[-4:] == ["--max_train_step", "9", "--resume", "auto"]
        assert body["freeformTags"] == {"ocift-env": "dev", "ocift-run": logical, "ocift-attempt": str(number)}
    assert f"attempt 1/4: {RUN}0 (run {logical})" in out
    assert "attempt 1 failed with a node was lost (exit 75" in out
    assert "attempt 2 failed with the service failed the run" in out
    assert f"run {logical}: 3 attempt(s)" in out and f"3. {RUN}2 SUCCEEDED" in out


@pytest.mark.parametrize(
    ("details", "why"),
    [
        ("Job run failed with exit code 2", "bad input (exit 2"),
        ("Job run failed with exit code 1", "the job's own failure (exit 1"),
    ],
)
def test_restarts_never_repeat_the_jobs_own_failure(restart_oci, capsys, details: str, why: str) -> None:
    fake = restart_oci([["IN_PROGRESS", "FAILED"]], [details])
    assert runcmd.main(["start", "dev", JOB, "--restarts", "2", "--run-name", "exp-1", "--poll-s", "0.01"]) == 1
    out = capsys.readouterr().out
    assert len(fake.created) == 1
    assert _group_env(fake.created[0])["environmentVariables"]["OCIFT_RUN_NAME"] == "exp-1"
    assert f"attempt 1 failed with {why}" in out and "not restarting" in out


def test_restarts_are_bounded(restart_oci, capsys) -> None:
    fake = restart_oci([["FAILED"], ["FAILED"]], ["exit code 75", "exit code 75"])
    assert runcmd.main(["start", "dev", JOB, "--restarts", "1", "--poll-s", "0.01"]) == 1
    assert len(fake.created) == 2 and "no restarts left" in capsys.readouterr().out


def test_run_name_reaches_every_node_group(fake_oci) -> None:
    _fake, server = fake_oci(["ACCEPTED"], groups=[_group("head", 1), _group("workers", 3)])
    assert runcmd.main(["start", "dev", "ft", "--job-ocid", JOB, "--run-name", "exp-2"]) == 0
    body = next(r for r in server.requests if r.path == "/20190101/jobRuns").json
    groups = body["jobNodeConfigurationOverrideDetails"]["jobNodeGroupConfigurationDetailsList"]
    assert [g["jobConfigurationDetails"]["environmentVariables"]["OCIFT_RUN_NAME"] for g in groups] == ["exp-2"] * 2
    assert body["freeformTags"]["ocift-run"] == "exp-2"
    assert runcmd.main(["start", "dev", "ft", "--job-ocid", JOB, "--run-name", "../up"]) == 2


def test_watch_shows_progress_from_the_synced_metrics(fake_oci, tmp_path: Path, capsys) -> None:
    """The launcher syncs metrics.jsonl to <output uri>/<run name>/ on every pass; watch reads it."""
    group = _group("workers", 2)
    group["jobConfigurationDetails"]["environmentVariables"] = {"OCIFT_OUTPUT_URI": (tmp_path / "out").as_uri()}
    fake_oci(["ACCEPTED", "IN_PROGRESS", "IN_PROGRESS", "SUCCEEDED"], groups=[group])
    run_dir = tmp_path / "out" / "amaaaaaarun"  # the run's own id, as the launcher names it
    run_dir.mkdir(parents=True)
    records = [
        {"step": 3, "loss": 2.5, "tokens_per_s": 1200.0, "total_steps": 24, "eta_s": 65.0},
        {"step": 3, "eval_loss": 2.4},
    ]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert runcmd.main(["watch", RUN, "--poll-s", "0.01"]) == 0
    out = capsys.readouterr().out.splitlines()
    progress = [
        line for line in out if line.startswith("== progress step=3/24 loss=2.5000 tokens_per_s=1200 eta=1m05s")
    ]
    assert len(progress) == 1 and " cost_so_far=$" in progress[0], out
    # 2 x BM.GPU.H100.8 ($80 a node-hour in ocift/prices.json) for 30 minutes; the block volume has no price
    assert out[-1] == (
        f"== {RUN} SUCCEEDED (cost $80.00 + (price unknown: block volume): nodes x hours at list prices)"
    ), out


def test_run_name_on_a_single_node_job(fake_oci) -> None:
    _fake, server = fake_oci(["ACCEPTED"], groups=[])
    assert runcmd.main(["start", "dev", "ft", "--job-ocid", JOB, "--run-name", "exp-3"]) == 0
    body = next(r for r in server.requests if r.path == "/20190101/jobRuns").json
    assert body["jobConfigurationOverrideDetails"]["environmentVariables"] == {"OCIFT_RUN_NAME": "exp-3"}


def test_args_need_a_container_cmd_to_extend(fake_oci, capsys) -> None:
    _fake, server = fake_oci(["ACCEPTED"], groups=[])  # a single-node job with no OCIR container environment
    assert runcmd.main(["start", "dev", "ft", "--job-ocid", JOB, "--args", "--max_train_step 3"]) == 2
    assert "--args: the job runs no OCIR container" in capsys.readouterr().err
    assert not [r for r in server.requests if r.path == "/20190101/jobRuns"]  # nothing started
