"""Data Science job rules: no secrets in a job's definition, prod images pinned by digest.

A job's environment variables and arguments are stored in plain text in the job, in Terraform
state and in `cdk.tf.json`. Secrets therefore travel only as Vault secret OCIDs (the launcher's
`OCIFT_SECRETS=NAME=ocid1.vaultsecret...`) and are read by the launcher at run time.

The rules look at every configuration block of a job or a job run, wherever it sits (top level,
each node group, run overrides), and whether blocks are synthesized as objects or lists.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from cdk.rules.core import Rule, RuleContext, Severity, SynthResource, Verdict
from contract.names import is_secret_name, secret_format
from contract.ocids import typed_pattern

JOB_TYPES = frozenset({"oci_datascience_job", "oci_datascience_job_run"})

_VAULT_REF = rf"(?:{typed_pattern('vaultsecret')}|\$\{{(?:data\.)?oci_vault_secret\.[\w-]+\.id\}})"
# A Vault secret reference, or the launcher's list of them: NAME=<ref>,NAME=<ref>.
_VAULT_REFS = re.compile(rf"{_VAULT_REF}|[A-Za-z_][A-Za-z0-9_]*={_VAULT_REF}(?:,[A-Za-z_][A-Za-z0-9_]*={_VAULT_REF})*")

_RANDOM_RUN = re.compile(r"[A-Za-z0-9+/]{20,}")
_MIN_CLASS_SWITCH_RATIO = 0.4


def _blocks(value: Any, key: str, path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every mapping under `value` holding `key`, with a readable path to it."""
    if isinstance(value, Mapping):
        if key in value:
            yield path, value
        for name, child in value.items():
            if name != key:
                yield from _blocks(child, key, f"{path}.{name}" if path else name)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _blocks(child, key, f"{path}[{index}]")


def _class_of(char: str) -> str:
    return "upper" if char.isupper() else "lower" if char.islower() else "digit"


def _random_run(value: str) -> str:
    """A long run mixing upper, lower and digits that switches class as often as random text does.

    Random base62 switches between those classes at ~62% of neighbours; words, paths and model ids
    (CamelCase, `Llama-3.1-8B`) switch far less, and OCIDs and hex digests have no upper case.
    """
    for run in _RANDOM_RUN.findall(value):
        chars = [c for c in run if c.isalnum()]
        classes = [_class_of(c) for c in chars]
        switches = sum(a != b for a, b in zip(classes, classes[1:]))
        if {"upper", "lower", "digit"} <= set(classes) and switches >= _MIN_CLASS_SWITCH_RATIO * (len(chars) - 1):
            return run
    return ""


def _abbreviate(text: str) -> str:
    return text[:4] + "..." if len(text) > 8 else "***"


def _env(block: Mapping[str, Any]) -> Mapping[str, Any] | None:
    env = block.get("environment_variables") or {}
    return env if isinstance(env, Mapping) else None


def _job_values(resource: SynthResource) -> Iterator[tuple[str, str]]:
    """(where, literal value) for every environment variable and argument string of a job."""
    for path, block in _blocks(resource.attributes, "environment_variables"):
        for name, value in (_env(block) or {}).items():
            yield f"{path}.environment_variables.{name}", str(value)
    for path, block in _blocks(resource.attributes, "command_line_arguments"):
        yield f"{path}.command_line_arguments", str(block["command_line_arguments"])
    for path, block in _blocks(resource.attributes, "cmd"):  # a container job's arguments (cdk.training_job)
        yield f"{path}.cmd", " ".join(map(str, block["cmd"] or []))


def _check_no_secrets(resource: SynthResource, context: RuleContext) -> Verdict:
    if resource.tf_type not in JOB_TYPES:
        return Verdict.not_applicable()
    problems = []
    for path, block in _blocks(resource.attributes, "environment_variables"):
        env = _env(block)
        if env is None:
            problems.append(f"{path}.environment_variables is not a literal map, so it cannot be checked")
            continue
        for name, value in env.items():
            if is_secret_name(name) and not _VAULT_REFS.fullmatch(str(value)):
                problems.append(
                    f"{path}.environment_variables.{name} is named like a secret "
                    "but its value is not a Vault secret OCID"
                )
    for where, value in _job_values(resource):
        if label := secret_format(value):
            problems.append(f"{where} holds {label}")
    return Verdict.from_problems(problems)


def _check_no_random_values(resource: SynthResource, context: RuleContext) -> Verdict:
    if resource.tf_type not in JOB_TYPES:
        return Verdict.not_applicable()
    return Verdict.from_problems(
        [
            f"{where} holds a random-looking string {_abbreviate(run)!r}"
            for where, v in _job_values(resource)
            if (run := _random_run(v))
        ]
    )


def _pinned(block: Mapping[str, Any]) -> bool:
    image = block.get("image")
    return bool(block.get("image_digest")) or (
        isinstance(image, str) and re.search(r"@sha256:[0-9a-f]{64}$", image) is not None
    )


def _check_pinned_images(resource: SynthResource, context: RuleContext) -> Verdict:
    if resource.tf_type not in JOB_TYPES:
        return Verdict.not_applicable()
    if not context.is_prod:
        return Verdict.not_applicable("only prod jobs must pin images")
    blocks = list(_blocks(resource.attributes, "image"))
    if not blocks:
        return Verdict.not_applicable("no container image")
    return Verdict.from_problems(
        [
            f"{path}.image {block.get('image')!r} has no image_digest and no @sha256: digest"
            for path, block in blocks
            if not _pinned(block)
        ]
    )


NO_SECRETS = Rule(
    id="OCI-DS-1",
    severity=Severity.ERROR,
    title="no secrets in a job's environment or arguments",
    explanation="job environment variables and arguments are stored in plain text in the job, in Terraform state "
    "and in cdk.tf.json; put the secret in OCI Vault and pass its OCID in OCIFT_SECRETS (NAME=ocid1.vaultsecret...): "
    "the launcher reads it at run time.",
    check=_check_no_secrets,
)

NO_RANDOM_VALUES = Rule(
    id="OCI-DS-2",
    severity=Severity.WARNING,
    title="no random-looking strings in a job's environment or arguments",
    explanation="a long string that reads like random characters is usually a key or token of a format OCI-DS-1 "
    "does not know; a heuristic, so a warning: move it to Vault, or suppress with the reason it is not a secret.",
    check=_check_no_random_values,
)

PINNED_IMAGES = Rule(
    id="OCI-DS-3",
    severity=Severity.ERROR,
    title="prod job images are pinned by digest",
    explanation="a tag can be pushed again, so a prod job (and every rerun or extra node) could start different code "
    "than was reviewed; pin with image_digest or image@sha256:<digest>.",
    check=_check_pinned_images,
)

RULES = [NO_SECRETS, NO_RANDOM_VALUES, PINNED_IMAGES]
