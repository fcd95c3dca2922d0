"""`python -m launcher <training flags>`: the entrypoint every replica of a job run executes.

One pass, each step failing early with a message that names what is at fault:
settings (`OCIFT_*`) -> recipe flags -> topology (cheap, and a bad rank or metadata file is
reported before gigabytes are downloaded) -> secrets -> staging of model/data -> resume
fetch -> background checkpoint sync -> torchrun -> final sync -> one summary line. The exit
status is the training child's, or one of the codes below for the launcher's own failures.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from contract.recipe import Recipe, RecipeError
from contract.settings import PREFIX, LauncherSettings, SettingsError
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
    """Where training writes (always local) and where it is synced to ('' = nowhere)."""

    local: Path
    remote: str


def cache_dir(settings: LauncherSettings) -> Path:
    return Path(settings.cache_dir or Path.home() / ".cache" / "ocift").expanduser()


def work_dir(settings: LauncherSettings) -> Path:
    return Path(settings.work_dir).expanduser() if settings.work_dir else cache_dir(settings) / "work"


def outputs(recipe: Recipe, settings: LauncherSettings) -> Outputs:
    """The remote output is `output_uri`, else the recipe's `output_dir` when it is a URI.
    With a remote, training writes under the work dir; without, to `output_dir` as given."""
    given = recipe.train_config.output_dir
    remote = settings.output_uri or (given if given.startswith(REMOTE_SCHEMES) else "")
    if remote or not given:
        return Outputs(work_dir(settings) / "output", remote)
    return Outputs(Path(given), "")


def stage_inputs(recipe: Recipe, settings: LauncherSettings) -> None:
    """Download model, tokenizer and data once per node; point the recipe at local copies."""
    from launcher.staging import stage

    config = recipe.train_config
    for field in ("model_name", "tokenizer_name", "data_path"):
        value = getattr(config, field)
        if not value:
            continue
        started = time.monotonic()
        local = str(stage(value, cache_dir(settings)))
        if local != value:
            setattr(config, field, local)
            log.event("staged", flag=field, source=value, path=local,
                      seconds=round(time.monotonic() - started, 1))


def child_recipe(recipe: Recipe, settings: LauncherSettings, out: Outputs) -> list[str]:
    """The flags training gets: local paths, and a checkpoint deadline within the launcher's grace."""
    config = recipe.train_config
    config.output_dir = str(out.local)
    if config.term_grace_seconds > settings.term_grace_s:
        log.event("grace_capped", term_grace_seconds=config.term_grace_seconds, term_grace_s=settings.term_grace_s)
        config.term_grace_seconds = settings.term_grace_s
    return recipe.to_args()


def child_env(environ: Mapping[str, str], secrets: Mapping[str, str], topology: cluster.ClusterTopology) -> dict[str, str]:
    env = {**environ, **secrets}
    ifnames = cluster.socket_ifname_env(topology, env)
    if ifnames:
        log.event("interface", **ifnames)
    elif not all(env.get(v) for v in cluster.IFNAME_VARS):
        log.event("interface_unknown", level="warning", node_addr=topology.node_addr)
    return {**env, **ifnames}


def resolve_secrets(settings: LauncherSettings) -> dict[str, str]:
    if not settings.secrets:
        return {}
    from launcher.secrets import resolve

    values = resolve(dict(settings.secrets))  # registers every value with log.redact
    os.environ.update(values)  # staging (e.g. a gated Hugging Face model) runs in this process
    log.event("secrets", names=",".join(sorted(values)))
    return values


def start_peer_watch(topology: cluster.ClusterTopology, settings: LauncherSettings, environ: Mapping[str, str],
                     supervisor: Supervisor) -> PeerWatch | None:
    """Heartbeats with every other node (when the metadata file named them); a lost one stops training."""
    if topology.nnodes < 2 or len(topology.addrs) != topology.nnodes:
        return None
    from launcher.peers import PeerWatch

    def on_lost(rank: int, addr: str, why: str) -> None:
        log.error("peer_lost", peer_node=rank, peer_addr=addr, message=f"node {rank} ({addr}) is lost: {why}; "
                  "stopping training (a checkpoint needs every node)")
        supervisor.abort(grace_s=0)

    port = settings.peer_port or settings.rdzv_port + 1
    watch = PeerWatch(topology.node_rank, dict(enumerate(topology.addrs)), port, settings.peer_timeout_s,
                      environ.get("JOB_RUN_OCID", ""), on_lost)
    try:
        watch.start()
    except OSError as exc:
        raise LauncherFailure(EXIT_BAD_INPUT, "peer_port_unavailable",
                              f"cannot listen for heartbeats on {topology.node_addr}:{port} ({exc}); "
                              f"set {PREFIX}PEER_PORT to a free port") from None
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
    log.event("start", train_module=settings.train_module, cluster_timeout_s=settings.cluster_timeout_s,
              term_grace_s=settings.term_grace_s, options=len(recipe.non_default()))
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

    out = outputs(recipe, settings)
    sync: CheckpointSync | None = None
    try:
        secrets = resolve_secrets(settings)
        stage_inputs(recipe, settings)
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
        status, killed = supervisor.run(cmd, child_env(environ, secrets, topology))
        log.event("torchrun_exit", status=status, killed_after_grace=killed,
                  signal=supervisor.received or "none")
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
        raise LauncherFailure(EXIT_STORAGE, "sync_failed", f"training succeeded but uploads to {out.remote} failed: {failed}")
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
    try:
        status = run(argv, environ, supervisor, summary)
    except LauncherFailure as exc:
        log.error(exc.event, message=str(exc))
        status = exc.status
    except Terminated as exc:
        log.error("terminated", message=f"{exc} before training started")
        status = 128 + exc.signum
    log.event("summary", level="info" if status == EXIT_OK else "error", exit_code=status,
              seconds=round(time.monotonic() - started, 1), **summary)
    return status


if __name__ == "__main__":
    sys.exit(main())
