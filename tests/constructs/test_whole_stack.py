"""Every construct together, as an environment would use them: an admins' tenancy stack and an app stack."""

from cdk.framework import App, TerraformStack, Testing
from cdk.iam import (
    DynamicGroup,
    DynamicGroupPrincipal,
    DynamicGroupProps,
    Policy,
    PolicyProps,
)
from cdk.logs import CustomLog, CustomLogProps, LogGroup, LogGroupProps
from cdk.network import Network, NetworkProps
from cdk.registry import ContainerRepository, ContainerRepositoryProps
from cdk.rules import RuleContext, Severity, evaluate
from cdk.schema_check import validate_stack
from cdk.storage import Bucket, BucketProps, ExpireRule
from cdk.training_job import (
    DataScienceProject,
    NodeGroup,
    ProjectProps,
    TrainingJob,
    TrainingJobProps,
)
from contract.recipe import Recipe
from contract.settings import LauncherSettings

from ._synth import (
    COMPARTMENT,
    DIGEST,
    KMS_KEY,
    NET_COMPARTMENT,
    SEC_COMPARTMENT,
    SECRET,
    TENANCY,
    resources,
    synth,
)

TAGS = {"project": "ocift", "environment": "prod"}
PRINCIPAL = DynamicGroupPrincipal.job_runs("ocift-prod-jobruns", COMPARTMENT)


def _app_stack(app: App) -> tuple[TerraformStack, Network, Bucket]:
    stack = TerraformStack(app, "ocift-prod-app")
    Policy(stack, "job_access", PolicyProps(name="ocift-prod-job-access", compartment_id=COMPARTMENT, tags=TAGS))
    Policy(
        stack, "secret_access", PolicyProps(name="ocift-prod-secret-access", compartment_id=SEC_COMPARTMENT, tags=TAGS)
    )
    network = Network(stack, "job_network", NetworkProps(compartment_id=NET_COMPARTMENT, name="ocift-prod", tags=TAGS))
    outputs = Bucket(
        stack,
        "outputs_bucket",
        BucketProps(
            name="ocift-prod-outputs",
            compartment_id=COMPARTMENT,
            namespace="tenancyns",
            kms_key_id=KMS_KEY,
            expire=[ExpireRule("*/checkpoints/*", 30)],
            prevent_destroy=True,
            tags=TAGS,
        ),
    )
    inputs = Bucket(
        stack,
        "inputs_bucket",
        BucketProps(name="ocift-prod-inputs", compartment_id=COMPARTMENT, namespace="tenancyns", tags=TAGS),
    )
    repo = ContainerRepository(
        stack,
        "trainer_repo",
        ContainerRepositoryProps(name="ocift/trainer", compartment_id=COMPARTMENT, immutable=True, tags=TAGS),
    )
    group = LogGroup(
        stack, "job_log_group", LogGroupProps(display_name="ocift-prod-jobs", compartment_id=COMPARTMENT, tags=TAGS)
    )
    log = CustomLog(stack, "train_log", CustomLogProps(display_name="ocift-prod-train", log_group=group, tags=TAGS))
    project = DataScienceProject(
        stack, "project", ProjectProps(display_name="ocift-prod", compartment_id=COMPARTMENT, tags=TAGS)
    )
    job = TrainingJob(
        stack,
        "finetune_job",
        TrainingJobProps(
            display_name="ocift-prod-finetune",
            compartment_id=COMPARTMENT,
            project_id=project.id,
            principal=PRINCIPAL,
            network=network,
            image=repo.image("iad.ocir.io", "tenancyns", digest=DIGEST, tag="1.0"),
            node_groups=[NodeGroup(name="nodes", shape="BM.GPU.H100.8", replicas=2)],
            recipe=Recipe.from_mapping({"model_name": "meta-llama/Llama-3.2-1B", "enable_fsdp": True}),
            settings=LauncherSettings(output_uri=outputs.uri("runs"), secrets={"HF_TOKEN": SECRET}),
            maximum_runtime_minutes=1440,
            log=log,
            mounts=[inputs.mount("inputs")],
            tags=TAGS,
        ),
    )
    outputs.grant_read_write(job.principal)
    inputs.grant_read(job.principal)
    repo.grant_pull(job.principal)
    log.grant_write(job.principal)
    job.grant_secret_reads(SEC_COMPARTMENT)
    return stack, network, outputs


def test_admin_and_app_stacks_synthesize_valid_and_compliant():
    app = Testing.app()
    stack, network, outputs = _app_stack(app)
    admin = TerraformStack(app, "ocift-prod-tenancy")
    DynamicGroup(admin, "job_runs", DynamicGroupProps(principal=PRINCIPAL, tenancy_id=TENANCY, tags=TAGS))
    Policy(
        admin,
        "service_access",
        PolicyProps(
            name="ocift-prod-services",
            compartment_id=TENANCY,
            tags=TAGS,
            statements=[*network.service_statements(), *outputs.service_statements("us-ashburn-1", SEC_COMPARTMENT)],
        ),
    )

    context = RuleContext(environment="prod", is_prod=True)
    for name, built in (("ocift-prod-app", stack), ("ocift-prod-tenancy", admin)):
        out = synth(built)
        assert validate_stack(out, name) == []
        errors = [f for f in evaluate(out, context) if f.rule.severity is Severity.ERROR and not f.suppressed]
        assert errors == [], "\n".join(f.message for f in errors)

    policies = {p["name"]: p["statements"] for p in resources(synth(stack), "oci_identity_policy").values()}
    dg, c = "Allow dynamic-group ocift-prod-jobruns to", f"in compartment id {COMPARTMENT}"
    assert policies == {
        "ocift-prod-job-access": [
            f"{dg} read buckets {c} where target.bucket.name = 'ocift-prod-outputs'",
            f"{dg} manage objects {c} where target.bucket.name = 'ocift-prod-outputs'",
            f"{dg} read buckets {c} where target.bucket.name = 'ocift-prod-inputs'",
            f"{dg} read objects {c} where target.bucket.name = 'ocift-prod-inputs'",
            f"{dg} read repos {c} where target.repo.name = 'ocift/trainer'",
            f"{dg} use log-content {c}",
        ],
        "ocift-prod-secret-access": [
            f"{dg} read secret-bundles in compartment id {SEC_COMPARTMENT} where target.secret.id = '{SECRET}'",
        ],
    }
    admin_statements = next(iter(resources(synth(admin), "oci_identity_policy").values()))["statements"]
    assert admin_statements == [
        f"Allow service datascience to use virtual-network-family in compartment id {NET_COMPARTMENT}",
        f"Allow service objectstorage-us-ashburn-1 to manage object-family in compartment id {COMPARTMENT} "
        "where target.bucket.name = 'ocift-prod-outputs'",
        f"Allow service objectstorage-us-ashburn-1 to use keys in compartment id {SEC_COMPARTMENT} "
        f"where target.key.id = '{KMS_KEY}'",
    ]
