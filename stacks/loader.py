"""Loading environment configs: YAML to a validated `EnvironmentConfig`, every problem of every
file at once (`ConfigError`), each naming the file, the dotted field and its line.

`config` is the schema; this module maps what pydantic and the recipe report onto the lines
the author wrote.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import ValidationError

from contract.names import secret_format
from contract.recipe import Recipe, RecipeError
from stacks import yamlsource
from stacks.config import EnvironmentConfig, semantic_problems
from stacks.errors import ConfigError, Problem
from stacks.pydantic_paths import describe


def load_configs(paths: list[Path]) -> list[EnvironmentConfig]:
    """Load and validate every file; raises one ConfigError holding every file's problems."""
    configs: list[EnvironmentConfig] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for path in paths:
        config, found = _load(path)
        problems += found
        if config is None:
            continue
        display = display_name(path)
        if config.environment in seen:
            problems.append(
                Problem(
                    display, "environment", f"{config.environment!r} is already defined by {seen[config.environment]}"
                )
            )
        seen[config.environment] = display
        configs.append(config)
    problems += shared_name_problems(configs)
    if problems:
        raise ConfigError(problems)
    return configs


def shared_name_problems(configs: list[EnvironmentConfig]) -> list[Problem]:
    """Names OCI scopes wider than one environment, refused when two configs collide (the second
    create would fail): OCIR repositories and dynamic groups are unique in the tenancy (OCI release
    note "Support for repositories in compartments"; dynamic groups live in the tenancy), policies
    in their compartment, buckets in their namespace. A bucket given two compartments means one
    grant names the wrong one (a bucket lives in exactly one)."""
    problems: list[Problem] = []
    claimed: dict[tuple[str, ...], tuple[str, str]] = {}

    def claim(key: tuple[str, ...], config: EnvironmentConfig, field: str, what: str) -> None:
        if key in claimed and claimed[key][0] != config.source:
            other, other_field = claimed[key]
            problems.append(
                Problem(
                    config.source,
                    field,
                    f"{what} {key[-1]!r} is also created by {other} "
                    f"({other_field}): {_SCOPES[key[0]]}; give each environment its own",
                )
            )
        claimed.setdefault(key, (config.source, field))

    placed: dict[tuple[str, str], tuple[str, str, str]] = {}
    for config in configs:
        claim(("repository", config.tenancy_ocid, config.repository), config, "registry.repository", "OCIR repository")
        claim(("dynamic-group", config.tenancy_ocid, config.dynamic_group_name), config, "environment", "dynamic group")
        for compartment, name in config.policies().values():
            claim(("policy", compartment, name), config, "environment", "policy")
        claim(("bucket", config.namespace, config.outputs_bucket), config, "storage.outputs_bucket", "bucket")
        for bucket, (field, compartment) in config.bucket_compartments().items():
            key = (config.namespace, bucket)
            if key in placed and placed[key][2] != compartment:
                other, other_field, other_compartment = placed[key]
                problems.append(
                    Problem(
                        config.source,
                        field,
                        f"bucket {bucket!r} is in compartment {compartment} "
                        f"here but in {other_compartment} in {other} ({other_field}): a bucket "
                        "lives in one compartment, so one grant names the wrong one",
                    )
                )
            placed.setdefault(key, (config.source, field, compartment))
    return problems


_SCOPES = {
    "repository": "OCIR repository names are unique across the whole tenancy",
    "dynamic-group": "dynamic group names are unique in the tenancy",
    "policy": "policy names are unique in their compartment",
    "bucket": "bucket names are unique in the namespace",
}


def display_name(path: Path) -> str:
    """The path as a user would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _load(path: Path) -> tuple[EnvironmentConfig | None, list[Problem]]:
    source, problems = yamlsource.read(path, display_name(path))
    if source is None:
        return None, problems
    placeholders = dict(_placeholders(source.data))
    problems = [
        Problem(
            source.file, _dotted(loc), f"{text!r} is a placeholder: replace it with the real value", source.line_of(loc)
        )
        for loc, text in placeholders.items()
    ]
    config = None
    try:
        config = EnvironmentConfig.model_validate(source.data)
    except ValidationError as exc:
        for error in exc.errors():
            loc, message = describe(EnvironmentConfig, error)
            if not any(loc[: len(p)] == p for p in placeholders):  # the placeholder says it better
                problems.append(
                    Problem(source.file, _dotted(loc), _redacted(loc, message, error.get("input")), source.line_of(loc))
                )
    problems += _recipe_problems(source)
    if config is not None:
        config._source = source.file
    if config is not None:
        problems += [
            Problem(source.file, _dotted(loc), msg, source.line_of(loc)) for loc, msg in semantic_problems(config)
        ]
    return (config if not problems else None), problems


_PLACEHOLDER = re.compile(r"<[^<>\s][^<>]*>")
"""`<namespace>`, `<id>`, `<64 hex>`: what the docs' examples leave for the author to fill in."""


def _placeholders(data: object, loc: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], str]]:
    """(location, value) of every string still holding a placeholder. In the recipe only `oci://` URIs
    count: its free text (a prompt template's `<s>`, `<|user|>`) may hold angle brackets on purpose."""
    if isinstance(data, dict):
        return [found for key, value in data.items() for found in _placeholders(value, (*loc, key))]
    if isinstance(data, list):
        return [found for i, value in enumerate(data) for found in _placeholders(value, (*loc, i))]
    if not isinstance(data, str) or (loc[:2] == ("training", "recipe") and not data.startswith("oci://")):
        return []
    return [(loc, data)] if _PLACEHOLDER.search(data) else []


def _redacted(loc: tuple[str | int, ...], message: str, value: object) -> str:
    """A refused value under `secrets`, or one that looks like a credential, is never echoed."""
    values = [str(v) for v in value.values()] if isinstance(value, dict) else [str(value)]
    if "secrets" in loc or any(secret_format(v) for v in values):
        for text in sorted(values, key=len, reverse=True):
            if text:
                message = message.replace(repr(text), "<redacted>").replace(text, "<redacted>")
    return message


def _recipe_problems(source: yamlsource.Source) -> list[Problem]:
    """Validate `training.recipe` with the launcher's definition, blaming `training.recipe.<option>`."""
    training = source.data.get("training")
    recipe = training.get("recipe") if isinstance(training, dict) else None
    if not isinstance(recipe, dict):
        return []
    try:
        Recipe.from_mapping(recipe, "training.recipe")
    except RecipeError as exc:
        return [_recipe_problem(source, text) for text in exc.problems]
    return []


_OPTION_PROBLEM = re.compile(r"^(?P<option>[a-z_]+(\.[a-z_]+)?(\.[0-9]+)?): (?P<message>.*)$", re.S)
_UNKNOWN_OPTION = re.compile(r"^unknown option '(?P<option>[^']+)'(?P<rest>.*)$", re.S)


def _recipe_problem(source: yamlsource.Source, text: str) -> Problem:
    """Turn one RecipeError line into a Problem at `training.recipe.<option>` where it names one."""
    option, message = "", text
    if match := _UNKNOWN_OPTION.match(text):
        option, message = match.group("option"), "unknown option" + match.group("rest")
    elif match := _OPTION_PROBLEM.match(text):
        option, message = match.group("option"), match.group("message")
    loc: tuple[str | int, ...] = ("training", "recipe", *option.split(".")) if option else ("training", "recipe")
    flat = ("training", "recipe", option.rpartition(".")[2])
    if loc not in source.lines and flat in source.lines:
        loc = flat  # the author wrote the bare llama-recipes name: point at what they wrote
    return Problem(source.file, _dotted(loc), message, source.line_of(loc))


def _dotted(loc: tuple[str | int, ...]) -> str:
    """('training', 'node_groups', 0, 'replicas') -> 'training.node_groups[0].replicas'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
