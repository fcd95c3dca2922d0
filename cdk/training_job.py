"""The Data Science project and the multi-node distributed training job.

The job renders the two contracts with the runtime half: the recipe as the container's CMD, the
arguments to the image's ENTRYPOINT (`Recipe.to_args`, what a user would type) and the launcher
settings as `OCIFT_*` environment variables (`LauncherSettings.to_env`). Secrets never appear here:
only Vault secret OCIDs, through `settings.secrets`. Almost every job attribute forces replacement,
so the job is cheap to replace and its runs go with it (`delete_related_job_runs`).

Why CMD and not `command_line_arguments`: for an `OCIR_CONTAINER` environment the provider documents
`cmd` as Docker CMD, "arguments to the ENTRYPOINT" (oracle/terraform-provider-oci v8.28.0,
`website/docs/r/datascience_job.html.markdown`), and ADS's ContainerRuntime takes a container's
arguments as `cmd` too (oracle/accelerated-data-science `ads/jobs/builders/runtimes/container_runtime.py`,
`with_cmd`); whether `command_line_arguments` reach an `OCIR_CONTAINER` job is documented nowhere.

Runs are not declared here: with provider 8.28.0 a `oci_datascience_job_run` makes `apply` wait until
the run ends (`internal/service/datascience/datascience_job_run_resource.go`: `CreatedPending()` is
empty when `asynchronous` is true and `CreatedTarget()` lists only SUCCEEDED, NEEDS_ATTENTION, FAILED
and CANCELED, the asynchronous branch commented out; default create timeout one hour), and every
apply after a failure would start the tainted run again. Runs start with `ocift run start`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from constructs import Construct

from cdk.iam import DynamicGroupPrincipal, Policy, Statement, grant_secret_read
from cdk.logs import CustomLog
from cdk.network import Network
from cdk.oci.datascience import (
    DatascienceJob,
    DatascienceJobJobLogConfigurationDetails,
    DatascienceJobJobNodeConfigurationDetails,
    DatascienceJobJobNodeConfigurationDetailsJobNetworkConfiguration as NetworkConfiguration,
    DatascienceJobJobNodeConfigurationDetailsJobNodeGroupConfigurationDetailsList as NodeGroupDetails,
    DatascienceJobJobNodeConfigurationDetailsJobNodeGroupConfigurationDetailsListJobConfigurationDetails as GroupJobConfiguration,  # noqa: E501 (the schema's names)
    DatascienceJobJobNodeConfigurationDetailsJobNodeGroupConfigurationDetailsListJobEnvironmentConfigurationDetails as GroupEnvironment,  # noqa: E501 (the schema's names)
    DatascienceJobJobNodeConfigurationDetailsJobNodeGroupConfigurationDetailsListJobInfrastructureConfigurationDetails as GroupInfrastructure,  # noqa: E501 (the schema's names)
    DatascienceJobJobNodeConfigurationDetailsJobNodeGroupConfigurationDetailsListJobInfrastructureConfigurationDetailsJobShapeConfigDetails as GroupShape,  # noqa: E501 (the schema's names)
    DatascienceJobJobStorageMountConfigurationDetailsList,
    DatascienceProject,
)
from cdk.props import Problems, is_token, validate
from cdk.registry import ImageReference
from cdk.storage import StorageMount
from contract.names import DISPLAY_NAME, MAX_COMMAND_BYTES, SHAPE, command_bytes, is_secret_name, secret_format
from contract.recipe import Recipe
from contract.settings import PREFIX, LauncherSettings

MAX_MOUNTS = 5
"""OCI's limit of storage mounts per job."""

SERVICE_VARIABLES = frozenset(
    {
        "JOB_OCID",
        "JOB_RUN_OCID",
        "JOB_RUN_COMPARTMENT_OCID",
        "PROJECT_OCID",
        "TENANCY_OCID",
        "NODE_RANK",
        "INITIAL_CLUSTER_SIZE",
        "FQDN",
        "CLUSTER_NODES_METADATA_FILE",
        "OCI_RESOURCE_PRINCIPAL_VERSION",
    }
)
"""Variables the Data Science service injects into every node: a job must not set them."""

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_GROUP_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
StartupOrder = Literal["IN_PARALLEL", "IN_ORDER"]


def job_image(image: ImageReference) -> tuple[str, str | None]:
    """(image, image_digest) as the job's environment block takes them: the repository with its tag,
    and the digest apart (OCI's API keeps the two separate)."""
    return f"{image.registry}/{image.namespace}/{image.repository}" + (
        f":{image.tag}" if image.tag else ""
    ), image.digest


# ---- project ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ProjectProps:
    """display_name: `ocift-dev`. compartment_id: where the project, its jobs and runs live."""

    display_name: str
    compartment_id: str
    description: str = "ocift distributed fine-tuning"
    tags: Mapping[str, str] = field(default_factory=dict)

    def problems(self) -> list[str]:
        p = Problems()
        p.name("display_name", self.display_name, DISPLAY_NAME)
        p.ocid("compartment_id", self.compartment_id, ("compartment", "tenancy"))
        p.tags("tags", self.tags)
        return p.items


class DataScienceProject(Construct):
    """A Data Science project (`Resource`): the container of jobs and runs."""

    def __init__(self, scope: Construct, id_: str, props: ProjectProps):
        super().__init__(scope, id_)
        validate(self.node.path, props.problems())
        self.compartment_id = props.compartment_id
        self.resource = DatascienceProject(
            self,
            "Resource",
            compartment_id=props.compartment_id,
            display_name=props.display_name,
            description=props.description,
            freeform_tags=dict(props.tags) or None,
        )

    @property
    def id(self) -> str:
        return self.resource.id


# ---- job ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class NodeGroup:
    """One group of identical nodes.

    name: unique in the job (`workers`). shape: compute shape (`BM.GPU.H100.8`, `VM.Standard.E4.Flex`).
    replicas: nodes in the group (default 1). minimum_success_replicas: nodes that must succeed for the
    group to succeed (default: all). ocpus / memory_in_gbs: flex shapes only, and required there.
    block_storage_gbs: boot volume per node, 50-10240 (default 100).
    """

    name: str
    shape: str
    replicas: int = 1
    minimum_success_replicas: int | None = None
    ocpus: float | None = None
    memory_in_gbs: float | None = None
    block_storage_gbs: int = 100

    def problems(self) -> list[str]:
        p = Problems()
        p.pattern("name", self.name, _GROUP_NAME, "a letter, then up to 62 letters, digits, '_' or '-'")
        p.name("shape", self.shape, SHAPE)
        if p.check(isinstance(self.replicas, int) and self.replicas >= 1, "replicas", "must be a whole number >= 1"):
            if self.minimum_success_replicas is not None:
                p.check(
                    1 <= self.minimum_success_replicas <= self.replicas,
                    "minimum_success_replicas",
                    f"must be between 1 and replicas ({self.replicas}), got {self.minimum_success_replicas}",
                )
        flex = self.shape.endswith(".Flex")
        for prop in ("ocpus", "memory_in_gbs"):
            value = getattr(self, prop)
            if flex:
                p.check(value is not None and value > 0, prop, f"is required (> 0) for flex shape {self.shape}")
            else:
                p.check(value is None, prop, f"applies only to .Flex shapes, not {self.shape}")
        p.check(
            isinstance(self.block_storage_gbs, int) and 50 <= self.block_storage_gbs <= 10240,
            "block_storage_gbs",
            f"must be 50-10240, got {self.block_storage_gbs}",
        )
        return p.items

    @property
    def min_success(self) -> int:
        return self.replicas if self.minimum_success_replicas is None else self.minimum_success_replicas


@dataclass(frozen=True, kw_only=True)
class TrainingJobProps:
    """Props of a `TrainingJob`.

    display_name: `ocift-dev-finetune`. compartment_id: where the job and its runs live.
    project_id: the Data Science project (`DataScienceProject.id`).
    principal: the dynamic group its runs act as; its matching rule must cover compartment_id.
    network: where the nodes live (custom or default network).
    image: the container image; require_digest (default on) refuses an image not pinned by digest.
    node_groups: at least one; startup_order: IN_PARALLEL (default) or IN_ORDER (groups start in turn).
    recipe: rendered as the container's CMD, the arguments to the image's ENTRYPOINT (default: none);
        ENTRYPOINT plus CMD must stay under 2048 bytes (`MAX_COMMAND_BYTES`).
    settings: rendered as OCIFT_* variables.
    environment: extra variables (no OCIFT_*, no service-injected names, no secret values).
    entrypoint / cmd: override the image's ENTRYPOINT / CMD (default: the image's); cmd and recipe
        exclude each other.
    maximum_runtime_minutes: a run is stopped after this (default: no limit).
    log: the custom log runs write to (default: logging off).
    mounts: up to 5 Object Storage mounts (`bucket.mount("data")`), at /mnt/<destination>.
    delete_related_job_runs: let Terraform delete the job together with its runs, which a replacement
        needs (default on).
    tags: freeform tags on the job and its runs.
    """

    display_name: str
    compartment_id: str
    project_id: str
    principal: DynamicGroupPrincipal
    network: Network
    image: ImageReference
    node_groups: Sequence[NodeGroup]
    require_digest: bool = True
    startup_order: StartupOrder = "IN_PARALLEL"
    recipe: Recipe | None = None
    settings: LauncherSettings = field(default_factory=LauncherSettings)
    environment: Mapping[str, str] = field(default_factory=dict)
    entrypoint: Sequence[str] | None = None
    cmd: Sequence[str] | None = None
    maximum_runtime_minutes: int | None = None
    log: CustomLog | None = None
    mounts: Sequence[StorageMount] = ()
    description: str = "ocift multi-node fine-tuning"
    delete_related_job_runs: bool = True
    tags: Mapping[str, str] = field(default_factory=dict)

    def problems(self) -> list[str]:
        p = Problems()
        p.name("display_name", self.display_name, DISPLAY_NAME)
        p.ocid("compartment_id", self.compartment_id, ("compartment", "tenancy"))
        p.ocid("project_id", self.project_id, "datascienceproject")
        p.extend("principal", self.principal.problems())
        if not is_token(self.compartment_id) and not is_token(self.principal.matching_rule):
            p.check(
                self.compartment_id in self.principal.matching_rule,
                "principal",
                f"matching rule {self.principal.matching_rule!r} does not name the job's compartment "
                f"{self.compartment_id}: its runs would not get the grants",
            )
        p.extend("image", self.image.problems(require_digest=self.require_digest))
        p.check(len(self.node_groups) >= 1, "node_groups", "give at least one node group")
        names = [g.name for g in self.node_groups]
        for i, group in enumerate(self.node_groups):
            p.extend(f"node_groups[{i}]", group.problems())
            p.check(names.count(group.name) == 1, f"node_groups[{i}].name", f"{group.name!r} is used more than once")
        p.check(
            self.startup_order in ("IN_PARALLEL", "IN_ORDER"),
            "startup_order",
            f"{self.startup_order!r} is not IN_PARALLEL or IN_ORDER",
        )
        self._environment_problems(p)
        self._command_problems(p)
        if self.maximum_runtime_minutes is not None:
            p.check(
                isinstance(self.maximum_runtime_minutes, int) and self.maximum_runtime_minutes >= 1,
                "maximum_runtime_minutes",
                "must be a whole number >= 1",
            )
        p.check(len(self.mounts) <= MAX_MOUNTS, "mounts", f"OCI allows at most {MAX_MOUNTS}, got {len(self.mounts)}")
        destinations = [m.destination for m in self.mounts]
        for i, mount in enumerate(self.mounts):
            p.extend(f"mounts[{i}]", mount.problems())
            p.check(
                destinations.count(mount.destination) == 1,
                f"mounts[{i}].destination",
                f"{mount.destination!r} is used more than once",
            )
        p.tags("tags", self.tags)
        return p.items

    def _environment_problems(self, p: Problems) -> None:
        for name, value in self.environment.items():
            prop = f"environment[{name!r}]"
            if not p.check(bool(_ENV_NAME.match(name)), prop, "is not an environment variable name"):
                continue
            p.check(not name.startswith(PREFIX), prop, f"{PREFIX}* variables come from settings: set it there")
            p.check(name not in SERVICE_VARIABLES, prop, "is set by the Data Science service on every node")
            p.check(
                not is_secret_name(name),
                prop,
                "looks like a secret: put its Vault secret OCID in settings.secrets instead",
            )
            p.check(
                not (isinstance(value, str) and secret_format(value)),
                prop,
                "its value looks like a credential: put it in Vault and its OCID in settings.secrets",
            )
            p.check(isinstance(value, str), prop, "values are strings")

    def rendered_cmd(self) -> list[str] | None:
        """The container's CMD: `cmd`, else the recipe's arguments, else None (the image's own)."""
        if self.cmd is not None:
            return list(self.cmd)
        return self.recipe.to_args() if self.recipe else None

    def _command_problems(self, p: Problems) -> None:
        if not p.check(
            self.cmd is None or self.recipe is None, "cmd", "the recipe is the CMD: give a recipe or a cmd, not both"
        ):
            return
        size = command_bytes(self.entrypoint or (), self.rendered_cmd() or ())
        p.check(
            size < MAX_COMMAND_BYTES,
            "recipe" if self.recipe else "cmd",
            f"ENTRYPOINT plus CMD take {size} bytes; OCI allows under {MAX_COMMAND_BYTES}: "
            "move long values (a prompt template) into a file the recipe names",
        )

    def rendered_environment(self) -> dict[str, str]:
        """settings.to_env() plus the extra variables, sorted by name."""
        return dict(sorted({**self.settings.to_env(), **self.environment}.items()))


class TrainingJob(Construct):
    """A multi-node Data Science job (`Resource`): node groups with the same image, arguments,
    environment and network; runs are started by `ocift run start`, not declared (module docstring).

    With node groups the top-level job configuration, infrastructure and environment blocks are left
    out: each group carries its own, with infrastructure type MULTI_NODE.
    """

    def __init__(self, scope: Construct, id_: str, props: TrainingJobProps):
        super().__init__(scope, id_)
        validate(self.node.path, props.problems())
        self.props = props
        self.principal = props.principal
        self.compartment_id = props.compartment_id
        self.project_id = props.project_id
        self.environment = props.rendered_environment()
        self.cmd = props.rendered_cmd()
        self.resource = DatascienceJob(
            self,
            "Resource",
            compartment_id=props.compartment_id,
            project_id=props.project_id,
            display_name=props.display_name,
            description=props.description,
            delete_related_job_runs=props.delete_related_job_runs,
            job_node_configuration_details=self._node_configuration(),
            job_log_configuration_details=DatascienceJobJobLogConfigurationDetails(
                enable_logging=True,
                enable_auto_log_creation=False,
                log_group_id=props.log.log_group_id,
                log_id=props.log.id,
            )
            if props.log
            else None,
            job_storage_mount_configuration_details_list=[
                DatascienceJobJobStorageMountConfigurationDetailsList(
                    storage_type="OBJECT_STORAGE",
                    bucket=m.bucket,
                    namespace=m.namespace,
                    prefix=m.prefix or None,
                    destination_directory_name=m.destination,
                )
                for m in props.mounts
            ]
            or None,
            freeform_tags=dict(props.tags) or None,
        )

    def _node_configuration(self) -> DatascienceJobJobNodeConfigurationDetails:
        props = self.props
        image, digest = job_image(props.image)
        network = props.network
        return DatascienceJobJobNodeConfigurationDetails(
            job_node_type="MULTI_NODE",
            startup_order=props.startup_order,
            maximum_runtime_in_minutes=str(props.maximum_runtime_minutes) if props.maximum_runtime_minutes else None,
            job_network_configuration=NetworkConfiguration(
                job_network_type=network.job_network_type, subnet_id=network.subnet_id
            ),
            job_node_group_configuration_details_list=[
                NodeGroupDetails(
                    name=group.name,
                    replicas=group.replicas,
                    minimum_success_replicas=group.min_success,
                    job_configuration_details=GroupJobConfiguration(
                        job_type="DEFAULT",
                        environment_variables=self.environment or None,
                    ),
                    job_environment_configuration_details=GroupEnvironment(
                        job_environment_type="OCIR_CONTAINER",
                        image=image,
                        image_digest=digest,
                        entrypoint=list(props.entrypoint) if props.entrypoint is not None else None,
                        cmd=self.cmd,
                    ),
                    job_infrastructure_configuration_details=GroupInfrastructure(
                        job_infrastructure_type="MULTI_NODE",
                        shape_name=group.shape,
                        block_storage_size_in_gbs=group.block_storage_gbs,
                        job_shape_config_details=GroupShape(ocpus=group.ocpus, memory_in_gbs=group.memory_in_gbs)
                        if group.ocpus is not None
                        else None,
                    ),
                )
                for group in props.node_groups
            ],
        )

    @property
    def id(self) -> str:
        return self.resource.id

    @property
    def secret_ids(self) -> list[str]:
        """The Vault secret OCIDs its runs read (settings.secrets), in name order."""
        return [ocid for _, ocid in sorted(self.props.settings.secrets.items())]

    def grant_secret_reads(self, secrets_compartment_id: str, policy: Policy | None = None) -> list[Statement]:
        """Let the job's principal read each of its secrets (`read secret-bundles where target.secret.id`)."""
        return [
            s
            for ocid in self.secret_ids
            for s in grant_secret_read(self, self.principal, ocid, secrets_compartment_id, policy)
        ]
