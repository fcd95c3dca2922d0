"""`python -m launcher <training flags>`: the entrypoint every replica of a job run executes.

One pass, each step failing early with a message that names what is at fault:
settings (`OCIFT_*`) -> recipe flags -> topology (cheap, and a bad rank or metadata file is
reported before gigabytes are downloaded) -> secrets -> staging of model/data -> resume
fetch -> background checkpoint sync -> torchrun -> final sync -> one summary line. The exit
status is the training child's, or one of the codes below for the launcher's own failures.
"""

from __future__ import annotations

import fcntl
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from contract.recipe import Recipe, RecipeError
from contract.settings import PREFIX, LauncherSettings, SettingsError, default_run_name
from launcher import cluster, log, torchrun
from launcher.signals import Supervisor, Terminated

if TYPE_CHECKING:  # the storage stack loads only when there is a remote output
    from launcher.peers import PeerWatch
    from launcher.sync import CheckpointSync

EXIT_OK = 0
EXIT_BAD_INPUT = 2  # settings, recipe flags, cluster variables or metadata contents
EXIT_STORAGE = 74  # staging, secrets, resume fetch, or the final upload failed
EXIT_PEERS = torchrun.EXIT_RENDEZVOUS  # 75: peers missing from the metadata or the rendezvous, or lost
REMOTE_SCHEMES = ("oci://", "s3://", "file://")

USAGE = f"""usage: python -m launcher <training flags>

Forms a torchrun job out of the nodes of an OCI Data Science multi-node job run (or the
nodes named by NNODES/NODE_RANK/MASTER_ADDR, or this one node), stages the model and data,
syncs checkpoints to the output URI while training runs, and exits with training's status.

Training flags are llama-recipes' (`--model_name ... --use_peft --lora_config.r 16 ...`);
see contract/recipe.py. Settings, from the environment:
{{settings}}
Topology, from the environment: NODE_RANK, INITIAL_CLUSTER_SIZE, CLUSTER_NODES_METADATA_FILE
(OCI multi-node job runs); else NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT, NODE_ADDR; else one
node. NCCL_SOCKET_IFNAME / GLOO_SOCKET_IFNAME are kept when set.

Exit status: training's; {EXIT_BAD_INPUT} bad input; {EXIT_STORAGE} storage failure; {EXIT_PEERS} peers
missing or lost; 128+N when stopped by signal N before or during training."""


def usage() -> str:
    lines = []
    for name, field in LauncherSettings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        lines.append(f"  {PREFIX}{name.upper():<22} {field.description or ''} (default {default!r})")
    return USAGE.format(settings="\n".join(lines))


class LauncherFailure(Exception):
    """A failure of the launcher itself, with the exit status it maps to."""

    def __init__(self, status: int, event: str, message: str):
        self.status = status
        self.event = event
        super().__init__(message)


@dataclass(frozen=True)
class Outputs:
    """Where this run's outputs go: the logical run's name, where training writes (always local)
    and the remote prefix it is synced to ('' = nowhere). Both are the run's own: two runs never
    share them unless the second continues the first by name (`OCIFT_RUN_NAME`)."""

    run: str
    continued: bool
    local: Path
    remote: str


def cache_dir(settings: LauncherSettings) -> Path:
    return Path(settings.cache_dir or Path.home() / ".cache" / "ocift").expanduser()


def work_dir(settings: LauncherSettings) -> Path:
    return Path(settings.work_dir).expanduser() if settings.work_dir else cache_dir(settings) / "work"


def run_name(settings: LauncherSettings, environ: Mapping[str, str], nnodes: int) -> str:
    """`OCIFT_RUN_NAME`, else this job run's id; outside a job run, one node makes up a fresh name
    while several must be told one (they could not agree on a made-up one)."""
    if settings.run_name:
        return settings.run_name
    if environ.get("JOB_RUN_OCID"):
        return default_run_name(environ["JOB_RUN_OCID"])
    if nnodes > 1:
        raise LauncherFailure(
            EXIT_BAD_INPUT,
            "no_run_name",
            f"{PREFIX}RUN_NAME is required when {nnodes} nodes start outside an OCI job run "
            "(no JOB_RUN_OCID): every node must write to the same run's outputs",
        )
    return time.strftime("run-%Y%m%d-%H%M%S-", time.gmtime()) + os.urandom(3).hex()


def outputs(recipe: Recipe, settings: LauncherSettings, run: str) -> Outputs:
    """The remote base is `output_uri`, else the recipe's `output_dir` when it is a URI; the run's
    outputs are `<base>/<run>/`. With a remote, training writes under the work dir
    (`<work>/runs/<run>/`); without, to `<output_dir>/<run>/`."""
    given = recipe.train_config.output_dir
    base = settings.output_uri or (given if given.startswith(REMOTE_SCHEMES) else "")
    continued = bool(settings.run_name)
    if base:
        return Outputs(run, continued, work_dir(settings) / "runs" / run, f"{base.rstrip('/')}/{run}")
    if not given:
        return Outputs(run, continued, work_dir(settings) / "runs" / run, "")
    return Outputs(run, continued, Path(given) / run, "")


def output_flag(settings: LauncherSettings) -> str:
    return f"{PREFIX}OUTPUT_URI" if settings.output_uri else "--output_dir"


class WorkDirLock:
    """An exclusive flock on `<work dir>/.ocift.lock` for the launcher's lifetime: a second run on
    the same disk is refused while the first lives, and a dead process holds nothing (the kernel
    drops a flock with its last descriptor)."""

    def __init__(self, directory: Path):
        self.path = directory / ".ocift.lock"
        self._fd: int | None = None

    def acquire(self, run: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another launcher"
            os.close(fd)
            raise LauncherFailure(
                EXIT_BAD_INPUT,
                "work_dir_in_use",
                f"{PREFIX}WORK_DIR {self.path.parent} is in use by a live run ({holder}): give each "
                "run its own work dir, or wait for that one to end",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"run {run}, pid {os.getpid()}".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def check_training_options(
    recipe: Recipe, settings: LauncherSettings, topology: cluster.ClusterTopology, nproc: int, out: Outputs
) -> None:
    """What `launcher.train` would refuse after torchrun started (a missing --data_path, a model
    directory without config.json, a context length beyond the model's), refused here instead:
    one error line, no torchrun failure block. Other training modules check their own options."""
    if settings.train_module != "launcher.train":
        return
    from launcher.train.config import ProcessRanks, derive

    trial = recipe.model_copy(deep=True)
    trial.train_config.output_dir = str(out.local)
    ranks = ProcessRanks(world_size=topology.nnodes * nproc, local_world_size=nproc)
    try:
        derive(trial, ranks)
    except RecipeError as exc:
        raise LauncherFailure(EXIT_BAD_INPUT, "bad_recipe", str(exc)) from None


def check_output_writable(out: Outputs, settings: LauncherSettings, node: int) -> None:
    """A real write (then delete) at the run's remote prefix from this node, before anything is
    downloaded or trained: a wrong or read-only output URI otherwise shows only when training
    ends, when the node's disk is about to vanish."""
    from launcher.storage import open_store
    from launcher.sync import SYNC_RETRY

    key = f".ocift/write-check-node-{node}"
    try:
        store = open_store(out.remote, retry=SYNC_RETRY)  # bounded like a sync pass, not a whole upload
        with tempfile.NamedTemporaryFile("w", suffix=".tmp") as probe:
            probe.write(f"run {out.run}, node {node}\n")
            probe.flush()
            store.upload_file(Path(probe.name), key)
        store.delete(key)
    except Exception as exc:  # noqa: BLE001 - any reason is reported the same way, naming the flag
        raise LauncherFailure(
            EXIT_STORAGE,
            "output_unwritable",
            f"{output_flag(settings)} {out.remote}: node {node} cannot write there: {type(exc).__name__}: {exc}",
        ) from None


def stage_inputs(recipe: Recipe, settings: LauncherSettings) -> None:
    """Download model, tokenizer and data (a dataset's files, a custom dataset's .py) once per node;
    point the recipe at local copies."""
    from launcher.staging import stage, staged_value
    from launcher.storage import StorageError

    for option, value in recipe.inputs().items():
        section, _, field = option.partition(".")
        flag = field if section == "train_config" else option
        started = time.monotonic()
        try:
            local = str(stage(value, cache_dir(settings)))
        except StorageError as exc:  # name the flag: the URI alone may not say which input it was
            raise LauncherFailure(EXIT_STORAGE, "staging_failed", f"--{flag}: {exc}") from None
        if local != value:
            config = getattr(recipe, section)
            setattr(config, field, staged_value(option, getattr(config, field), local))
            log.event("staged", flag=flag, source=value, path=local, seconds=round(time.monotonic() - started, 1))


def child_recipe(recipe: Recipe, settings: LauncherSettings, out: Outputs) -> list[str]:
    """The flags training gets: local paths, and a checkpoint deadline within the launcher's grace."""
    config = recipe.train_config
    config.output_dir = str(out.local)
    if config.term_grace_seconds > settings.term_grace_s:
        log.event("grace_capped", term_grace_seconds=config.term_grace_seconds, term_grace_s=settings.term_grace_s)
        config.term_grace_seconds = settings.term_grace_s
    return recipe.to_args()


def child_env(
    environ: Mapping[str, str], secrets: Mapping[str, str], topology: cluster.ClusterTopology, run: str
) -> dict[str, str]:
    """The training processes' environment; `OCIFT_RUN_NAME` tells training which run it is (plot titles)."""
    env = {**environ, **secrets, f"{PREFIX}RUN_NAME": run}
    ifnames = cluster.socket_ifname_env(topology, env)
    if ifnames:
        log.event("interface", **ifnames)
    elif not all(env.get(v) for v in cluster.IFNAME_VARS):
        log.event("interface_unknown", level="warning", node_addr=topology.node_addr)
    return torchrun.worker_env({**env, **ifnames})


def resolve_secrets(settings: LauncherSettings) -> dict[str, str]:
    if not settings.secrets:
        return {}
    from launcher.secrets import resolve

    values = resolve(dict(settings.secrets))  # registers every value with log.redact
    os.environ.update(values)  # staging (e.g. a gated Hugging Face model) runs in this process
    log.event("secrets", names=",".join(sorted(values)))
    return values


def start_peer_watch(
    topology: cluster.ClusterTopology, settings: LauncherSettings, environ: Mapping[str, str], supervisor: Supervisor
) -> PeerWatch | None:
    """Heartbeats with every other node (when the metadata file named them); a lost one stops training."""
    if topology.nnodes < 2 or len(topology.addrs) != topology.nnodes:
        return None
    from launcher.peers import PeerWatch

    def on_lost(rank: int, addr: str, why: str) -> None:
        log.error(
            "peer_lost",
            peer_node=rank,
            peer_addr=addr,
            message=f"node {rank} ({addr}) is lost: {why}; stopping training (a checkpoint needs every node)",
        )
        supervisor.abort(grace_s=0)

    port = settings.peer_port or settings.rdzv_port + 1
    watch = PeerWatch(
        topology.node_rank,
        dict(enumerate(topology.addrs)),
        port,
        settings.peer_timeout_s,
        environ.get("JOB_RUN_OCID", ""),
        on_lost,
    )
    try:
        watch.start()
    except OSError as exc:
        raise LauncherFailure(
            EXIT_BAD_INPUT,
            "peer_port_unavailable",
            f"cannot listen for heartbeats on {topology.node_addr}:{port} ({exc}); "
            f"set {PREFIX}PEER_PORT to a free port",
        ) from None
    log.event("peer_watch", port=port, timeout_s=settings.peer_timeout_s, interval_s=watch.interval_s)
    return watch


def run(argv: list[str], environ: Mapping[str, str], supervisor: Supervisor, summary: dict[str, object]) -> int:
    """The launcher's flow; raises LauncherFailure for its own failures. Fills `summary`
    with what the final log line reports besides the exit code."""
    try:
        settings = LauncherSettings.from_env(environ)
    except SettingsError as exc:
        raise LauncherFailure(EXIT_BAD_INPUT, "bad_settings", str(exc)) from None
    supervisor.grace_s = settings.term_grace_s
    try:
        recipe = Recipe.from_args(argv, source="training flags")
    except RecipeError as exc:
        raise LauncherFailure(EXIT_BAD_INPUT, "bad_recipe", str(exc)) from None
    log.event(
        "start",
        train_module=settings.train_module,
        cluster_timeout_s=settings.cluster_timeout_s,
        term_grace_s=settings.term_grace_s,
        options=len(recipe.non_default()),
    )
    waited = time.monotonic()
    try:
        topology = cluster.discover(environ, settings.rdzv_port, settings.cluster_timeout_s)
    except cluster.ClusterTimeout as exc:
        raise LauncherFailure(EXIT_PEERS, "peers_missing", str(exc)) from None
    except cluster.ClusterError as exc:
        raise LauncherFailure(EXIT_BAD_INPUT, "bad_cluster", str(exc)) from None
    waited_s = round(time.monotonic() - waited, 2)
    log.configure(node=topology.node_rank)
    nproc = torchrun.procs_per_node(settings)
    log.event("topology", nproc_per_node=nproc, waited_s=waited_s, **topology.fields())

    out = outputs(recipe, settings, run_name(settings, environ, topology.nnodes))
    summary["run"] = out.run
    log.event("run", run=out.run, continued=out.continued, output_dir=out.local, remote=out.remote or "none")
    check_training_options(recipe, settings, topology, nproc, out)  # missing flags, before any download
    lock = WorkDirLock(work_dir(settings))
    lock.acquire(out.run)
    try:
        return _run_locked(recipe, settings, environ, topology, nproc, out, supervisor, summary)
    finally:
        lock.release()


def _run_locked(
    recipe: Recipe,
    settings: LauncherSettings,
    environ: Mapping[str, str],
    topology: cluster.ClusterTopology,
    nproc: int,
    out: Outputs,
    supervisor: Supervisor,
    summary: dict[str, object],
) -> int:
    sync: CheckpointSync | None = None
    try:
        secrets = resolve_secrets(settings)
        if out.remote:
            check_output_writable(out, settings, topology.node_rank)
        stage_inputs(recipe, settings)
        check_training_options(recipe, settings, topology, nproc, out)  # the staged model's config.json
        out.local.mkdir(parents=True, exist_ok=True)
        if out.remote:
            from launcher.sync import CheckpointSync, fetch_latest_checkpoint

            summary["remote"] = out.remote
            if recipe.train_config.resume == "auto":
                found = fetch_latest_checkpoint(out.remote, out.local)
                log.event("resume_fetch", remote=out.remote, checkpoint=found or "none")
            sync = CheckpointSync(out.local, out.remote, settings.sync_interval_s)
            sync.start()
    except (Terminated, LauncherFailure):
        raise
    except Exception as exc:  # storage, secrets, staging: all say what failed
        raise LauncherFailure(EXIT_STORAGE, "storage_failed", f"{type(exc).__name__}: {exc}") from None

    cmd = torchrun.command(topology, nproc, settings, settings.train_module, child_recipe(recipe, settings, out))
    watch = start_peer_watch(topology, settings, environ, supervisor)
    log.event("torchrun_start", module=settings.train_module, output_dir=out.local, remote=out.remote or "none")
    synced = True
    try:
        status, killed = supervisor.run(cmd, child_env(environ, secrets, topology, out.run))
        log.event("torchrun_exit", status=status, killed_after_grace=killed, signal=supervisor.received or "none")
        if watch is not None:
            watch.farewell(status)  # the others stop watching this node
            # Training failed on its own: name the nodes that went away (a cancelled job is not that).
            lost = watch.probe() if status != EXIT_OK and supervisor.received is None else watch.lost
            if lost and status != EXIT_OK:
                names = ", ".join(f"node {rank} ({addr})" for rank, addr in sorted(lost.items()))
                summary["lost_nodes"] = ",".join(map(str, sorted(lost)))
                log.error("peers_lost", message=f"lost contact with {names}: training stopped (status {status})")
                status = EXIT_PEERS
    finally:
        if sync is not None:  # what is complete goes up, also after SIGTERM or a failure
            report = sync.stop_and_flush()
            summary.update(checkpoints_synced=len(report.checkpoints), sync_failed=len(report.failed))
            synced = report.ok
        if watch is not None:  # answered until here: a peer probing us now finds us alive
            watch.stop()
    if not synced and status == EXIT_OK:
        failed = ", ".join(sorted(report.failed))
        raise LauncherFailure(
            EXIT_STORAGE, "sync_failed", f"training succeeded but uploads to {out.remote} failed: {failed}"
        )
    return status


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    if argv[:1] in (["-h"], ["--help"]):
        print(usage())
        return EXIT_OK
    log.configure(node=environ.get("NODE_RANK", "0"))
    started = time.monotonic()
    supervisor = Supervisor(grace_s=LauncherSettings.model_fields["term_grace_s"].default)
    supervisor.install()
    summary: dict[str, object] = {}
    failure: LauncherFailure | None = None
    try:
        try:
            status = run(argv, environ, supervisor, summary)
        except LauncherFailure as exc:
            failure = exc
            supervisor.settle()  # decided: a SIGTERM now (the others stopping) must not turn 2 into 143
            log.error(exc.event, message=str(exc))
            status = exc.status
    except Terminated as exc:
        if failure is not None:
            status = failure.status
        else:
            log.error("terminated", message=f"{exc} before training started")
            status = 128 + exc.signum
    log.event(
        "summary",
        level="info" if status == EXIT_OK else "error",
        exit_code=status,
        seconds=round(time.monotonic() - started, 1),
        **summary,
    )
    return status


if __name__ == "__main__":
    sys.exit(main())
