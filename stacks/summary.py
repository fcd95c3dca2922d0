"""What a synth produced and what the checks found, per environment and stack, printable.

The same report serves `cdktf synth` (stacks.main), `ocift validate` and the demo, so a reviewer
sees one format everywhere: stacks, resource counts, schema errors, rule findings (errors,
warnings, and suppressed ones with their reasons), and the config's warnings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cdk.rules import Finding, Severity
from cdk.schema_check import SchemaError


@dataclass(frozen=True)
class StackReport:
    """One synthesized stack: its resources and everything the checks found in it."""

    name: str
    backend: str
    resources: int
    data_sources: int
    schema_errors: tuple[SchemaError, ...] = ()
    findings: tuple[Finding, ...] = ()

    @property
    def rule_errors(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]

    @property
    def rule_warnings(self) -> list[Finding]:
        return [f for f in self.findings if not f.suppressed and f.rule.severity is Severity.WARNING]

    @property
    def suppressed(self) -> list[Finding]:
        return [f for f in self.findings if f.suppressed]

    @property
    def ok(self) -> bool:
        return not self.schema_errors and not self.rule_errors


@dataclass(frozen=True)
class EnvironmentReport:
    """One environment: its stacks, config warnings, and a synth failure if there was one."""

    environment: str
    source: str
    tier: str
    stacks: tuple[StackReport, ...] = ()
    warnings: tuple[str, ...] = ()
    synth_error: str = ""

    @property
    def ok(self) -> bool:
        return not self.synth_error and all(s.ok for s in self.stacks)


@dataclass(frozen=True)
class Summary:
    """Every environment of one synth; `outdir` is where it was written (None when it was not)."""

    environments: tuple[EnvironmentReport, ...]
    outdir: Path | None = None

    @property
    def ok(self) -> bool:
        return all(e.ok for e in self.environments)

    def stack_names(self) -> list[str]:
        return [s.name for e in self.environments for s in e.stacks]

    def render(self) -> str:
        """The human-readable report: a table per environment, then the details worth reading."""
        lines: list[str] = []
        for env in self.environments:
            status = "ok" if env.ok else "FAILED"
            lines.append(f"{env.environment} ({env.source}, {env.tier}): {status}")
            if env.stacks:
                width = max(len(s.name) for s in env.stacks)
                lines.append(
                    f"  {'stack':<{width}}  resources  data  backend  schema errors  rule errors/warnings/suppressed"
                )
                for s in env.stacks:
                    lines.append(
                        f"  {s.name:<{width}}  {s.resources:>9}  {s.data_sources:>4}  {s.backend:<7}  "
                        f"{len(s.schema_errors):>13}  {len(s.rule_errors)}/{len(s.rule_warnings)}/{len(s.suppressed)}"
                    )
            if env.synth_error:
                lines.append(f"  synth failed: {env.synth_error}")
            for warning in env.warnings:
                lines.append(f"  warning: {warning}")
            for s in env.stacks:
                lines += [f"  schema error: {e}" for e in s.schema_errors]
                lines += [f"  rule error: {s.name}: {f}" for f in s.rule_errors]
                lines += [f"  rule warning: {s.name}: {f}" for f in s.rule_warnings]
                lines += [f"  suppressed: {s.name}: {f}" for f in s.suppressed]
        total = sum(len(e.stacks) for e in self.environments)
        where = f"written to {self.outdir}" if self.outdir else "nothing written"
        lines.append(
            f"{len(self.environments)} environment(s), {total} stack(s): "
            f"{'all checks passed' if self.ok else 'checks FAILED'}; {where}"
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()
