"""Property-based: whatever the input, the config loader and the review diff give a result or a
clear error (`ConfigError`, `ReviewInputError`), never another exception."""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from ocift.review import review_trees
from ocift.review.load import ReviewInputError
from ocift.review.render import to_json, to_markdown, to_text
from stacks.config import EnvironmentConfig
from stacks.errors import ConfigError
from stacks.loader import load_configs
from tests.support import SHIPPED, STACKS_DIR, shipped

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(
        ["ocid1.subnet.oc1.iad.aaaa", "ocid1.vcn.oc1..x", "0", "10.0.0.0/16", "oci://b@ns/p", "VM.Standard.E4.Flex"]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12,
)


def load_text(text: str, name: str = "dev.yaml") -> list[EnvironmentConfig] | ConfigError:
    """Load `text` as a config file: the configs, or the ConfigError (anything else propagates)."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / name
        path.write_text(text)
        try:
            return load_configs([path])
        except ConfigError as exc:
            assert exc.problems and all(p.message for p in exc.problems)
            assert name in str(exc)  # the file is named
            return exc


def paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into nested dicts/lists."""
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += paths(value, (*prefix, index))
    return found


def mutate(data: Any, path: tuple, action: str, value: Any) -> Any:
    if not path:
        return value
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    if action == "delete":
        del parent[path[-1]]
    elif action == "add" and isinstance(parent, dict):
        parent[f"{path[-1]}_extra"] = value
    else:
        parent[path[-1]] = value
    return data


@SETTINGS
@given(st.text(max_size=300))
def test_any_text_is_a_config_or_a_config_error(text: str) -> None:
    load_text(text)


@SETTINGS
@given(st.sampled_from(SHIPPED), st.data())
def test_a_truncated_shipped_config_is_a_config_or_a_config_error(path: Path, data: st.DataObject) -> None:
    text = path.read_text()
    load_text(text[: data.draw(st.integers(0, len(text)), label="cut")], path.name)


@SETTINGS
@given(st.sampled_from([p.stem for p in SHIPPED]), st.data())
def test_a_mutated_shipped_config_is_a_config_or_a_config_error(env: str, data: st.DataObject) -> None:
    config = copy.deepcopy(shipped(env))
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        where = data.draw(st.sampled_from(paths(config)), label="path")
        config = mutate(
            config,
            where,
            data.draw(st.sampled_from(["set", "delete", "add"]), label="action"),
            data.draw(values, label="value"),
        )
    try:
        text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    except yaml.YAMLError:
        return  # not representable as YAML: nothing to load
    load_text(text, f"{env}.yaml")


def test_the_shipped_configs_load() -> None:
    """The properties above start from valid configs (else they would only ever see errors)."""
    assert {c.environment for c in load_configs(SHIPPED)} == {p.stem for p in SHIPPED}
    assert STACKS_DIR.is_dir()


# ---- the review diff ---------------------------------------------------------------------------

TYPES = ["oci_objectstorage_bucket", "oci_identity_policy", "oci_datascience_job", "oci_core_vcn", "oci_unknown_thing"]
attrs = st.dictionaries(
    st.sampled_from(
        [
            "name",
            "statements",
            "compartment_id",
            "freeform_tags",
            "versioning",
            "display_name",
            "lifecycle",
            "//",
            "job_node_configuration_details",
        ]
    ),
    st.one_of(
        values,
        st.lists(
            st.sampled_from(
                [
                    "Allow dynamic-group g to manage objects in compartment id c",
                    "Allow any-user to manage all-resources in tenancy",
                    "Allow",
                    "",
                    "nonsense ((",
                    "Allow group g to read buckets in tenancy where target.bucket.name = 'x'",
                ]
            ),
            max_size=3,
        ),
    ),
    max_size=5,
)
resources = st.dictionaries(
    st.sampled_from(TYPES),
    st.dictionaries(st.sampled_from(["a", "b", "outputs_bucket"]), attrs, max_size=3),
    max_size=3,
)
well_formed = st.fixed_dictionaries({"resource": resources}, optional={"data": resources, "//": values})
documents = st.one_of(
    well_formed, st.dictionaries(st.sampled_from(["resource", "data", "terraform", "//"]), values, max_size=3)
)
trees = st.dictionaries(st.sampled_from(["ocift-dev-app", "ocift-dev-network"]), documents, max_size=2)


def review(base: dict, head: dict):
    """The report rendered every way, or the ReviewInputError (anything else propagates)."""
    try:
        report = review_trees(base, head)
    except ReviewInputError as exc:
        assert str(exc)
        return exc
    for render in (to_markdown, to_text, to_json):
        assert isinstance(render(report), str)
    json.loads(to_json(report))
    return report


@SETTINGS
@given(trees, trees)
def test_any_pair_of_trees_is_reviewed_or_a_review_input_error(base: dict, head: dict) -> None:
    review(base, head)


@SETTINGS
@given(well_formed, well_formed)
def test_well_formed_documents_are_always_reviewed(base: dict, head: dict) -> None:
    assert not isinstance(review({"s": base}, {"s": head}), ReviewInputError)
