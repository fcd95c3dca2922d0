"""Loading environment configs: YAML to a validated `EnvironmentConfig`, every problem of every
file at once (`ConfigError`), each naming the file, the dotted field and its line.

`config` is the schema; this module maps what pydantic and the recipe report onto the lines
the author wrote.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import ValidationError

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
            problems.append(Problem(display, "environment",
                                    f"{config.environment!r} is already defined by {seen[config.environment]}"))
        seen[config.environment] = display
        configs.append(config)
    if problems:
        raise ConfigError(problems)
    return configs


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
    problems = []
    config = None
    try:
        config = EnvironmentConfig.model_validate(source.data)
    except ValidationError as exc:
        for error in exc.errors():
            loc, message = describe(EnvironmentConfig, error)
            problems.append(Problem(source.file, _dotted(loc), message, source.line_of(loc)))
    problems += _recipe_problems(source)
    if config is not None:
        config._source = source.file
    if config is not None:
        problems += [Problem(source.file, _dotted(loc), msg, source.line_of(loc))
                     for loc, msg in semantic_problems(config)]
    return (config if not problems else None), problems


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
