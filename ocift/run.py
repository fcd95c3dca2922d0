"""`ocift run`: start, watch, inspect and cancel runs of a deployed job, through the OCI SDK.

    ocift run start <env> <job> [--job-ocid OCID] [--replicas N] [--args "--max_steps 10"] [--watch]
                    [--run-name NAME] [--restarts N]
    ocift run watch <run-ocid>     # status changes, progress and every node's log lines until it ends
    ocift run status <run-ocid>
    ocift run cancel <run-ocid>

`<env> <job>` becomes a job OCID in this order: `--job-ocid`; `<job>` itself when it is a job
OCID; else the deployed environment's outputs file (`--outputs`, default `outputs/<env>.json`,
as written by `cdktf deploy --outputs-file` or `terraform output -json`), which must hold an
output `<job>_job_id` or a map `job_ids` with a `<job>` entry. Compartment and project come
from the job unless `--compartment-ocid` / `--project-ocid` say otherwise.

`watch` exits with the run's outcome: 0 succeeded, 1 failed, 3 canceled or deleted. It shows
progress (step/total, loss, tokens/s, ETA) from the run's `metrics.jsonl`, which the launcher syncs
to `<output uri>/<run name>/` on every pass.

`--run-name NAME` sets `OCIFT_RUN_NAME` for the run: its outputs land under `<output uri>/NAME/`,
and an earlier run's name continues that run. `--restarts N` watches the run and, when it fails
for an infrastructure reason (a lost node, exit 75; the service failing the run), starts a new
run that continues the same logical run from its latest committed checkpoint, at most N times.
Credentials: `~/.oci/config` (`--config-file`, `--profile`), or a resource principal where one is set.
Endpoints (tests, private endpoints): `--endpoint` / `OCI_DATA_SCIENCE_ENDPOINT` and
`--logging-endpoint` / `OCI_LOGGING_SEARCH_ENDPOINT`.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import re
import shlex
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import oci
from oci.data_science import models as ds

from contract.settings import PREFIX, RUN_NAME_PATTERN, default_run_name
from launcher.storage import ociauth
from ocift.cost import Amount, PriceTable, group_hourly, load_prices
from ocift.progress import Bar, Progress, from_metrics

EXIT = {"SUCCEEDED": 0, "FAILED": 1, "CANCELED": 3, "DELETED": 3}
"""Terminal lifecycle states and the exit code `watch` returns for each."""
LOG_OVERLAP = dt.timedelta(minutes=2)
"""Each search reaches this far behind the newest line seen: OCI Logging indexes lines with a delay."""
_JOB_OCID = "ocid1.datasciencejob."
_RUN_OCID = "ocid1.datasciencejobrun."
EXIT_PEERS = 75
"""The launcher's status for peers missing or lost (launcher/__main__.py): worth a restart."""
EXIT_BAD_INPUT = 2
"""The launcher's status for bad input: a restart would fail the same way."""


class UsageError(ValueError):
    """The command line or the outputs file does not say which job to use."""


# ---- OCIDs -------------------------------------------------------------------------------------
def resolve_job(env: str, job: str, job_ocid: str | None, outputs: str | None) -> str:
    """The job OCID for `<env> <job>` (see the module docstring for the order)."""
    if job_ocid:
        return job_ocid
    if job.startswith(_JOB_OCID):
        return job
    path = Path(outputs or f"outputs/{env}.json")
    if not path.is_file():
        raise UsageError(
            f"job {job!r} of environment {env!r}: no --job-ocid, and no outputs file {path} "
            f"(write it with `cdktf deploy --outputs-file {path}` or `terraform output -json > {path}`)"
        )
    try:
        flat = dict(_outputs(json.loads(path.read_text())))
    except ValueError as exc:
        raise UsageError(f"{path}: not JSON: {exc}") from exc
    key = job.replace("-", "_")
    for name in (f"{key}_job_id", f"{key}_job_ocid"):
        if isinstance(flat.get(name), str):
            return flat[name]
    for name in ("job_ids", "job_ocids"):
        if isinstance(flat.get(name), dict) and isinstance(flat[name].get(job), str):
            return flat[name][job]
    raise UsageError(
        f"{path}: no output {key}_job_id and no {job!r} in a job_ids map (outputs: {', '.join(sorted(flat)) or 'none'})"
    )


def _outputs(data: Any) -> list[tuple[str, Any]]:
    """Outputs as (name, value) from `terraform output -json` ({name: {value}}) or cdktf ({stack: {name: value}})."""
    if not isinstance(data, dict):
        return []
    flat: list[tuple[str, Any]] = []
    for name, value in data.items():
        if isinstance(value, dict) and "value" in value and "type" in value:
            flat.append((name, value["value"]))
        elif isinstance(value, dict):
            flat.extend(value.items())
    return flat


# ---- start -------------------------------------------------------------------------------------
def overrides(
    job: ds.Job, replicas: int | None, node_group: str | None, args: str | None, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """CreateJobRunDetails fields that change replicas, append arguments or set environment
    variables for this run only."""
    if replicas is None and not args and not env:
        return {}
    nodes = job.job_node_configuration_details
    if not isinstance(nodes, ds.MultiNodeJobNodeConfigurationDetails):
        if replicas is not None:
            raise UsageError(f"--replicas: job {job.id} is not a multi-node job")
        config = job.job_configuration_details
        out: dict[str, Any] = {
            "job_configuration_override_details": ds.DefaultJobConfigurationDetails(
                job_type="DEFAULT",
                command_line_arguments=getattr(config, "command_line_arguments", None),
                environment_variables={**(getattr(config, "environment_variables", None) or {}), **(env or {})},
            )
        }
        if args:
            out["job_environment_configuration_override_details"] = _with_args(
                job.job_environment_configuration_details, args, "the job"
            )
        return out
    groups = nodes.job_node_group_configuration_details_list or []
    names = [g.name for g in groups]
    if node_group is not None and node_group not in names:
        raise UsageError(f"--node-group {node_group!r}: job {job.id} has node groups {', '.join(names)}")
    if node_group is None and len(groups) != 1 and (replicas is not None or args):
        raise UsageError(f"job {job.id} has node groups {', '.join(names)}: choose one with --node-group")
    for group in groups:
        config = group.job_configuration_details
        if env:  # every node of the run must agree on the run's name
            config.environment_variables = {**(config.environment_variables or {}), **env}
        if group.name != (node_group or group.name):
            continue
        if replicas is not None:
            group.replicas = replicas
            if group.minimum_success_replicas is not None:
                group.minimum_success_replicas = min(group.minimum_success_replicas, replicas)
        if args:
            group.job_environment_configuration_details = _with_args(
                group.job_environment_configuration_details, args, f"node group {group.name!r}"
            )
    return {
        "job_node_configuration_override_details": ds.MultiNodeJobNodeConfigurationDetails(
            job_node_type="MULTI_NODE",
            startup_order=nodes.startup_order,
            maximum_runtime_in_minutes=nodes.maximum_runtime_in_minutes,
            job_network_configuration=nodes.job_network_configuration,
            job_node_group_configuration_details_list=groups,
        )
    }


def _with_args(environment: Any, extra: str, where: str) -> Any:
    """`environment` (a container job's) with `extra` after its CMD: the recipe is the CMD (the
    provider documents `cmd` as the arguments to the ENTRYPOINT; `stacks` renders it there), and
    with argparse-style flags the last one wins."""
    if not isinstance(environment, ds.OcirContainerJobEnvironmentConfigurationDetails):
        raise UsageError(f"--args: {where} runs no OCIR container, so there is no CMD to add arguments to")
    updated = copy.copy(environment)
    updated.cmd = [*(environment.cmd or []), *shlex.split(extra)]
    return updated


def start(
    client: oci.data_science.DataScienceClient,
    opts: argparse.Namespace,
    run_name: str = "",
    resume: bool = False,
    attempt: int = 1,
) -> str:
    """Create one job run; `run_name` continues (or names) a logical run, `resume` adds `--resume auto`."""
    job_id = resolve_job(opts.env, opts.job, opts.job_ocid, opts.outputs)
    job = client.get_job(job_id).data
    args = " ".join(a for a in (opts.args, "--resume auto" if resume else "") if a)
    tags = {"ocift-env": opts.env}
    if run_name:
        tags["ocift-run"] = run_name
    if getattr(opts, "restarts", 0):
        tags["ocift-attempt"] = str(attempt)
    details = ds.CreateJobRunDetails(
        job_id=job_id,
        compartment_id=opts.compartment_ocid or job.compartment_id,
        project_id=opts.project_ocid or job.project_id,
        display_name=opts.display_name or f"{job.display_name or opts.job}-{time.strftime('%Y%m%d-%H%M%S')}",
        freeform_tags=tags,
        **overrides(job, opts.replicas, opts.node_group, args, {f"{PREFIX}RUN_NAME": run_name} if run_name else None),
    )
    run = client.create_job_run(details, opc_retry_token=uuid.uuid4().hex).data
    return run.id


_EXIT_CODE = re.compile(r"exit(?:ed)?(?: with)?(?: status| code)[ :=]*(\d+)", re.IGNORECASE)


def failure_cause(run: ds.JobRun) -> tuple[bool, str]:
    """(whether a restart can help, why) for a run that ended FAILED.

    The service puts a container's exit code in the run's lifecycle details (Oracle's sample
    "jobs-custom-exit-code", oracle-samples/oci-data-science-ai-samples); the wording is not
    documented, so this one function reads it: an exit code of 75 (peers lost) is an
    infrastructure failure, any other code is the job's own (2 = bad input); a failure without
    an exit code is the service's (capacity, a node it lost) and is restarted too.
    """
    texts = [run.lifecycle_details or ""]
    texts += [g.lifecycle_details or "" for g in run.node_group_details_list or []]
    codes = [int(m.group(1)) for text in texts for m in _EXIT_CODE.finditer(text)]
    details = "; ".join(t for t in texts if t) or "no details"
    if not codes:
        return True, f"the service failed the run ({details})"
    if EXIT_PEERS in codes:
        return True, f"a node was lost (exit {EXIT_PEERS}: {details})"
    kind = "bad input" if EXIT_BAD_INPUT in codes else "the job's own failure"
    return False, f"{kind} (exit {', '.join(map(str, sorted(set(codes))))}: {details})"


def start_with_restarts(
    client: oci.data_science.DataScienceClient, follow: LogFollower, opts: argparse.Namespace
) -> int:
    """Start, watch, and on an infrastructure failure start again (continuing the same logical
    run from its latest committed checkpoint), at most `opts.restarts` more times; every
    attempt is printed, tagged on its run (`ocift-run`, `ocift-attempt`) and listed at the end."""
    name = opts.run_name
    attempts: list[tuple[str, str]] = []
    outcome = 1
    for attempt in range(1, opts.restarts + 2):
        run_id = start(client, opts, run_name=name, resume=attempt > 1, attempt=attempt)
        name = name or default_run_name(run_id)  # the first run's own name is the logical run's
        print(f"ocift run: attempt {attempt}/{opts.restarts + 1}: {run_id} (run {name})", flush=True)
        outcome = watch(client, follow, run_id, opts.poll_s)
        run = client.get_job_run(run_id).data
        if outcome == 0 or run.lifecycle_state != "FAILED":
            attempts.append((run_id, run.lifecycle_state))
            break
        restartable, why = failure_cause(run)
        attempts.append((run_id, f"FAILED: {why}"))
        if not restartable:
            print(f"ocift run: attempt {attempt} failed with {why}: not restarting", flush=True)
            break
        if attempt > opts.restarts:
            print(f"ocift run: attempt {attempt} failed with {why}: no restarts left", flush=True)
            break
        print(
            f"ocift run: attempt {attempt} failed with {why}: restarting run {name} from its latest "
            "committed checkpoint",
            flush=True,
        )
        follow = LogFollower(follow.client)
    print(f"ocift run: run {name}: {len(attempts)} attempt(s)", flush=True)
    for number, (run_id, state) in enumerate(attempts, 1):
        print(f"  {number}. {run_id} {state}", flush=True)
    return outcome


# ---- status / watch ----------------------------------------------------------------------------
def describe(run: ds.JobRun) -> list[str]:
    lines = [
        f"run       {run.id}",
        f"name      {run.display_name}",
        f"job       {run.job_id}",
        f"state     {run.lifecycle_state}" + (f" ({run.lifecycle_details})" if run.lifecycle_details else ""),
    ]
    for label, when in (
        ("accepted", run.time_accepted),
        ("started", run.time_started),
        ("finished", run.time_finished),
    ):
        if when:
            lines.append(f"{label:<9} {when.isoformat()}")
    for group in run.node_group_details_list or []:
        lines.append(
            f"nodes     {group.name}: {group.lifecycle_state}"
            + (f" ({group.lifecycle_details})" if group.lifecycle_details else "")
        )
    if run.log_details:
        lines.append(f"log       {run.log_details.log_group_id}/{run.log_details.log_id}")
    return lines


def log_query(run: ds.JobRun) -> str:
    """Logging search for this run's lines, from every node (one place to correct if OCI differs)."""
    log = run.log_details
    scope = f"{run.compartment_id}/{log.log_group_id}/{log.log_id}"
    return f"search \"{scope}\" | where source = '*{run.id}*' | sort by datetime asc"


class LogFollower:
    """Fetches a run's new log lines since the last call, each line once."""

    def __init__(self, client: oci.loggingsearch.LogSearchClient):
        self.client = client
        self.since: dt.datetime | None = None
        self.seen: set[str] = set()

    def poll(self, run: ds.JobRun) -> list[str]:
        if not run.log_details:
            return []
        now = dt.datetime.now(dt.UTC)
        if self.since is None:
            self.since = run.time_accepted or now - dt.timedelta(hours=1)
        details = oci.loggingsearch.models.SearchLogsDetails(
            time_start=self.since, time_end=now, search_query=log_query(run), is_return_field_info=False
        )
        lines, page, newest = [], None, self.since
        while True:
            response = self.client.search_logs(details, limit=1000, page=page)
            for result in response.data.results or []:
                content = (result.data or {}).get("logContent", {})
                key = content.get("id") or json.dumps(result.data, sort_keys=True)
                if key in self.seen:
                    continue
                self.seen.add(key)
                node = content.get("subject") or str(content.get("source", "")).rsplit("/", 1)[-1]
                message = (content.get("data") or {}).get("message", "")
                lines.append(f"[{node}] {message}" if node else message)
                stamp = result.data.get("datetime")
                if isinstance(stamp, (int, float)):
                    newest = max(newest, dt.datetime.fromtimestamp(stamp / 1000, dt.UTC))
            page = response.next_page
            if not page:
                break
        self.since = newest - LOG_OVERLAP  # lines are indexed late; `seen` drops the repeats
        return lines


def run_outputs(client: oci.data_science.DataScienceClient, run: ds.JobRun) -> str:
    """Where a run's outputs land, `<output uri>/<run name>/` as the launcher computes it, from the
    job's and the run's environment and arguments ('' when the job has no remote output)."""
    job = client.get_job(run.job_id).data
    env: dict[str, str] = {}
    args: list[str] = []
    configs, environments = "job_configuration_details", "job_environment_configuration_details"
    for config in [
        *_per_group(configs, job.job_node_configuration_details, job.job_configuration_details),
        *_per_group(configs, run.job_node_configuration_override_details, run.job_configuration_override_details),
    ]:
        env.update(getattr(config, "environment_variables", None) or {})
        args += shlex.split(getattr(config, "command_line_arguments", None) or "")
    for environment in [
        *_per_group(environments, job.job_node_configuration_details, job.job_environment_configuration_details),
        *_per_group(
            environments,
            run.job_node_configuration_override_details,
            run.job_environment_configuration_override_details,
        ),
    ]:
        args += list(getattr(environment, "cmd", None) or [])
    base = env.get(f"{PREFIX}OUTPUT_URI", "")
    if not base and "--output_dir" in args[:-1]:
        base = args[len(args) - 1 - args[::-1].index("--output_dir") + 1]  # the last one wins
    if "://" not in base:
        return ""
    return f"{base.rstrip('/')}/{env.get(f'{PREFIX}RUN_NAME') or default_run_name(run.id)}"


def _per_group(attribute: str, nodes: Any, single: Any) -> list[Any]:
    """One part of a job (or a run's overrides), `job_configuration_details` or
    `job_environment_configuration_details`: every node group's, or the single-node one."""
    groups = getattr(nodes, "job_node_group_configuration_details_list", None) or []
    return [getattr(g, attribute) for g in groups if getattr(g, attribute)] + ([single] if single else [])


class MetricsFollower:
    """The latest progress in a run's synced `metrics.jsonl`; storage trouble is said once, then quiet."""

    def __init__(self, uri: str):
        self.uri = uri
        self.last: Progress | None = None
        self._warned = False

    def poll(self) -> Progress | None:
        """New progress since the last call, or None."""
        import tempfile

        from launcher.storage import open_store

        try:
            with tempfile.TemporaryDirectory(prefix="ocift-watch-") as tmp:
                target = Path(tmp) / "metrics.jsonl"
                open_store(self.uri).download_file("metrics.jsonl", target)
                lines = target.read_text().splitlines()
        except Exception as exc:  # noqa: BLE001 - not there yet, or unreachable: progress is optional
            if not self._warned:
                print(f"(no progress yet from {self.uri}/metrics.jsonl: {str(exc)[:200]})", file=sys.stderr, flush=True)
                self._warned = True
            return None
        for line in reversed(lines):
            try:
                progress = from_metrics(json.loads(line))
            except ValueError:
                continue  # a line cut by the snapshot
            if progress is not None:
                if progress == self.last:
                    return None
                self.last = progress
                return progress
        return None


def run_hourly(client: oci.data_science.DataScienceClient, run: ds.JobRun, prices: PriceTable) -> Amount:
    """What one hour of the run's nodes costs: each node group's shape x replicas (the run's own
    overrides, else the job's), plus block volumes, priced by `ocift.cost`."""
    job = client.get_job(run.job_id).data
    groups = (
        getattr(run.job_node_configuration_override_details, "job_node_group_configuration_details_list", None)
        or getattr(job.job_node_configuration_details, "job_node_group_configuration_details_list", None)
        or []
    )
    total = Amount()
    for group in groups:
        infra = group.job_infrastructure_configuration_details
        total += group_hourly(
            str(getattr(infra, "shape_name", "")),
            group.replicas or 1,
            getattr(infra, "block_storage_size_in_gbs", None),
            prices,
        )
    return total


def cost_so_far(hourly: Amount, run: ds.JobRun) -> Amount:
    """Nodes are billed from the run's start (not while it waits to be accepted) to its end or now."""
    if run.time_started is None:
        return Amount()
    end = run.time_finished or dt.datetime.now(dt.UTC)
    return hourly.times(max(0.0, (end - run.time_started).total_seconds()) / 3600)


def watch(client: oci.data_science.DataScienceClient, logs: LogFollower, run_id: str, poll_s: float) -> int:
    """Print state changes, progress and log lines until the run ends; the outcome is the last line."""
    state = None
    metrics: MetricsFollower | None = None
    hourly = Amount()
    bar = Bar(sys.stderr, desc="run")
    try:
        while True:
            run = client.get_job_run(run_id).data
            if state is None:
                if not run.log_details:
                    print("(this run has no log configured: states only)", file=sys.stderr, flush=True)
                uri = run_outputs(client, run)
                metrics = MetricsFollower(uri) if uri else None
                hourly = run_hourly(client, run, load_prices())
            details = f": {run.lifecycle_details}" if run.lifecycle_details else ""
            banner = f"== {run.id} {run.lifecycle_state}{details}"
            final = run.lifecycle_state in EXIT
            if run.lifecycle_state != state and not final:
                state = run.lifecycle_state
                print(banner, flush=True)
            for line in logs.poll(run):  # the last lines land around the state change
                print(line, flush=True)
            progress = metrics.poll() if metrics is not None and run.lifecycle_state != "ACCEPTED" else None
            if progress is not None:
                print(f"== progress {progress.line()} cost_so_far={cost_so_far(hourly, run).text()}", flush=True)
                bar.update(progress)
            if final:
                bar.close()
                cost = (
                    f" (cost {cost_so_far(hourly, run).text()}: nodes x hours at list prices)"
                    if run.time_started
                    else ""
                )
                print(banner + cost, flush=True)
                return EXIT[run.lifecycle_state]
            time.sleep(poll_s)
    finally:
        bar.close()


# ---- command line ------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocift run", description=__doc__.split("\n\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--endpoint",
        default=os.environ.get("OCI_DATA_SCIENCE_ENDPOINT"),
        help="Data Science service endpoint (default: the region's)",
    )
    common.add_argument(
        "--logging-endpoint",
        default=os.environ.get("OCI_LOGGING_SEARCH_ENDPOINT"),
        help="Logging Search endpoint (default: the region's)",
    )
    common.add_argument("--config-file", help="OCI config file (default ~/.oci/config)")
    common.add_argument("--profile", help="profile in the config file (default DEFAULT)")
    common.add_argument("--poll-s", type=float, default=10.0, help="seconds between status/log polls (watch)")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("start", parents=[common], help="start a run of a deployed job")
    s.add_argument("env")
    s.add_argument("job", help="job name in the environment's outputs, or a job OCID")
    s.add_argument("--job-ocid")
    s.add_argument("--compartment-ocid")
    s.add_argument("--project-ocid")
    s.add_argument("--outputs", help="deployed outputs JSON (default outputs/<env>.json)")
    s.add_argument("--display-name")
    s.add_argument("--replicas", type=int, help="nodes in the node group for this run")
    s.add_argument("--node-group", help="which node group --replicas/--args change (needed if several)")
    s.add_argument("--args", help="extra arguments appended to the job's command line for this run")
    s.add_argument("--watch", action="store_true", help="then follow it as `watch` does")
    s.add_argument(
        "--run-name",
        default="",
        help="OCIFT_RUN_NAME for this run: outputs under <output uri>/NAME/; "
        "an earlier run's name continues it (default: the new run's own id)",
    )
    s.add_argument(
        "--restarts",
        type=int,
        default=0,
        help="on an infrastructure failure (lost node, the service failing the run) start again from the "
        "latest committed checkpoint, at most N times; implies --watch (default 0)",
    )
    for name, text in (
        ("watch", "follow a run's state and logs until it ends"),
        ("status", "show a run"),
        ("cancel", "cancel a run"),
    ):
        p = sub.add_parser(name, parents=[common], help=text)
        p.add_argument("run", help="job run OCID")
    return parser


def _logs_client(opts: argparse.Namespace) -> oci.loggingsearch.LogSearchClient:
    return ociauth.client(
        oci.loggingsearch.LogSearchClient,
        endpoint=opts.logging_endpoint,
        config_file=opts.config_file,
        profile=opts.profile,
        instance_principal=False,
        retry_strategy=oci.retry.DEFAULT_RETRY_STRATEGY,
    )


def main(argv: list[str] | None = None) -> int:
    opts = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if opts.command == "start" and opts.replicas is not None and opts.replicas < 1:
        print("ocift run start: --replicas must be at least 1", file=sys.stderr)
        return 2
    if opts.command == "start" and opts.restarts < 0:
        print("ocift run start: --restarts must be 0 or more", file=sys.stderr)
        return 2
    if opts.command == "start" and opts.run_name and not re.match(RUN_NAME_PATTERN, opts.run_name):
        print(
            f"ocift run start: --run-name {opts.run_name!r}: letters, digits, '.', '_' and '-', "
            "starting with a letter or digit",
            file=sys.stderr,
        )
        return 2
    if opts.command != "start" and not opts.run.startswith(_RUN_OCID):
        print(f"ocift run {opts.command}: {opts.run!r} is not a job run OCID ({_RUN_OCID}...)", file=sys.stderr)
        return 2
    try:
        client = ociauth.client(
            oci.data_science.DataScienceClient,
            endpoint=opts.endpoint,
            config_file=opts.config_file,
            profile=opts.profile,
            instance_principal=False,
            retry_strategy=oci.retry.DEFAULT_RETRY_STRATEGY,
        )
        if opts.command == "start" and opts.restarts:
            return start_with_restarts(client, LogFollower(_logs_client(opts)), opts)
        if opts.command == "start":
            run_id = start(client, opts, run_name=opts.run_name)
            print(run_id, flush=True)
            if not opts.watch:
                print(f"follow it with: ocift run watch {run_id}", file=sys.stderr)
                return 0
            opts.run = run_id
        if opts.command == "status":
            print("\n".join(describe(client.get_job_run(opts.run).data)))
            return 0
        if opts.command == "cancel":
            client.cancel_job_run(opts.run)
            print(f"cancel requested for {opts.run}")
            return 0
        return watch(client, LogFollower(_logs_client(opts)), opts.run, opts.poll_s)
    except UsageError as exc:
        print(f"ocift run {opts.command}: {exc}", file=sys.stderr)
        return 2
    except oci.exceptions.ServiceError as exc:
        print(
            f"ocift run {opts.command}: {exc.operation_name or 'request'} failed: "
            f"HTTP {exc.status} {exc.code}: {exc.message}",
            file=sys.stderr,
        )
        return 1
    except (oci.exceptions.ConfigFileNotFound, oci.exceptions.InvalidConfig, oci.exceptions.ProfileNotFound) as exc:
        print(f"ocift run {opts.command}: OCI configuration: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"\nstopped watching; the run goes on (ocift run cancel {getattr(opts, 'run', '<run>')})", file=sys.stderr
        )
        return 130
