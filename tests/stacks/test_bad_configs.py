"""The table of bad configs: each fails with its field path and file named, a non-zero exit,
and nothing written to the output directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ocift import validate
from stacks.app import synth_all
from stacks.errors import ConfigError
from tests.support import write_config

SUBNET = "ocid1.subnet.oc1.iad.aaaaaaaaexamplesubnet000000000000000000000000000000000"


def _parent(data: dict[str, Any], path: str) -> tuple[Any, Any]:
    """The container holding the dotted `path` (numbers index lists) and the last key."""
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node: Any = data
    for part in parents:
        node = node.setdefault(part, {}) if isinstance(node, dict) else node[part]
    return node, last


def _set(path: str, value: Any):
    """A mutation setting `path` to `value`."""

    def mutate(data: dict[str, Any]) -> None:
        node, last = _parent(data, path)
        node[last] = value

    return mutate


def _delete(path: str):
    def mutate(data: dict[str, Any]) -> None:
        node, last = _parent(data, path)
        del node[last]

    return mutate


def _rename(path: str, new: str):
    def mutate(data: dict[str, Any]) -> None:
        node, last = _parent(data, path)
        node[new] = node.pop(last)

    return mutate


def _both(*mutations):
    def mutate(data: dict[str, Any]) -> None:
        for m in mutations:
            m(data)

    return mutate


# (env, mutate-on-data, mutate-on-text, expected text of the problem)
BAD = [
    pytest.param(
        "dev",
        _rename("training.node_groups.0.replicas", "replica"),
        None,
        "training.node_groups[0].replica: unknown key (did you mean 'replicas'?)",
        id="typo-unknown-key",
    ),
    pytest.param(
        "dev",
        _set("storage.versionning", True),
        None,
        "storage.versionning: unknown key (did you mean 'versioning'?)",
        id="typo-in-section",
    ),
    pytest.param(
        "dev",
        _set("network.subnet_ocid", SUBNET),
        None,
        "network.subnet_ocid: unknown key",
        id="field-of-another-network-mode",
    ),
    pytest.param(
        "dev",
        _set("training.max_runtime_minutes", "a day"),
        None,
        "training.max_runtime_minutes: Input should be a valid integer",
        id="wrong-type",
    ),
    pytest.param(
        "dev",
        _set("compartment_ocid", SUBNET),
        None,
        "compartment_ocid: expected ocid1.compartment. or ocid1.tenancy. OCID, not a subnet OCID",
        id="ocid-of-wrong-type",
    ),
    pytest.param(
        "dev", _set("storage.kms_key_ocid", "my-prod-key"), None, "storage.kms_key_ocid: not an OCID", id="not-an-ocid"
    ),
    pytest.param(
        "dev",
        _set("network", {"mode": "existing", "subnet_ocid": "ocid1.vcn.oc1.iad.aaaaaaaaexamplevcn0000"}),
        None,
        "network.subnet_ocid: expected ocid1.subnet. OCID, not a vcn OCID",
        id="subnet-ocid-of-vcn",
    ),
    pytest.param(
        "dev",
        _set("training.launcher.secrets", {"HF_TOKEN": "ocid1.key.oc1.iad.aaaaaaaaexamplekey0000"}),
        None,
        "training.launcher.secrets: HF_TOKEN: <redacted> is not a vault secret OCID",
        id="secret-not-vaultsecret",
    ),
    pytest.param(
        "dev",
        _set("training.node_groups.0.replicas", 0),
        None,
        "training.node_groups[0].replicas: Input should be greater than or equal to 1 (got 0)",
        id="zero-replicas",
    ),
    pytest.param(
        "dev",
        _set("training.node_groups.0.replicas", -2),
        None,
        "training.node_groups[0].replicas: Input should be greater than or equal to 1 (got -2)",
        id="negative-replicas",
    ),
    pytest.param(
        "dev",
        _set("training.node_groups.0.minimum_success_replicas", 3),
        None,
        "training.node_groups[0]: minimum_success_replicas (3) exceeds replicas (2)",
        id="min-success-over-replicas",
    ),
    pytest.param(
        "dev",
        _set("training.runs", [{"name": "smoke"}]),
        None,
        "training: runs: deploy no longer starts runs",
        id="declared-runs",
    ),
    pytest.param(
        "prod",
        _delete("training.image.tag"),
        None,
        "training.image.tag: required field is missing",
        id="image-digest-without-tag",
    ),
    pytest.param(
        "dev",
        _set("namespace", "<object storage namespace>"),
        None,
        "namespace: '<object storage namespace>' is a placeholder: replace it with the real value",
        id="placeholder",
    ),
    pytest.param(
        "dev",
        _set("training.recipe.data_path", "oci://ocift-datasets@<namespace>/samsum/"),
        None,
        "training.recipe.data_path: 'oci://ocift-datasets@<namespace>/samsum/' is a placeholder",
        id="placeholder-in-recipe",
    ),
    pytest.param(
        "dev",
        _set("training.recipe.data_path", "oci://ocift-datasets@exampletenancyns/" + "x" * 2100),
        None,
        "training.recipe: renders to",
        id="recipe-over-the-command-limit",
    ),
    pytest.param(
        "dev",
        _delete("training.node_groups.0.ocpus"),
        None,
        "training.node_groups[0]: flex shape VM.Standard.E4.Flex needs ocpus and memory_gbs",
        id="flex-without-ocpus",
    ),
    pytest.param(
        "dev",
        _set("training.recipe.lora_config.r", 0),
        None,
        "training.recipe.lora_config.r: Input should be greater than or equal to 1 (got 0)",
        id="recipe-bad-value",
    ),
    pytest.param(
        "dev",
        _set("training.recipe.lora_config.rank", 8),
        None,
        "training.recipe.lora_config.rank: unknown option (did you mean 'lora_config.r'?)",
        id="recipe-unknown-option",
    ),
    pytest.param(
        "dev",
        _set("training.recipe.batching_strategy", "bucketing"),
        None,
        "training.recipe.batching_strategy: Input should be 'packing' or 'padding'",
        id="recipe-bad-choice",
    ),
    pytest.param(
        "dev",
        _both(_set("training.recipe.use_peft", False), _set("training.recipe.merge_lora", True)),
        None,
        "training.recipe: merge_lora needs use_peft",
        id="recipe-contradiction",
    ),
    pytest.param(
        "dev",
        None,
        lambda t: t.replace("  mode: create\n", "  mode: create\n   vcn: [10.0.0.0/16\n"),
        "dev.yaml: invalid YAML",
        id="malformed-yaml",
    ),
    pytest.param(
        "dev",
        None,
        lambda t: t[: t.index("training:")],
        "dev.yaml: training: required field is missing",
        id="truncated-yaml-missing-section",
    ),
    pytest.param(
        "prod",
        None,
        lambda t: t[: t.index('"0.1.0"') + 4],
        "prod.yaml: invalid YAML: found unexpected end of stream",
        id="truncated-yaml-mid-string",
    ),
    pytest.param(
        "dev",
        None,
        lambda t: t.replace("namespace: exampletenancyns\n", "namespace: exampletenancyns\nregion: eu-frankfurt-1\n"),
        "dev.yaml: region: duplicate key (first set on line 5)",
        id="duplicate-key",
    ),
    pytest.param("dev", None, lambda t: "# nothing here yet\n", "dev.yaml: the file is empty", id="empty-file"),
    pytest.param(
        "dev",
        None,
        lambda t: "- " + t.replace("\n", "\n  "),
        "dev.yaml: expected a mapping of fields at the top",
        id="top-level-list",
    ),
    pytest.param("dev", _delete("region"), None, "dev.yaml: region: required field is missing", id="missing-required"),
    pytest.param(
        "dev",
        _set("state", {"backend": "s4", "bucket": "b"}),
        None,
        "state.backend: must be one of 'oci', 's3', 'local' (got 's4')",
        id="unknown-backend",
    ),
    pytest.param(
        "dev", _set("tags", {"project": "ocift"}), None, "tags: missing environment", id="missing-required-tag"
    ),
    pytest.param(
        "dev",
        _set("network.subnet_cidr", "10.99.0.0/24"),
        None,
        "network: subnet_cidr 10.99.0.0/24 is not inside vcn_cidr 10.10.0.0/16",
        id="subnet-outside-vcn",
    ),
    pytest.param(
        "dev",
        _set("training.launcher.output_uri", "oci://somewhere-else@exampletenancyns/x/"),
        None,
        "training.launcher.output_uri: must be oci://ocift-dev-outputs@exampletenancyns/...",
        id="output-outside-bucket",
    ),
    pytest.param(
        "dev",
        _set("training.job_name", "my job/v2"),
        None,
        "training.job_name: String should match pattern",
        id="job-name-not-a-display-name",
    ),
    pytest.param(
        "dev",
        _set("registry.repository", "ocift//launcher-"),
        None,
        "registry.repository: String should match pattern",
        id="bad-repository-name",
    ),
    pytest.param(
        "dev",
        _set("training.image.registry", "docker.io"),
        None,
        "training.image.registry: String should match pattern",
        id="image-not-in-ocir",
    ),
    pytest.param(
        "prod",
        _delete("training.image.digest"),
        None,
        "prod.yaml: training.image.digest: production environments must pin the image to a digest",
        id="unpinned-image-in-prod",
    ),
    pytest.param(
        "prod",
        _set("storage.prevent_destroy", False),
        None,
        "storage.prevent_destroy: production environments must protect the outputs bucket",
        id="prod-unprotected",
    ),
    pytest.param(
        "prod",
        _set("state", {"backend": "local"}),
        None,
        "state.backend: production environments need a remote state backend",
        id="prod-local-state",
    ),
]


@pytest.mark.parametrize(("env", "mutate", "text", "expected"), BAD)
def test_bad_config_fails_synth_and_writes_nothing(tmp_path: Path, env, mutate, text, expected: str) -> None:
    config = write_config(tmp_path, env, mutate, text)
    outdir = tmp_path / "cdktf.out"
    with pytest.raises(ConfigError) as caught:
        synth_all(outdir, [config])
    assert expected in str(caught.value)
    assert all(p.file.endswith(f"{env}.yaml") for p in caught.value.problems)
    assert not outdir.exists()


@pytest.mark.parametrize(("env", "mutate", "text", "expected"), BAD)
def test_bad_config_fails_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], env, mutate, text, expected
) -> None:
    config = write_config(tmp_path, env, mutate, text)
    assert validate.main([str(config)]) != 0
    assert expected in capsys.readouterr().err


def test_angle_brackets_in_a_prompt_template_are_not_placeholders(tmp_path: Path) -> None:
    template = "<s>[INST] {dialogue} [/INST]"
    config = write_config(
        tmp_path,
        "dev",
        _both(_set("training.recipe.dataset", "custom_dataset"), _set("training.recipe.prompt_template", template)),
    )
    assert synth_all(tmp_path / "out", [config]).ok


def test_a_refused_secret_is_never_echoed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token = "hf_" + "a1B2c3D4e5" * 4
    config = write_config(tmp_path, "dev", _set("training.launcher.secrets", {"HF_TOKEN": token}))
    assert validate.main([str(config)]) != 0
    out = capsys.readouterr()
    assert "training.launcher.secrets: HF_TOKEN: <redacted>" in out.err
    assert token not in out.out + out.err and token[:12] not in out.out + out.err


def test_names_oci_scopes_wider_than_an_environment_must_not_collide(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """OCIR repositories are unique in the tenancy, buckets in the namespace: dev and a copy that
    reuses dev's repository and outputs bucket could never both be created."""
    dev = write_config(tmp_path, "dev", _set("registry.repository", "ocift/launcher"))
    (tmp_path / "b").mkdir()
    staging = write_config(
        tmp_path / "b",
        "dev",
        _both(
            _set("environment", "staging"),
            _set("tags.environment", "staging"),
            _set("registry.repository", "ocift/launcher"),
            _set("storage.outputs_bucket", "ocift-dev-outputs"),
            _set("training.launcher.output_uri", "oci://ocift-dev-outputs@exampletenancyns/staging/"),
        ),
    )
    assert validate.main([str(dev), str(staging)]) != 0
    err = capsys.readouterr().err
    assert (
        f"{staging}: registry.repository: OCIR repository 'ocift/launcher' is also created by {dev} "
        "(registry.repository): OCIR repository names are unique across the whole tenancy"
    ) in err
    assert f"{staging}: storage.outputs_bucket: bucket 'ocift-dev-outputs' is also created by {dev}" in err


def test_one_bucket_in_two_compartments_is_refused(tmp_path: Path) -> None:
    dev = write_config(tmp_path, "dev")
    prod = write_config(tmp_path, "prod", _delete("storage.inputs_compartment_ocid"))
    with pytest.raises(ConfigError) as caught:
        synth_all(tmp_path / "out", [dev, prod])
    assert [(p.file, p.path) for p in caught.value.problems] == [(str(prod), "storage.inputs_compartment_ocid")] * 2
    datasets, models = caught.value.problems
    assert "bucket 'ocift-datasets' is in compartment ocid1.compartment.oc1..aaaaaaaaexampleprod" in datasets.message
    assert "bucket 'ocift-models'" in models.message
    assert str(dev) in datasets.message and "one grant names the wrong one" in datasets.message


def test_the_shipped_environments_share_no_name_and_agree_on_every_bucket(tmp_path: Path) -> None:
    assert synth_all(tmp_path / "out", [write_config(tmp_path, "dev"), write_config(tmp_path, "prod")]).ok


def test_every_problem_of_every_file_is_reported_together(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    dev = write_config(
        tmp_path / "a",
        "dev",
        _both(
            _set("training.node_groups.0.replicas", 0), _set("training.recipe.lora_config.r", 0), _set("regoin", "x")
        ),
    )
    prod = write_config(tmp_path / "b", "prod", _set("compartment_ocid", SUBNET))
    with pytest.raises(ConfigError) as caught:
        synth_all(tmp_path / "out", [dev, prod])
    text = str(caught.value)
    for expected in (
        "training.node_groups[0].replicas",
        "training.recipe.lora_config.r",
        "regoin: unknown key",
        "prod.yaml: compartment_ocid",
    ):
        assert expected in text
    assert not (tmp_path / "out").exists()


def test_two_files_defining_one_environment(tmp_path: Path) -> None:
    (tmp_path / "copy").mkdir()
    first = write_config(tmp_path, "dev")
    second = write_config(tmp_path / "copy", "dev")
    with pytest.raises(ConfigError, match="environment: 'dev' is already defined by"):
        synth_all(tmp_path / "out", [first, second])


def test_problem_lines_point_at_the_field(tmp_path: Path) -> None:
    config = write_config(tmp_path, "dev", text=lambda t: t.replace("      replicas: 2", "      replicas: 0"))
    with pytest.raises(ConfigError) as caught:
        synth_all(tmp_path / "out", [config])
    [problem] = caught.value.problems
    assert problem.line is not None
    assert config.read_text().splitlines()[problem.line - 1].strip() == "replicas: 0"


def test_cross_field_and_recipe_problems_are_reported_together(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, "prod", _both(_delete("training.image.digest"), _set("training.recipe.lora_config.r", 0))
    )
    with pytest.raises(ConfigError) as caught:
        synth_all(tmp_path / "out", [config])
    assert [p.path for p in caught.value.problems] == ["training.recipe.lora_config.r", "training.image.digest"]


def test_nothing_to_synthesize_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no environment configs"):
        synth_all(tmp_path / "out", [])
    assert not (tmp_path / "out").exists()
