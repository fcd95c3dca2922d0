"""Synthesize environments into a `cdktf.out`-style directory, checked before it is published.

`synth_all` is the one path under `cdktf synth` (stacks.main), `ocift validate` and the demo:
1. load and validate every config (a `ConfigError` is raised before anything is written);
2. build every environment's stacks and synthesize them into a temporary sibling directory;
3. check each stack against the provider schema (`cdk.schema_check`) and the rule pack;
4. only when every check passes, move the result into `outdir` (a failed synth leaves `outdir`
   as it was, so a reviewer never deploys half-checked output).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from cdk.framework import App
from cdk.rules import RuleContext, evaluate
from cdk.schema_check import validate_stack
from stacks.config import EnvironmentConfig, LocalState
from stacks.environment import EnvironmentStacks, build_environment
from stacks.errors import ConfigError, Problem
from stacks.loader import load_configs
from stacks.summary import EnvironmentReport, StackReport, Summary

STACKS_DIR = Path(__file__).resolve().parent
ENVIRONMENTS_VAR = "OCIFT_ENVIRONMENTS"


def discover(environments: Sequence[str] | None = None) -> list[Path]:
    """The shipped configs (`stacks/*.yaml`), or those named (`dev`, `prod` or paths).

    `environments` defaults to the comma-separated `OCIFT_ENVIRONMENTS` variable, else all.
    """
    if environments is None:
        environments = [e for e in os.environ.get(ENVIRONMENTS_VAR, "").split(",") if e.strip()]
    if not environments:
        return sorted(STACKS_DIR.glob("*.yaml"))
    return [Path(e) if e.endswith((".yaml", ".yml")) else STACKS_DIR / f"{e.strip()}.yaml" for e in environments]


def synth_all(
    outdir: Path, configs: Sequence[Path] | None = None, *, local_state: bool = False, prune: bool = True
) -> Summary:
    """Synthesize and check every config (default: `discover()`); write `outdir` only if all pass.

    local_state: keep state on this machine (`state.backend: local`) whatever the configs say:
    for the demo, which never deploys. Raises ConfigError (nothing written) for bad configs.
    The format is cdktf's choice: JSON, or HCL when the CLI runs `cdktf synth --hcl`; the
    checks always read the stacks' JSON form. prune: remove the directories of stacks no longer
    synthesized (off under the cdktf CLI, which removes them itself: see `stacks.main`).
    """
    paths = list(configs) if configs is not None else discover()
    if not paths:
        raise ConfigError([Problem(str(STACKS_DIR), "", "no environment configs (*.yaml) to synthesize")])
    loaded = load_configs(paths)
    if local_state:
        loaded = [_with_local_state(c) for c in loaded]
    outdir = Path(outdir).resolve()
    outdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}-", dir=outdir.parent))
    try:
        app = App(outdir=str(staging))
        built = [build_environment(app, config) for config in loaded]
        try:
            app.synth()
            error = ""
        except Exception as exc:  # jsii re-raises aspect and construct validation errors as RuntimeError
            error = _first_line(exc)
        reports = [_report(env) for env in built]
        if error:  # blame the environments whose checks failed, else (a construct error) all of them
            blamed = [r for r in reports if not r.ok] or reports
            reports = [replace(r, synth_error=error) if r in blamed else r for r in reports]
        summary = Summary(tuple(reports))
        if not summary.ok:
            return summary
        _publish(staging, outdir, prune)
        return Summary(tuple(reports), outdir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _with_local_state(config: EnvironmentConfig) -> EnvironmentConfig:
    copy = config.model_copy(update={"state": LocalState(backend="local")})
    copy._source = config.source
    return copy


def _report(env: EnvironmentStacks) -> EnvironmentReport:
    """Check each stack's JSON form (what `cdk.tf.json` holds, suppressions included)."""
    config = env.config
    context = RuleContext(environment=config.environment, is_prod=config.tier == "production")
    stacks = []
    for stack in env.stacks:
        name = stack.node.id
        document = stack.to_terraform()
        stacks.append(
            StackReport(
                name=name,
                backend=config.state.backend,
                resources=sum(len(v) for v in (document.get("resource") or {}).values()),
                data_sources=sum(
                    len(v) for k, v in (document.get("data") or {}).items() if k != "terraform_remote_state"
                ),
                schema_errors=tuple(validate_stack(document, name)),
                findings=tuple(evaluate(document, context)),
            )
        )
    return EnvironmentReport(config.environment, config.source, config.tier, tuple(stacks), tuple(config.warnings()))


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _publish(staging: Path, outdir: Path, prune: bool) -> None:
    """Move the checked synth into `outdir` as cdktf itself would leave it: what a deploy put in a
    stack's directory (`.terraform/`, `.terraform.lock.hcl`: providers, backend init, provider
    hashes) is kept, files of an earlier synth are replaced or removed (a `cdk.tf.json` left next
    to a new `cdk.tf` would declare everything twice), stacks no longer synthesized are removed when
    `prune` is set and emptied otherwise (whoever prunes then finds them)."""
    (outdir / "stacks").mkdir(parents=True, exist_ok=True)
    new = {p.name: p for p in (staging / "stacks").iterdir()}
    for old in (outdir / "stacks").iterdir():
        if old.name not in new and prune:
            shutil.rmtree(old)
            continue
        for entry in old.iterdir():
            if not entry.name.startswith("."):
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    for name, source in new.items():
        (outdir / "stacks" / name).mkdir(exist_ok=True)
        for entry in source.iterdir():
            os.replace(entry, outdir / "stacks" / name / entry.name)
    os.replace(staging / "manifest.json", outdir / "manifest.json")
