"""The environment config: one YAML file per environment, validated before anything is built.

Every section forbids unknown keys (a typo must fail, not be dropped), OCID fields check the
resource type, and the `training.recipe` section is validated by the launcher's own recipe
definition (`contract.recipe.Recipe`), so infra and training agree on one set of options.
`stacks.loader.load_configs` reads and checks the files.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cdk.rules.core import DEFAULT_REQUIRED_TAGS
from cdk.rules.pack import RULES
from contract.names import (
    BUCKET_NAME,
    DIGEST,
    DISPLAY_NAME,
    IAM_NAME,
    IMAGE_TAG,
    MAX_COMMAND_BYTES,
    NAMESPACE,
    REGISTRY,
    REPOSITORY,
    SHAPE,
    TAG_KEY,
    TAG_VALUE_MAX_LENGTH,
    NamePattern,
    command_bytes,
)
from contract.recipe import Recipe, RecipeError
from contract.settings import LauncherSettings
from stacks.ocid_fields import CompartmentOcid, KeyOcid, SubnetOcid, TenancyOcid


def _named(pattern: NamePattern) -> Any:
    """A pydantic constraint checking exactly what the props and the rules check (`contract.names`)."""
    return Field(pattern=pattern.anchored, max_length=pattern.max_length)


Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")]
DisplayName = Annotated[str, _named(DISPLAY_NAME)]
BucketName = Annotated[str, _named(BUCKET_NAME)]
IamName = Annotated[str, _named(IAM_NAME)]
_REGION = r"^[a-z]{2,}(-[a-z]+)+-[0-9]+$"
_OCI_URI = re.compile(r"^oci://(?P<bucket>[^@/]+)@(?P<namespace>[^/]+)(/.*)?$")


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- state ---------------------------------------------------------------------------------


class _BucketState(Section):
    """What the `oci` and `s3` backends share: state objects in a bucket."""

    bucket: BucketName = Field(description="The state bucket (create it first).")
    namespace: str = Field("", description="Namespace of the state bucket. Unset: the top-level `namespace`.")
    region: str = Field(
        "",
        pattern=rf"{_REGION}|^$",
        description="Region of the state bucket; the s3 endpoint is "
        "`https://<namespace>.compat.objectstorage.<region>.oraclecloud.com` (path-style, AWS-only checks "
        "skipped). Unset: the top-level `region`.",
    )
    prefix: str = Field("", description="Prepended to every state key.")


class OciState(_BucketState):
    """Terraform's native `oci` backend (Terraform >= 1.12): state objects in a bucket."""

    backend: Literal["oci"] = Field(
        description='Terraform\'s native backend, which locks state (stacks then set `required_version = ">= 1.12.0"`).'
    )
    auth: Literal["", "APIKey", "InstancePrincipal", "ResourcePrincipal", "SecurityToken"] = Field(
        "", description="How the oci backend authenticates. Unset: API key."
    )
    config_file_profile: str = Field("", description="Profile in `~/.oci/config`. Unset: `DEFAULT`.")


class S3State(_BucketState):
    """Terraform's `s3` backend against OCI's S3-compatible endpoint (customer secret keys)."""

    backend: Literal["s3"] = Field(
        description="OCI's S3-compatible API, no locking configured (a warning; see "
        "[deploy.md](deploy.md#what-locks-state))."
    )
    profile: str = Field(
        "",
        description="AWS-style credentials profile holding the customer secret key "
        "(else `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`).",
    )


class LocalState(Section):
    """State files on this machine: for the demo and experiments only."""

    backend: Literal["local"] = Field(description="Files on this machine (demo only; refused in production).")
    path: str = Field(
        "terraform-state",
        min_length=1,
        description="Directory relative to the directory that contains the synth output "
        "(the repository for `cdktf.out`).",
    )


StateConfig = Annotated[OciState | S3State | LocalState, Field(discriminator="backend")]


# ---- network -------------------------------------------------------------------------------


class CreateNetwork(Section):
    """A VCN, private subnet, NAT and service gateways in the `<env>-network` stack."""

    mode: Literal["create"] = Field(description="A private VCN/subnet in `<env>-network`.")
    vcn_cidr: ipaddress.IPv4Network = Field(
        ipaddress.IPv4Network("10.0.0.0/16"), description="The VCN's range (/16 to /30)."
    )
    subnet_cidr: ipaddress.IPv4Network = Field(
        ipaddress.IPv4Network("10.0.0.0/24"), description="The private subnet; must lie inside `vcn_cidr`."
    )

    @model_validator(mode="after")
    def _subnet_inside_vcn(self) -> CreateNetwork:
        if not self.subnet_cidr.subnet_of(self.vcn_cidr):
            raise ValueError(f"subnet_cidr {self.subnet_cidr} is not inside vcn_cidr {self.vcn_cidr}")
        return self


class ExistingNetwork(Section):
    """A subnet someone else manages; the job's nodes attach to it."""

    mode: Literal["existing"] = Field(description="Attach to a subnet managed elsewhere (no network stack).")
    subnet_ocid: SubnetOcid = Field(description="The subnet job nodes attach to.")


class DefaultNetwork(Section):
    """The Data Science service's managed network: no VCN to manage, egress only."""

    mode: Literal["default"] = Field(
        description="The Data Science managed network (no network stack, no service policy)."
    )


NetworkConfig = Annotated[CreateNetwork | ExistingNetwork | DefaultNetwork, Field(discriminator="mode")]


# ---- storage, registry, logs ---------------------------------------------------------------


class StorageConfig(Section):
    """The outputs bucket: checkpoints, adapters and metrics of every run."""

    outputs_bucket: BucketName | None = Field(
        None,
        description="Where runs sync checkpoints, adapters and metrics; the job runs may manage objects only here. "
        "Unset: `ocift-<environment>-outputs`.",
    )
    kms_key_ocid: KeyOcid | None = Field(
        None,
        description="Customer-managed Vault key for the bucket (the service policy lets Object Storage use it). "
        "Unset: Oracle-managed keys.",
    )
    kms_key_compartment_ocid: CompartmentOcid | None = Field(
        None,
        description="Compartment of that key (often a security compartment): the `use keys` service statement "
        "is scoped to it. Unset: `compartment_ocid`.",
    )
    inputs_compartment_ocid: CompartmentOcid | None = Field(
        None,
        description="Compartment of the buckets the recipe reads (`oci://` URIs in `model_name`, `tokenizer_name`, "
        "`data_path`, `from_peft_checkpoint`); job runs get `read` on exactly those buckets. Every environment "
        "reading the same bucket must give the same compartment (the shipped examples share one). "
        "Unset: `compartment_ocid`.",
    )
    checkpoint_expiry_days: int | None = Field(
        30,
        ge=1,
        description="Delete objects under `<job_name>/checkpoints/` this many days after they were written; "
        "`null` keeps them.",
    )
    versioning: bool = Field(
        True,
        description="Keep overwritten/deleted objects (previous versions expire after 30 days); the rule pack "
        "requires it unless suppressed.",
    )
    prevent_destroy: bool = Field(False, description="Terraform refuses to destroy the bucket; required in production.")


class RegistryConfig(Section):
    """The OCIR repository the launcher image is pushed to."""

    repository: Annotated[str, _named(REPOSITORY)] | None = Field(
        None,
        description="The private repository the launcher image is pushed to; job runs may pull from it only. "
        'Names are unique across the whole tenancy (OCI release note "Support for repositories in '
        'compartments"), so each environment needs its own. Unset: `ocift-<environment>/launcher`.',
    )
    immutable: bool = Field(False, description="Refuse pushing over an existing tag.")


class LogsConfig(Section):
    """The log group and job-run log."""

    retention_days: Literal[30, 60, 90, 120, 150, 180] = Field(
        30, description="Retention of the job-run log (log group `ocift-<env>-jobs`, log `ocift-<env>-job-runs`)."
    )


# ---- training ------------------------------------------------------------------------------


class ImageConfig(Section):
    """The launcher image, in the registry repository: `<registry>/<namespace>/<registry.repository>`."""

    registry: Annotated[str, _named(REGISTRY)] = Field(
        description="OCIR host (`<region-key>.ocir.io`); the image is `<registry>/<namespace>/<registry.repository>`."
    )
    tag: Annotated[str, _named(IMAGE_TAG)] = Field(
        description="Image tag, also with a digest: every image form the provider documents carries one "
        "(`<repo>:<tag>`, `<repo>:<tag>@digest`)."
    )
    digest: str = Field(
        "",
        description="`sha256:<64 hex>`: pins the image (what runs cannot change under you); required in "
        "production, a warning elsewhere.",
    )

    @field_validator("tag", "digest")
    @classmethod
    def _image_name(cls, value: str, info: ValidationInfo) -> str:
        pattern = IMAGE_TAG if info.field_name == "tag" else DIGEST
        if value and not pattern.matches(value):
            raise ValueError(f"must be {pattern.what}")
        return value


class NodeGroupConfig(Section):
    """One group of identical nodes of the multi-node job."""

    name: Name = Field("nodes", description="Unique group name.")
    shape: Annotated[str, _named(SHAPE)] = Field(description="Compute shape of every node in the group.")
    ocpus: float | None = Field(None, gt=0, description="`.Flex` shapes only, and required there.")
    memory_gbs: float | None = Field(None, gt=0, description="`.Flex` shapes only, and required there.")
    replicas: int = Field(ge=1, description="Nodes in the group.")
    minimum_success_replicas: int | None = Field(
        None,
        ge=1,
        description="Nodes that must succeed for the group to succeed (at most `replicas`). Unset: `replicas`.",
    )
    block_storage_gbs: int = Field(
        100, ge=50, le=10240, description="Block volume per node (staged model, data, local checkpoints)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> NodeGroupConfig:
        problems = []
        if self.minimum_success_replicas is not None and self.minimum_success_replicas > self.replicas:
            problems.append(
                f"minimum_success_replicas ({self.minimum_success_replicas}) exceeds replicas ({self.replicas})"
            )
        flex = self.shape.endswith(".Flex")
        if flex and (self.ocpus is None or self.memory_gbs is None):
            problems.append(f"flex shape {self.shape} needs ocpus and memory_gbs")
        if not flex and (self.ocpus is not None or self.memory_gbs is not None):
            problems.append(f"ocpus and memory_gbs apply only to .Flex shapes, not {self.shape}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class TrainingConfig(Section):
    """The Data Science project, the multi-node job, and its runs."""

    project_name: DisplayName | None = Field(
        None, description="Data Science project display name. Unset: `ocift-<environment>`."
    )
    job_name: DisplayName | None = Field(
        None,
        description="Job display name; also the output prefix in the bucket. Unset: `ocift-<environment>-finetune`.",
    )
    image: ImageConfig = Field(description="The launcher image.")
    node_groups: list[NodeGroupConfig] = Field(
        min_length=1, max_length=5, description="Node groups of the multi-node job, each:"
    )
    startup_order: Literal["IN_PARALLEL", "IN_ORDER"] = Field(
        "IN_PARALLEL", description="Whether node groups start together or in turn."
    )
    max_runtime_minutes: int = Field(1440, ge=1, le=43200, description="A run is stopped after this long.")
    launcher: LauncherSettings = Field(
        default_factory=LauncherSettings,
        description="The launcher's settings: exactly the fields of `contract.settings.LauncherSettings` (the "
        "[settings table](launcher.md#settings-ocift_) is the reference), rendered as `OCIFT_*` variables (only "
        "non-defaults); unknown keys are errors. `output_uri` defaults to "
        "`oci://<outputs_bucket>@<namespace>/<job_name>/` and must be in the outputs bucket; `secrets` maps env var "
        "names to `ocid1.vaultsecret.` OCIDs the launcher reads at run time, and the IAM stack grants read on "
        "exactly those secrets.",
    )
    secrets_compartment_ocid: CompartmentOcid | None = Field(
        None, description="Compartment of the Vault secrets in `launcher.secrets`. Unset: `compartment_ocid`."
    )
    recipe: dict[str, Any] = Field(
        default_factory=dict,
        description="The training options (llama-recipes names), validated by `contract.recipe`: flat names "
        "(`model_name`, `dataset`, `data_path`, `use_peft`, `enable_fsdp`, `batch_size_training`, ...) and/or "
        "sections `train_config:`, `fsdp_config:`, `lora_config:`; rendered as the container's CMD (the arguments "
        "to the image's `ENTRYPOINT`); CMD plus ENTRYPOINT must stay under 2048 bytes (a long prompt template "
        "fails the synth: put it in a file). Errors are reported as `training.recipe.<option>`.",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_declared_runs(cls, data: Any) -> Any:
        """Runs once declared here made every `cdktf deploy` start GPU nodes and wait for them (see
        cdk.training_job): refuse the old key with the way to start a run instead."""
        if isinstance(data, dict) and "runs" in data:
            raise ValueError(
                "runs: deploy no longer starts runs (an apply would wait for the run to end and "
                "start it again after a failure): remove it and use `ocift run start <env> <job>`"
            )
        return data

    @field_validator("node_groups")
    @classmethod
    def _unique_groups(cls, groups: list[NodeGroupConfig]) -> list[NodeGroupConfig]:
        _unique([g.name for g in groups], "node group")
        return groups


# ---- iam -----------------------------------------------------------------------------------


class IamConfig(Section):
    """Who may operate the environment: start, watch and cancel runs, read their outputs."""

    operators_group: IamName | None = Field(
        None,
        description="An existing group (create it before deploying `<env>-iam`: OCI rejects a policy naming a "
        "group that does not exist) of people or CI allowed to run the environment's jobs: a tenancy-level policy "
        "`ocift-<env>-operators` grants `manage data-science-jobs` and `data-science-job-runs`, "
        "`read data-science-projects`, `use logging-family`, `read metrics` in `compartment_ocid`, read of the "
        "outputs bucket only, and `use virtual-network-family` in the network compartment (custom networks). "
        "Unset: no operators policy.",
    )
    identity_domain: IamName | None = Field(
        None,
        description="The domain `operators_group` lives in (statements then name `group '<domain>'/'<group>'`). "
        "Unset: the default domain.",
    )


# ---- rules ---------------------------------------------------------------------------------


class Suppression(Section):
    """Accept one rule's finding on purpose, saying why (the reason is printed in every summary)."""

    rule: str = Field(
        min_length=1,
        description="The rule to suppress, an id of [rules.md](rules.md) such as `OCI-IAM-1`; an unknown id is an "
        "error.",
    )
    stack: str = Field("*", description="Stacks of this environment it applies to (fnmatch, e.g. `dev-training`).")
    resource: str = Field(
        "*",
        description="The construct path below the stack (`Outputs/*`, `JobRunPolicy/Resource`) or the Terraform "
        "address (`oci_objectstorage_bucket.*`); fnmatch.",
    )
    reason: str = Field(
        min_length=10, description="Why the finding is acceptable; a suppression matching no resource is an error."
    )

    @field_validator("rule")
    @classmethod
    def _known_rule(cls, rule: str) -> str:
        known = sorted(r.id for r in RULES)
        if rule not in known:
            raise ValueError(f"unknown rule{_close(rule, known)}; rules: {', '.join(known)}")
        return rule


class RulesConfig(Section):
    """Rule findings accepted on purpose; every one is still printed, with its reason."""

    suppress: list[Suppression] = Field(
        default_factory=list,
        description="Rule findings accepted on purpose; each is still printed with its reason. Each entry:",
    )


# ---- the environment -----------------------------------------------------------------------


class EnvironmentConfig(Section):
    """One environment (dev, prod, ...): everything its stacks are built from."""

    environment: Name = Field(
        description="Environment name; stacks are `<environment>-iam/-network/-training`; unique across files."
    )
    tier: Literal["development", "production"] = Field(
        "development",
        description="`production` requires `training.image.digest`, a remote state backend and "
        "`storage.prevent_destroy: true`, and runs the rule pack in prod mode (e.g. images pinned by digest).",
    )
    region: str = Field(
        pattern=_REGION, description="OCI region id (`us-ashburn-1`): where the network and training stacks live."
    )
    home_region: str = Field(
        "",
        pattern=rf"{_REGION}|^$",
        description="The tenancy's home region: the IAM stack's provider writes there. Unset: `region`.",
    )
    tenancy_ocid: TenancyOcid = Field(description="The tenancy (dynamic group and service policy live here).")
    compartment_ocid: CompartmentOcid = Field(
        description="Compartment of the bucket, repository, logs, project, job and runs; the job-run dynamic group "
        "matches runs in it."
    )
    network_compartment_ocid: CompartmentOcid | None = Field(
        None,
        description="Compartment of the VCN/subnet; the Data Science service policy and the job runs' "
        "`use virtual-network-family` are scoped to it (a different one moves the job-run policy to the tenancy). "
        "Unset: `compartment_ocid`.",
    )
    namespace: Annotated[str, _named(NAMESPACE)] = Field(
        description="The tenancy's Object Storage namespace (buckets, image path, `oci://` URIs)."
    )
    tags: dict[Annotated[str, _named(TAG_KEY)], Annotated[str, Field(max_length=TAG_VALUE_MAX_LENGTH)]] = Field(
        min_length=1,
        description="Freeform tags on every taggable resource; must include `project` and `environment` "
        "(equal to `environment`).",
    )
    state: StateConfig = Field(description="Terraform state backend.")
    network: NetworkConfig = Field(description="Where the job's nodes live.")
    storage: StorageConfig = Field(default_factory=StorageConfig, description="Outputs bucket.")
    registry: RegistryConfig = Field(default_factory=RegistryConfig, description="OCIR repository.")
    logs: LogsConfig = Field(default_factory=LogsConfig, description="Job logs.")
    training: TrainingConfig = Field(description="Project and job.")
    iam: IamConfig = Field(default_factory=IamConfig, description="Who may operate the environment.")
    rules: RulesConfig = Field(default_factory=RulesConfig, description="Rule suppressions.")

    _source: str = PrivateAttr("")

    @property
    def source(self) -> str:
        """The file this config was read from, as problems name it."""
        return self._source

    @field_validator("tags")
    @classmethod
    def _required_tags(cls, tags: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        missing = [t for t in DEFAULT_REQUIRED_TAGS if t not in tags]
        if missing:
            raise ValueError(f"missing {', '.join(missing)} (the rule pack requires them on every resource)")
        environment = info.data.get("environment")
        if environment and tags["environment"] != environment:
            raise ValueError(f"tags.environment is {tags['environment']!r}, not the environment {environment!r}")
        return tags

    # ---- derived names (one place, so every stack agrees) ----

    @property
    def outputs_bucket(self) -> str:
        return self.storage.outputs_bucket or f"ocift-{self.environment}-outputs"

    @property
    def repository(self) -> str:
        """OCIR repository names are unique across every compartment of the tenancy ("Support for
        repositories in compartments", OCI release notes), so the default carries the environment."""
        return self.registry.repository or f"ocift-{self.environment}/launcher"

    @property
    def dynamic_group_name(self) -> str:
        return f"ocift-{self.environment}-job-runs"

    def policies(self) -> dict[str, tuple[str, str]]:
        """Each policy of the IAM stack: role -> (compartment it is attached to, name unique there)."""
        env = self.environment
        out = {
            "jobs": (self.job_policy_compartment, f"ocift-{env}-job-runs"),
            "services": (self.tenancy_ocid, f"ocift-{env}-services"),
        }
        if self.iam.operators_group:
            out["operators"] = (self.tenancy_ocid, f"ocift-{env}-operators")
        return out

    def bucket_compartments(self) -> dict[str, tuple[str, str]]:
        """Every bucket the environment creates or grants on -> (the field that places it, its compartment)."""
        inputs = self.storage.inputs_compartment_ocid or self.compartment_ocid
        out = {name: ("storage.inputs_compartment_ocid", inputs) for name in self.input_buckets()}
        out[self.outputs_bucket] = ("storage.outputs_bucket", self.compartment_ocid)
        return out

    @property
    def project_name(self) -> str:
        return self.training.project_name or f"ocift-{self.environment}"

    @property
    def job_name(self) -> str:
        return self.training.job_name or f"ocift-{self.environment}-finetune"

    @property
    def network_compartment(self) -> str:
        return self.network_compartment_ocid or self.compartment_ocid

    @property
    def job_policy_compartment(self) -> str:
        """Where the job-run policy is attached: the job's compartment, or the tenancy when its
        statements reach other compartments (a policy reaches only its own compartment's subtree)."""
        others = {
            self.storage.inputs_compartment_ocid,
            self.training.secrets_compartment_ocid,
            self.network_compartment_ocid if self.network.mode != "default" else None,
        } - {None}
        return self.compartment_ocid if others <= {self.compartment_ocid} else self.tenancy_ocid

    @property
    def iam_region(self) -> str:
        return self.home_region or self.region

    @property
    def output_uri(self) -> str:
        """Where the launcher syncs outputs: the configured URI, else the job's prefix of the bucket."""
        return self.training.launcher.output_uri or f"oci://{self.outputs_bucket}@{self.namespace}/{self.job_name}/"

    def recipe(self) -> Recipe:
        """The validated recipe (load_configs has already checked it)."""
        return Recipe.from_mapping(self.training.recipe, "training.recipe")

    def input_buckets(self) -> list[str]:
        """Buckets the recipe reads (every staged input, the PEFT checkpoint) besides the outputs bucket."""
        recipe = self.recipe()
        uris = [*recipe.inputs().values(), recipe.train_config.from_peft_checkpoint]
        buckets = {m.group("bucket") for u in uris if (m := _OCI_URI.match(u))}
        return sorted(buckets - {self.outputs_bucket})

    def warnings(self) -> list[str]:
        """Legal but risky choices, printed by `ocift validate` and the synth summary."""
        out = []
        if not self.training.image.digest:
            out.append("training.image: not pinned to a digest; a re-pushed tag changes what runs")
        if self.state.backend == "local":
            out.append("state.backend: local state is for the demo; use oci or s3 for a shared environment")
        if self.iam.operators_group:  # its existence only OCI can check, at apply: say so before
            out.append(
                f"iam.operators_group: create group {self.iam.operators_group!r} before applying "
                f"{self.environment}-iam (OCI rejects a policy naming a group that does not exist)"
            )
        if self.state.backend == "s3":
            out.append(
                "state.backend: s3 keeps state unlocked (two applies at once can corrupt it); the oci backend locks it"
            )
        return out


def _close(name: str, known: list[str]) -> str:
    match = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _unique(names: list[str], what: str) -> None:
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{what} names must be unique; repeated: {', '.join(dupes)}")


# ---- cross-field checks that need the whole config (reported with field paths) --------------


def semantic_problems(config: EnvironmentConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """Checks across sections; each returns the field path it blames."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    image = config.training.image
    try:
        size = command_bytes(config.recipe().to_args())  # the job's CMD; ENTRYPOINT is the image's own
    except RecipeError:
        size = 0  # a bad recipe is reported on its own, option by option
    if size >= MAX_COMMAND_BYTES:
        out.append(
            (
                ("training", "recipe"),
                f"renders to {size} bytes of CMD; OCI allows under {MAX_COMMAND_BYTES}: "
                "move long values (a prompt template) into a file the recipe names",
            )
        )
    uri = _OCI_URI.match(config.training.launcher.output_uri)
    if config.training.launcher.output_uri and not (uri and uri.group("bucket") == config.outputs_bucket):
        out.append(
            (
                ("training", "launcher", "output_uri"),
                f"must be oci://{config.outputs_bucket}@{config.namespace}/... (the outputs bucket the job may write)",
            )
        )
    if config.tier == "production":
        if not image.digest:
            out.append((("training", "image", "digest"), "production environments must pin the image to a digest"))
        if config.state.backend == "local":
            out.append((("state", "backend"), "production environments need a remote state backend (oci or s3)"))
        if not config.storage.prevent_destroy:
            out.append((("storage", "prevent_destroy"), "production environments must protect the outputs bucket"))
    return out
