"""The real entrypoint, real torchrun, real signals: several launchers on one host, each a
"node" on its own loopback address, forming one gloo job through a metadata file."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest

from launcher.signals import KILL_MARGIN_S
from ocift.local import write_metadata_gradually
from tests.support import Start, clean_env, finish, wait_for

pytestmark = pytest.mark.slow
RUN = "t"  # OCIFT_RUN_NAME where a test reads a run's files: outputs under <work>/runs/t/


def oci_node(tmp_path: Path, rank: int, size: int, metadata: Path, port: str, **extra: str) -> dict[str, str]:
    return clean_env(
        tmp_path,
        NODE_RANK=str(rank),
        INITIAL_CLUSTER_SIZE=str(size),
        CLUSTER_NODES_METADATA_FILE=str(metadata),
        OCIFT_RDZV_PORT=port,
        JOB_RUN_OCID="ocid1.datasciencejobrun.oc1.local.entrypoint",
        OCIFT_WORK_DIR=str(tmp_path / f"node-{rank}"),
        **extra,
    )


def ranks_written(work: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(work.glob("**/rank-*.json"))]


def test_three_nodes_started_in_reverse_get_ranks_by_node_rank(tmp_path: Path, start: Start) -> None:
    """The last node starts first and the metadata file arrives late and half-written; the
    global ranks still follow NODE_RANK (c10d rendezvous would number nodes by arrival)."""
    metadata = tmp_path / "nodes.json"
    port = clean_env(tmp_path)["OCIFT_RDZV_PORT"]
    stop = threading.Event()
    writer = threading.Thread(target=write_metadata_gradually, args=(metadata, 3, stop, 1.0, 0.4))
    writer.start()
    procs = {}
    try:
        for rank in (2, 1, 0):
            procs[rank] = start(["--num_epochs", "1"], oci_node(tmp_path, rank, 3, metadata, port))
            time.sleep(1.0)
        results = {rank: finish(proc, timeout=120) for rank, proc in procs.items()}
    finally:
        stop.set()
        writer.join()
    for rank, (status, out) in results.items():
        assert status == 0, out
        assert f"node={rank} event=topology" in out and f"node_addr=127.0.0.{rank + 1}" in out
        assert f"node={rank} event=summary exit_code=0" in out
        written = ranks_written(tmp_path / f"node-{rank}")
        assert written == [{"rank": rank, "world_size": 3, "node_rank": rank, "sum": 0 + 1 + 2}]


def test_ocift_local_two_nodes(tmp_path: Path, start: Start) -> None:
    env = clean_env(tmp_path)
    proc = start(
        [
            "local",
            "--nnodes",
            "2",
            "--nproc-per-node",
            "1",
            "--work-dir",
            str(tmp_path / "local"),
            "--timeout",
            "120",
            "--run-name",
            RUN,
            "--",
            "--num_epochs",
            "1",
        ],
        env,
        module="ocift.cli",
    )
    status, out = finish(proc, timeout=150)
    assert status == 0, out
    for rank in (0, 1):
        assert f"[node {rank}] " in out and f"node={rank} event=summary exit_code=0" in out
        assert ranks_written(tmp_path / "local" / f"node-{rank}") == [
            {"rank": rank, "world_size": 2, "node_rank": rank, "sum": 1}
        ]
        local = tmp_path / "local" / f"node-{rank}" / "work" / "runs" / RUN
        args = json.loads((local / f"args-{rank}.json").read_text())
        assert args == ["--num_epochs", "1", "--output_dir", str(local)]


def test_child_exit_code_is_the_launchers(tmp_path: Path, start: Start) -> None:
    status, out = finish(start([], clean_env(tmp_path, CHILD_MODE="exit3")), timeout=90)
    assert status == 3, out
    assert "event=summary exit_code=3" in out


def test_ocift_local_exits_with_the_failing_nodes_code(tmp_path: Path, start: Start) -> None:
    proc = start(
        ["local", "--nnodes", "2", "--work-dir", str(tmp_path / "local")],
        clean_env(tmp_path, CHILD_MODE="exit3"),
        module="ocift.cli",
    )
    status, out = finish(proc, timeout=120)
    assert status == 3, out
    assert "node 0 exited with status 3" in out or "node 1 exited with status 3" in out


def test_a_listed_peer_that_never_joins_fails_the_rendezvous(tmp_path: Path, start: Start) -> None:
    metadata = tmp_path / "nodes.json"
    metadata.write_text(json.dumps([{"Rank": 0, "IPAddress": "127.0.0.1"}, {"Rank": 1, "IPAddress": "127.0.0.2"}]))
    env = oci_node(tmp_path, 0, 2, metadata, clean_env(tmp_path)["OCIFT_RDZV_PORT"], OCIFT_CLUSTER_TIMEOUT_S="3")
    status, out = finish(start([], env), timeout=60)
    assert status == 75, out
    assert "rendezvous failed" in out and "1/2 clients joined" in out


def started(work: Path, rank: int) -> Path:
    return work / "runs" / RUN / f"started-{rank}"


def test_sigterm_gives_training_its_grace(tmp_path: Path, start: Start) -> None:
    env = clean_env(
        tmp_path,
        CHILD_MODE="trap",
        CHILD_TRAP_SLEEP="2",
        OCIFT_TERM_GRACE_S="20",
        OCIFT_WORK_DIR=str(tmp_path / "work"),
        OCIFT_RUN_NAME=RUN,
    )
    proc = start([], env)
    wait_for(lambda: started(tmp_path / "work", 0).exists(), 60, "the worker to start")
    signalled = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    status, out = finish(proc, timeout=40)
    assert (tmp_path / "work" / "runs" / RUN / "terminated-0").read_text() == "checkpointed", out
    assert status != 0 and time.monotonic() - signalled < 20, out
    assert "event=torchrun_exit" in out and "killed_after_grace=False signal=15" in out


def test_sigterm_ignored_is_killed_after_the_grace(tmp_path: Path, start: Start) -> None:
    env = clean_env(
        tmp_path, CHILD_MODE="ignore", OCIFT_TERM_GRACE_S="2", OCIFT_WORK_DIR=str(tmp_path / "work"), OCIFT_RUN_NAME=RUN
    )
    proc = start([], env)
    marker = started(tmp_path / "work", 0)
    wait_for(marker.exists, 60, "the worker to start")
    worker = psutil.Process(int(marker.read_text()))
    signalled = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    status, out = finish(proc, timeout=40)
    assert status != 0, out
    assert 2 <= time.monotonic() - signalled < 2 + KILL_MARGIN_S + 5, out
    assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE


def test_a_hung_torchrun_is_killed_with_its_workers(tmp_path: Path, start: Start) -> None:
    """torchrun frozen (SIGSTOP) cannot forward SIGTERM: the launcher kills the whole tree,
    workers in their own sessions included, once the grace and margin are over."""
    env = clean_env(
        tmp_path, CHILD_MODE="ignore", OCIFT_TERM_GRACE_S="1", OCIFT_WORK_DIR=str(tmp_path / "work"), OCIFT_RUN_NAME=RUN
    )
    proc = start([], env)
    marker = started(tmp_path / "work", 0)
    wait_for(marker.exists, 60, "the worker to start")
    worker = psutil.Process(int(marker.read_text()))
    runner = psutil.Process(proc.pid).children()[0]
    assert "launcher.torchrun" in " ".join(runner.cmdline())
    os.kill(runner.pid, signal.SIGSTOP)
    signalled = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    status, out = finish(proc, timeout=40)
    assert status == 128 + signal.SIGKILL, out
    assert 1 + KILL_MARGIN_S <= time.monotonic() - signalled < 1 + KILL_MARGIN_S + 5, out
    assert "killed_after_grace=True" in out
    wait_for(lambda: not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE, 5, "the worker to die")


def test_sigterm_while_waiting_for_peers(tmp_path: Path, start: Start) -> None:
    env = oci_node(tmp_path, 0, 2, tmp_path / "never.json", "29400")
    proc = start([], env)
    time.sleep(2)
    proc.send_signal(signal.SIGTERM)
    status, out = finish(proc, timeout=20)
    assert status == 128 + signal.SIGTERM, out
    assert "event=terminated" in out and "before training started" in out


def test_ocift_local_forwards_sigterm_to_every_node(tmp_path: Path, start: Start) -> None:
    work = tmp_path / "local"
    proc = start(
        ["local", "--nnodes", "2", "--work-dir", str(work), "--run-name", RUN],
        clean_env(tmp_path, CHILD_MODE="trap", CHILD_TRAP_SLEEP="1", OCIFT_TERM_GRACE_S="20"),
        module="ocift.cli",
    )
    wait_for(lambda: all(started(work / f"node-{r}" / "work", r).exists() for r in (0, 1)), 90, "both workers")
    proc.send_signal(signal.SIGTERM)
    status, out = finish(proc, timeout=40)
    assert status != 0, out
    for rank in (0, 1):
        assert (work / f"node-{rank}" / "work" / "runs" / RUN / f"terminated-{rank}").exists(), out


@pytest.mark.parametrize(
    ("args", "env", "status", "message"),
    [
        (["--bogus_flag", "1"], {}, 2, "unknown option 'bogus_flag'"),
        (["--num_epochs", "0"], {}, 2, "num_epochs"),
        ([], {"OCIFT_CPU_PROCS_PER_NODE": "0"}, 2, "OCIFT_CPU_PROCS_PER_NODE"),
        ([], {"OCIFT_NPROC_PER_NODE": "-1"}, 2, "OCIFT_NPROC_PER_NODE"),
        ([], {"OCIFT_BOGUS": "1"}, 2, "unknown setting OCIFT_BOGUS"),
        (
            [],
            {"NODE_RANK": "3", "INITIAL_CLUSTER_SIZE": "2", "CLUSTER_NODES_METADATA_FILE": "{meta}"},
            2,
            "NODE_RANK=3 is out of range 0..1 (INITIAL_CLUSTER_SIZE=2)",
        ),
        (
            [],
            {"NODE_RANK": "0", "INITIAL_CLUSTER_SIZE": "2", "CLUSTER_NODES_METADATA_FILE": "{hostnames}"},
            2,
            "rank 1 IPAddress: 'node-1' is not an IP address",
        ),
        ([], {"NODE_RANK": "0", "INITIAL_CLUSTER_SIZE": "2", "CLUSTER_NODES_METADATA_FILE": "{tmp}"}, 75, "unreadable"),
        (
            [],
            {"NODE_RANK": "0", "INITIAL_CLUSTER_SIZE": "2", "CLUSTER_NODES_METADATA_FILE": "{garbage}"},
            75,
            "not valid JSON yet",
        ),
        (
            [],
            {"NODE_RANK": "1", "INITIAL_CLUSTER_SIZE": "3", "CLUSTER_NODES_METADATA_FILE": "{meta}"},
            75,
            "waiting for rank(s) 2 of 3",
        ),
        # A bad flag is reported before any waiting for peers.
        (
            ["--nope"],
            {
                "NODE_RANK": "0",
                "INITIAL_CLUSTER_SIZE": "2",
                "CLUSTER_NODES_METADATA_FILE": "{tmp}/x",
                "OCIFT_CLUSTER_TIMEOUT_S": "60",
            },
            2,
            "unknown option 'nope'",
        ),
    ],
)
def test_bad_input_is_named(
    tmp_path: Path, start: Start, args: list[str], env: dict[str, str], status: int, message: str
) -> None:
    meta = tmp_path / "nodes.json"
    meta.write_text(json.dumps([{"Rank": 0, "IPAddress": "127.0.0.1"}, {"Rank": 1, "IPAddress": "127.0.0.2"}]))
    hostnames = tmp_path / "hostnames.json"
    hostnames.write_text(json.dumps([{"Rank": 0, "IPAddress": "127.0.0.1"}, {"Rank": 1, "IPAddress": "node-1"}]))
    garbage = tmp_path / "garbage.json"
    garbage.write_text('[{"Rank": 0, "IPAdd')
    paths = {"meta": meta, "hostnames": hostnames, "garbage": garbage, "tmp": tmp_path}
    env = {"OCIFT_CLUSTER_TIMEOUT_S": "2", **{k: v.format(**paths) for k, v in env.items()}}
    began = time.monotonic()
    code, out = finish(start(args, clean_env(tmp_path, **env)), timeout=60)
    assert code == status, out
    assert message in out and " ocift error " in out
    assert f"event=summary exit_code={status}" in out
    assert time.monotonic() - began < 2 + 15, "errors come within the cluster timeout (plus start-up)"


def test_every_run_has_its_own_outputs_and_only_a_named_one_continues(tmp_path: Path, start: Start) -> None:
    """Job run 1 syncs a checkpoint to <output>/<its id>/. Job run 2 with `--resume auto` is a new
    run: its own prefix, nothing resumed, run 1's files untouched. Job run 3 names run 1
    (OCIFT_RUN_NAME), on a fresh disk with the output as the recipe's URI: it continues run 1."""
    remote = tmp_path / "remote"

    def job_run(n: int, args: list[str], **env: str) -> str:
        env = clean_env(
            tmp_path,
            CHILD_MODE="checkpoint",
            OCIFT_WORK_DIR=str(tmp_path / f"disk-{n}"),
            JOB_RUN_OCID=f"ocid1.datasciencejobrun.oc1.iad.amaaaarun{n}",
            **env,
        )
        status, out = finish(start(args, env), timeout=90)
        assert status == 0, out
        return out

    out = job_run(1, [], OCIFT_OUTPUT_URI=f"file://{remote}")
    assert (remote / "amaaaarun1" / "checkpoints" / "step-00000001" / "manifest.json").exists(), out
    assert (remote / "amaaaarun1" / "metrics.json").exists(), out
    assert "run=amaaaarun1" in out and "checkpoints_synced=1 sync_failed=0" in out
    first = (remote / "amaaaarun1" / "metrics.json").read_bytes()

    out = job_run(2, ["--resume", "auto"], OCIFT_OUTPUT_URI=f"file://{remote}")
    assert json.loads((tmp_path / "disk-2" / "runs" / "amaaaarun2" / "seen-0.json").read_text()) == [], out
    assert (remote / "amaaaarun2" / "checkpoints" / "step-00000001" / "manifest.json").exists(), out
    assert (remote / "amaaaarun1" / "metrics.json").read_bytes() == first
    assert sorted(p.name for p in (remote / "amaaaarun1" / "checkpoints").iterdir()) == ["step-00000001"]

    out = job_run(3, ["--resume", "auto", "--output_dir", f"file://{remote}"], OCIFT_RUN_NAME="amaaaarun1")
    local = tmp_path / "disk-3" / "runs" / "amaaaarun1"
    assert json.loads((local / "seen-0.json").read_text()) == ["step-00000001"]
    assert json.loads((local / "args-0.json").read_text()) == ["--output_dir", str(local), "--resume", "auto"]
    assert (remote / "amaaaarun1" / "checkpoints" / "step-00000002" / "manifest.json").exists(), out
    assert not (remote / "amaaaarun3").exists()


def test_a_work_dir_in_use_by_a_live_run_is_refused(tmp_path: Path, start: Start) -> None:
    """The first run holds its work dir; a second on it is refused at once (exit 2) naming the
    holder; once the first is killed outright (no clean-up), the lock is gone with it."""
    work = str(tmp_path / "work")
    first = start([], clean_env(tmp_path, CHILD_MODE="ignore", OCIFT_WORK_DIR=work, OCIFT_RUN_NAME=RUN))
    wait_for(lambda: started(tmp_path / "work", 0).exists(), 60, "the first run's worker")
    status, out = finish(start([], clean_env(tmp_path, OCIFT_WORK_DIR=work)), timeout=60)
    assert status == 2, out
    assert "event=work_dir_in_use" in out and f"run {RUN}, pid {first.pid}" in out and "torchrun_start" not in out
    for proc in psutil.Process(first.pid).children(recursive=True):
        proc.kill()
    first.kill()
    finish(first, timeout=30)
    status, out = finish(start([], clean_env(tmp_path, OCIFT_WORK_DIR=work)), timeout=90)
    assert status == 0, out


def test_output_uri_that_cannot_be_written_fails_before_torchrun(tmp_path: Path, start: Start) -> None:
    """A real write is tried (a file where the URI needs a directory: unwritable even for root)."""
    (tmp_path / "a-file").write_text("not a directory")
    uri = (tmp_path / "a-file" / "out").as_uri()
    env = clean_env(tmp_path, OCIFT_OUTPUT_URI=uri, OCIFT_WORK_DIR=str(tmp_path / "work"))
    status, out = finish(start([], env), timeout=60)
    assert status == 74, out
    [line] = [line for line in out.splitlines() if " ocift error " in line and "event=output_unwritable" in line]
    assert f"OCIFT_OUTPUT_URI {uri}/" in line and "node 0 cannot write there" in line
    assert "torchrun_start" not in out


def test_checkpoint_written_after_sigterm_is_uploaded(tmp_path: Path, start: Start) -> None:
    remote = tmp_path / "remote"
    env = clean_env(
        tmp_path,
        CHILD_MODE="trap",
        CHILD_TRAP_SLEEP="1",
        OCIFT_TERM_GRACE_S="20",
        OCIFT_WORK_DIR=str(tmp_path / "work"),
        OCIFT_SYNC_INTERVAL_S="60",
        OCIFT_RUN_NAME=RUN,
    )
    proc = start(["--output_dir", f"file://{remote}"], env)
    wait_for(lambda: started(tmp_path / "work", 0).exists(), 60, "the worker to start")
    proc.send_signal(signal.SIGTERM)
    status, out = finish(proc, timeout=40)
    assert status == 128 + signal.SIGTERM, out
    assert (remote / RUN / "checkpoints" / "step-00000099" / "manifest.json").exists(), out
    assert "checkpoints_synced=1" in out


def test_unusable_output_uri_fails_before_training(tmp_path: Path, start: Start) -> None:
    env = clean_env(tmp_path, OCIFT_OUTPUT_URI="ftp://example/x", OCIFT_WORK_DIR=str(tmp_path / "work"))
    status, out = finish(start([], env), timeout=60)
    assert status == 74, out
    assert "ftp://example/x" in out and "torchrun_start" not in out


def test_ocift_local_timeout_is_the_services_maximum_runtime(tmp_path: Path, start: Start) -> None:
    """`--timeout` SIGTERMs every node (here early on: whatever they were doing, they stop)."""
    proc = start(
        ["local", "--nnodes", "2", "--timeout", "0.5", "--work-dir", str(tmp_path / "local")],
        clean_env(tmp_path),
        module="ocift.cli",
    )
    status, out = finish(proc, timeout=60)
    assert status == 128 + signal.SIGTERM, out
    assert "maximum runtime of 0.5s reached" in out
    assert "node 0 exited with status 143" in out and "node 1 exited with status 143" in out


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--nnodes", "0"], {}, "--nnodes 0: between 1 and 254"),
        (["--nproc-per-node", "0"], {}, "--nproc-per-node 0: at least 1"),
        ([], {"OCIFT_TERM_GRACE_S": "-1"}, "OCIFT_TERM_GRACE_S"),
    ],
)
def test_ocift_local_bad_input(
    tmp_path: Path, start: Start, args: list[str], env: dict[str, str], message: str
) -> None:
    status, out = finish(start(["local", *args], clean_env(tmp_path, **env), module="ocift.cli"), timeout=30)
    assert status == 2 and message in out, out


def test_help_lists_every_setting(tmp_path: Path, start: Start) -> None:
    status, out = finish(start(["--help"], clean_env(tmp_path)), timeout=30)
    assert status == 0
    for name in ("OCIFT_CLUSTER_TIMEOUT_S", "OCIFT_TERM_GRACE_S", "OCIFT_TRAIN_MODULE", "CLUSTER_NODES_METADATA_FILE"):
        assert name in out


def test_ocift_local_names_the_lost_node_last(tmp_path: Path, start: Start) -> None:
    """Node 1 is killed outright (a reclaimed machine): the others are stopped, and the last
    lines say node 1 failed first and how, not just that node 0 ended with 143."""
    work = tmp_path / "local"
    proc = start(
        ["local", "--nnodes", "2", "--work-dir", str(work), "--run-name", RUN],
        clean_env(tmp_path, CHILD_MODE="trap", CHILD_TRAP_SLEEP="0.1", OCIFT_TERM_GRACE_S="20"),
        module="ocift.cli",
    )
    wait_for(lambda: all(started(work / f"node-{r}" / "work", r).exists() for r in (0, 1)), 90, "both workers")
    [node1] = [p for p in psutil.Process(proc.pid).children() if p.environ().get("NODE_RANK") == "1"]
    for child in [*node1.children(recursive=True), node1]:
        child.kill()
    status, out = finish(proc, timeout=60)
    assert status == 128 + signal.SIGKILL, out
    last = out.strip().splitlines()[-2:]
    assert "node 1 failed first, with status 137 (killed by SIGKILL)" in last[0], out
    assert f"--run-name {RUN}" in last[1] and "--resume auto" in last[1]


def test_ocift_local_reports_each_nodes_own_status(tmp_path: Path, start: Start) -> None:
    """Every node refuses the flag (exit 2): each is shown with 2, none with 143."""
    proc = start(
        ["local", "--nnodes", "2", "--work-dir", str(tmp_path / "local"), "--", "--bogus_flag", "1"],
        clean_env(tmp_path),
        module="ocift.cli",
    )
    status, out = finish(proc, timeout=90)
    assert status == 2, out
    assert "node 0 exited with status 2" in out and "node 1 exited with status 2" in out, out


def test_two_ocift_local_runs_into_one_output_uri_keep_both(tmp_path: Path, start: Start) -> None:
    """Same --output-uri, same --work-dir: each invocation is a new job run with a prefix of its own."""
    remote = tmp_path / "remote"
    args = ["local", "--nnodes", "1", "--work-dir", str(tmp_path / "local"), "--output-uri", remote.as_uri()]
    for _ in range(2):
        status, out = finish(start(args, clean_env(tmp_path, CHILD_MODE="checkpoint"), module="ocift.cli"), timeout=90)
        assert status == 0, out
    runs = sorted(p for p in remote.iterdir() if p.is_dir())
    assert len(runs) == 2, runs
    for run in runs:  # each a first run: its own step 1, nothing of the other's
        assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-00000001"]
        assert (run / "metrics.json").is_file()
