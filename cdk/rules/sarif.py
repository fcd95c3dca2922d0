"""Rule findings as SARIF 2.1.0, the format code-scanning UIs (GitHub, GitLab, Azure DevOps) read.

One log holds one run of one tool: `rules` describe what can be reported (id, title, explanation,
default level), `results` each name a rule, a level, a message and where: the synthesized stack
file and the resource's address as a logical location. A suppressed finding stays in the log with
its justification, as SARIF's `suppressions` say (OASIS SARIF 2.1.0, §3.27.23, §3.35).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from cdk.rules.core import Finding, Rule, Severity

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://github.com/ocift/ocift/blob/main/docs/rules.md"
LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning"}


def rule_descriptor(rule_id: str, title: str, explanation: str, level: str) -> dict[str, Any]:
    return {
        "id": rule_id,
        "name": rule_id.replace("-", ""),
        "shortDescription": {"text": title},
        "fullDescription": {"text": explanation},
        "defaultConfiguration": {"level": level},
    }


def descriptors(rules: Iterable[Rule]) -> list[dict[str, Any]]:
    return [rule_descriptor(r.id, r.title, r.explanation, LEVELS[r.severity]) for r in rules]


def result(
    rule_id: str, level: str, message: str, artifact: str, address: str, suppressed_reason: str = ""
) -> dict[str, Any]:
    """One result at `address` (a resource of the stack file `artifact`)."""
    out: dict[str, Any] = {
        "ruleId": rule_id,
        "level": level,
        "message": {"text": message},
        "locations": [
            {
                "physicalLocation": {"artifactLocation": {"uri": artifact}},
                "logicalLocations": [{"fullyQualifiedName": address, "kind": "resource"}],
            }
        ],
    }
    if suppressed_reason:
        out["suppressions"] = [{"kind": "inSource", "justification": suppressed_reason}]
    return out


def sarif_log(tool: str, version: str, rules: list[dict[str, Any]], results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {"driver": {"name": tool, "version": version, "informationUri": INFO_URI, "rules": rules}},
                "results": results,
            }
        ],
    }


def findings_sarif(findings: Sequence[Finding], artifact: str, rules: Iterable[Rule], version: str = "0") -> dict:
    """The findings of one synthesized stack file (`artifact`, relative to the repository)."""
    results = [
        result(f.rule.id, LEVELS[f.rule.severity], f.message, artifact, f.resource.address, f.suppressed_reason)
        for f in findings
    ]
    return sarif_log("ocift-rules", version, descriptors(rules), results)
