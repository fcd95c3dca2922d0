import pytest

from cdk.iam import DynamicGroupPrincipal
from cdk.logs import CustomLog, CustomLogProps, LogGroup, LogGroupProps
from cdk.network import Network, NetworkProps
from cdk.props import PropsError
from cdk.registry import ImageReference
from cdk.storage import Bucket, BucketProps, StorageMount
from cdk.training_job import (
    DataScienceProject,
    NodeGroup,
    ProjectProps,
    TrainingJob,
    TrainingJobProps,
)
from contract.names import MAX_COMMAND_BYTES, command_bytes
from contract.recipe import Recipe
from contract.settings import LauncherSettings

from ._synth import (
    COMPARTMENT,
    DIGEST,
    NET_COMPARTMENT,
    SECRET,
    only,
    resources,
    synth,
)

PRINCIPAL = DynamicGroupPrincipal.job_runs("ocift-dev-jobruns", COMPARTMENT)
IMAGE = ImageReference.parse(f"iad.ocir.io/tenancyns/ocift/trainer:1.0@{DIGEST}")
PROJECT = "ocid1.datascienceproject.oc1.iad.aaaaproject"
RECIPE = Recipe.from_mapping(
    {
        "model_name": "meta-llama/Llama-3.2-1B",
        "enable_fsdp": True,
        "use_peft": True,
        "num_epochs": 1,
        "lora_config": {"r": 16},
        "dataset": "custom_dataset",
        "prompt_template": "Summarize: {dialogue}",
    }
)
SETTINGS = LauncherSettings(
    output_uri="oci://ocift-dev-outputs@tenancyns/runs", nproc_per_node=8, secrets={"HF_TOKEN": SECRET}
)


def _props(stack, **overrides) -> TrainingJobProps:
    values = dict(
        display_name="ocift-dev-finetune",
        compartment_id=COMPARTMENT,
        project_id=PROJECT,
        principal=PRINCIPAL,
        network=overrides.pop("network", None) or Network(stack, "job_network", NetworkProps(mode="default")),
        image=IMAGE,
        node_groups=[NodeGroup(name="nodes", shape="BM.GPU.H100.8", replicas=2)],
        recipe=RECIPE,
        settings=SETTINGS,
        tags={"env": "dev"},
    )
    values.update(overrides)
    return TrainingJobProps(**values)


def _group(job):
    return job["job_node_configuration_details"]["job_node_group_configuration_details_list"]


def test_multi_node_job_structure(stack):
    TrainingJob(
        stack,
        "finetune_job",
        _props(
            stack,
            maximum_runtime_minutes=720,
            startup_order="IN_ORDER",
            environment={"NCCL_DEBUG": "WARN"},
            entrypoint=["python", "-m", "launcher"],
            node_groups=[
                NodeGroup(name="main", shape="BM.GPU.H100.8"),
                NodeGroup(
                    name="workers",
                    shape="VM.Standard.E4.Flex",
                    replicas=3,
                    minimum_success_replicas=2,
                    ocpus=16,
                    memory_in_gbs=256,
                    block_storage_gbs=500,
                ),
            ],
        ),
    )
    job = only(synth(stack), "oci_datascience_job")
    for top_level in (
        "job_configuration_details",
        "job_infrastructure_configuration_details",
        "job_environment_configuration_details",
    ):
        assert top_level not in job
    assert (job["compartment_id"], job["project_id"], job["display_name"]) == (
        COMPARTMENT,
        PROJECT,
        "ocift-dev-finetune",
    )
    assert job["delete_related_job_runs"] is True and job["freeform_tags"] == {"env": "dev"}
    node = job["job_node_configuration_details"]
    assert node["job_node_type"] == "MULTI_NODE"
    assert node["startup_order"] == "IN_ORDER"
    assert node["maximum_runtime_in_minutes"] == "720"  # a string in the schema
    assert node["job_network_configuration"] == {"job_network_type": "DEFAULT_NETWORK"}

    main, workers = _group(job)
    assert (main["name"], main["replicas"], main["minimum_success_replicas"]) == ("main", 1, 1)
    assert (workers["name"], workers["replicas"], workers["minimum_success_replicas"]) == ("workers", 3, 2)
    assert main["job_infrastructure_configuration_details"] == {
        "job_infrastructure_type": "MULTI_NODE",
        "shape_name": "BM.GPU.H100.8",
        "block_storage_size_in_gbs": 100,
    }
    assert workers["job_infrastructure_configuration_details"]["job_shape_config_details"] == {
        "ocpus": 16,
        "memory_in_gbs": 256,
    }
    assert workers["job_infrastructure_configuration_details"]["block_storage_size_in_gbs"] == 500
    env = main["job_environment_configuration_details"]
    assert env == {
        "job_environment_type": "OCIR_CONTAINER",
        "image": "iad.ocir.io/tenancyns/ocift/trainer:1.0",
        "image_digest": DIGEST,
        "entrypoint": ["python", "-m", "launcher"],
        "cmd": RECIPE.to_args(),
    }
    assert workers["job_environment_configuration_details"] == env


def test_arguments_and_environment_render_the_contracts(stack):
    TrainingJob(stack, "finetune_job", _props(stack, environment={"NCCL_DEBUG": "WARN"}))
    [group] = _group(only(synth(stack), "oci_datascience_job"))
    config = group["job_configuration_details"]
    assert config["job_type"] == "DEFAULT" and "command_line_arguments" not in config
    args = group["job_environment_configuration_details"]["cmd"]  # Docker CMD: arguments to the ENTRYPOINT
    assert args == RECIPE.to_args()
    assert Recipe.from_args(args) == RECIPE  # the launcher reads back the same recipe
    assert "Summarize: {dialogue}" in args  # one argument despite the space
    env = config["environment_variables"]
    assert env == {**SETTINGS.to_env(), "NCCL_DEBUG": "WARN"}
    assert LauncherSettings.from_env(env) == SETTINGS
    assert env["OCIFT_SECRETS"] == f"HF_TOKEN={SECRET}"  # only the OCID travels


def test_custom_network_log_and_mounts(stack):
    net = Network(stack, "job_network", NetworkProps(compartment_id=NET_COMPARTMENT, name="ocift-dev"))
    group = LogGroup(stack, "job_log_group", LogGroupProps(display_name="ocift-dev-jobs", compartment_id=COMPARTMENT))
    log = CustomLog(stack, "train_log", CustomLogProps(display_name="ocift-dev-train", log_group=group))
    data = Bucket(
        stack, "data_bucket", BucketProps(name="ocift-dev-data", compartment_id=COMPARTMENT, namespace="tenancyns")
    )
    TrainingJob(
        stack,
        "finetune_job",
        _props(stack, network=net, log=log, mounts=[data.mount("data", prefix="samsum/"), data.mount("all")]),
    )
    out = synth(stack)
    job = only(out, "oci_datascience_job")
    (subnet,) = resources(out, "oci_core_subnet")
    assert job["job_node_configuration_details"]["job_network_configuration"] == {
        "job_network_type": "CUSTOM_NETWORK",
        "subnet_id": f"${{oci_core_subnet.{subnet}.id}}",
    }
    (group_id,), (log_id,) = resources(out, "oci_logging_log_group"), resources(out, "oci_logging_log")
    assert job["job_log_configuration_details"] == {
        "enable_logging": True,
        "enable_auto_log_creation": False,
        "log_group_id": f"${{oci_logging_log_group.{group_id}.id}}",
        "log_id": f"${{oci_logging_log.{log_id}.id}}",
    }
    assert job["job_storage_mount_configuration_details_list"] == [
        {
            "storage_type": "OBJECT_STORAGE",
            "bucket": "ocift-dev-data",
            "namespace": "tenancyns",
            "prefix": "samsum/",
            "destination_directory_name": "data",
        },
        {
            "storage_type": "OBJECT_STORAGE",
            "bucket": "ocift-dev-data",
            "namespace": "tenancyns",
            "destination_directory_name": "all",
        },
    ]


def test_a_recipe_over_the_command_limit_fails_at_synth(stack):
    """OCI limits CMD plus ENTRYPOINT to under 2048 bytes: a long prompt template is refused, naming the recipe."""
    long = Recipe.from_mapping({"model_name": "m", "dataset": "custom_dataset", "prompt_template": "x" * 2100})
    with pytest.raises(PropsError) as err:
        TrainingJob(stack, "job", _props(stack, recipe=long, entrypoint=["python", "-m", "launcher"]))
    [problem] = err.value.problems
    assert problem.startswith("recipe: ENTRYPOINT plus CMD take ") and "OCI allows under 2048" in problem
    assert command_bytes(["python", "-m", "launcher"], long.to_args()) >= MAX_COMMAND_BYTES


def test_cmd_and_recipe_exclude_each_other(stack):
    with pytest.raises(PropsError, match="cmd: the recipe is the CMD: give a recipe or a cmd, not both"):
        TrainingJob(stack, "job", _props(stack, cmd=["--help"]))
    TrainingJob(
        stack,
        "plain",
        _props(
            stack, recipe=None, cmd=["--help"], network=Network(stack, "other_network", NetworkProps(mode="default"))
        ),
    )
    [group] = _group(only(synth(stack), "oci_datascience_job"))
    assert group["job_environment_configuration_details"]["cmd"] == ["--help"]


def test_a_job_declares_no_runs(stack):
    """Provider 8.28.0 makes apply wait for a declared run to end: runs start with `ocift run start`."""
    job = TrainingJob(stack, "finetune_job", _props(stack))
    assert not hasattr(job, "add_run")
    assert "oci_datascience_job_run" not in synth(stack)["resource"]


def test_project(stack):
    project = DataScienceProject(
        stack, "project", ProjectProps(display_name="ocift-dev", compartment_id=COMPARTMENT, tags={"env": "dev"})
    )
    out = synth(stack)
    assert only(out, "oci_datascience_project") == {
        "compartment_id": COMPARTMENT,
        "display_name": "ocift-dev",
        "description": "ocift distributed fine-tuning",
        "freeform_tags": {"env": "dev"},
    }
    assert project.id.startswith("${")


def test_job_props_report_every_error(stack):
    groups = [
        NodeGroup(name="nodes", shape="VM.Standard.E4.Flex", replicas=0, block_storage_gbs=10),
        NodeGroup(name="nodes", shape="BM.GPU.H100.8", replicas=2, minimum_success_replicas=3, ocpus=4),
    ]
    mounts = [StorageMount(bucket="b", namespace="ns", destination=f"d{i % 5}") for i in range(6)]
    with pytest.raises(PropsError) as err:
        TrainingJob(
            stack,
            "job",
            _props(
                stack,
                principal=DynamicGroupPrincipal.job_runs("dg", "ocid1.compartment.oc1..other"),
                image=ImageReference.parse("iad.ocir.io/tenancyns/ocift/trainer:latest"),
                node_groups=groups,
                environment={
                    "HF_TOKEN": "x",
                    "OCIFT_RDZV_PORT": "1",
                    "NODE_RANK": "0",
                    "1BAD": "x",
                    "NOTES": "hf_" + "a" * 30,
                },
                maximum_runtime_minutes=0,
                mounts=mounts,
            ),
        )
    props = [p.split(":")[0] for p in err.value.problems]
    assert props == [
        "principal",
        "image.digest",
        "node_groups[0].replicas",
        "node_groups[0].ocpus",
        "node_groups[0].memory_in_gbs",
        "node_groups[0].block_storage_gbs",
        "node_groups[0].name",
        "node_groups[1].minimum_success_replicas",
        "node_groups[1].ocpus",
        "node_groups[1].name",
        "environment['HF_TOKEN']",
        "environment['OCIFT_RDZV_PORT']",
        "environment['NODE_RANK']",
        "environment['1BAD']",
        "environment['NOTES']",
        "maximum_runtime_minutes",
        "mounts",
        "mounts[0].destination",
        "mounts[5].destination",
    ]
    assert "resource" not in synth(stack, validate=False)


def test_tag_only_image_allowed_without_require_digest(stack):
    image = ImageReference.parse("iad.ocir.io/tenancyns/ocift/trainer:dev")
    TrainingJob(stack, "job", _props(stack, image=image, require_digest=False, recipe=None))
    group = _group(only(synth(stack), "oci_datascience_job"))[0]
    assert group["job_environment_configuration_details"]["image"] == "iad.ocir.io/tenancyns/ocift/trainer:dev"
    assert "image_digest" not in group["job_environment_configuration_details"]
    assert "cmd" not in group["job_environment_configuration_details"]  # no recipe: the image's own CMD


def test_project_props_report_every_error(stack):
    with pytest.raises(PropsError) as err:
        DataScienceProject(
            stack, "p", ProjectProps(display_name="", compartment_id="ocid1.vcn.oc1..v", tags={"a b": "x"})
        )
    assert [p.split(":")[0] for p in err.value.problems] == ["display_name", "compartment_id", "tags['a b']"]
