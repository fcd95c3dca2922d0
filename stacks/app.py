"""Synthesize environments into a `cdktf.out`-style directory, checked before it is published.

`synth_all` is the one path under `cdktf synth` (stacks.main), `ocift validate` and the demo:
1. load and validate every config (a `ConfigError` is raised before anything is written);
2. build every environment's stacks and synthesize them into a temporary sibling directory;
3. check each stack against the provider schema (`cdk.validate`) and the rule pack;
4. only when every check passes, move the result into `outdir` (a failed synth leaves `outdir`
   as it was, so a reviewer never deploys half-checked output).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from cdktf import App

from cdk.rules import RuleContext, evaluate
from cdk.validate import validate_stack
from stacks.config import EnvironmentConfig, LocalState, load_configs
from stacks.environment import EnvironmentStacks, build_environment
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


def synth_all(outdir: Path, configs: Sequence[Path] | None = None, *, local_state: bool = False) -> Summary:
    """Synthesize and check every config (default: `discover()`); write `outdir` only if all pass.

    local_state: keep state on this machine (`state.backend: local`) whatever the configs say:
    for the demo, which never deploys. Raises ConfigError (nothing written) for bad configs.
    """
    loaded = load_configs(list(configs) if configs is not None else discover())
    if local_state:
        loaded = [_with_local_state(c) for c in loaded]
    outdir = Path(outdir).resolve()
    outdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}-", dir=outdir.parent))
    try:
        reports = _synth(staging, loaded)
        summary = Summary(tuple(reports))
        if summary.ok:
            _publish(staging, outdir)
            summary = Summary(tuple(reports), outdir)
        return summary
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _with_local_state(config: EnvironmentConfig) -> EnvironmentConfig:
    copy = config.model_copy(update={"state": LocalState(backend="local")})
    copy._source = config.source
    return copy


def _synth(outdir: Path, configs: list[EnvironmentConfig]) -> list[EnvironmentReport]:
    app = App(outdir=str(outdir))
    built = [build_environment(app, config) for config in configs]
    try:
        app.synth()
    except Exception as exc:  # jsii re-raises the aspect/validation errors of app.synth() as RuntimeError
        blamed = [env for env in built if any(f.blocking for p in env.packs.values() for f in p.findings)]
        return [_report(env, None, _first_line(exc) if env in (blamed or built) else "") for env in built]
    return [_report(env, outdir, "") for env in built]


def _report(env: EnvironmentStacks, outdir: Path | None, synth_error: str) -> EnvironmentReport:
    """Check each stack's synthesized JSON (or, when synth failed, what the rule packs saw)."""
    config = env.config
    context = RuleContext(environment=config.environment, is_prod=config.tier == "production")
    stacks = []
    for name in env.names():
        if outdir is None:
            stacks.append(StackReport(name, config.state.backend, 0, 0, findings=tuple(env.packs[name].findings)))
            continue
        document = json.loads((outdir / "stacks" / name / "cdk.tf.json").read_text())
        stacks.append(StackReport(
            name=name,
            backend=config.state.backend,
            resources=sum(len(v) for v in (document.get("resource") or {}).values()),
            data_sources=sum(len(v) for k, v in (document.get("data") or {}).items() if k != "terraform_remote_state"),
            schema_errors=tuple(validate_stack(document, name)),
            findings=tuple(evaluate(document, context)),
        ))
    return EnvironmentReport(config.environment, config.source, config.tier, tuple(stacks),
                             tuple(config.warnings()), synth_error)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _publish(staging: Path, outdir: Path) -> None:
    """Replace `outdir`'s contents with the checked synth (the directory itself is kept: the cdktf
    CLI may have created it and still refer to it)."""
    outdir.mkdir(exist_ok=True)
    for child in outdir.iterdir():
        shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    for child in staging.iterdir():
        shutil.move(str(child), outdir / child.name)
