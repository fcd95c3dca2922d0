"""Log group and custom log that a training job writes its stdout/stderr to, with a write grant."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from constructs import Construct

from cdk.iam import Grantee, Policy, Statement, grant
from cdk.oci.logging import LoggingLog, LoggingLogGroup
from cdk.props import Problems, validate
from contract.names import LOG_NAME

RETENTION_DAYS = (30, 60, 90, 120, 150, 180)
"""Retention periods OCI Logging accepts (30-day steps up to 180)."""


@dataclass(frozen=True, kw_only=True)
class LogGroupProps:
    """display_name: unique in the compartment (`ocift-dev-jobs`). compartment_id: where it lives;
    the write grant is scoped to it. description: shown in the console. tags: freeform tags."""

    display_name: str
    compartment_id: str
    description: str = "ocift training job logs"
    tags: Mapping[str, str] = field(default_factory=dict)

    def problems(self) -> list[str]:
        p = Problems()
        p.name("display_name", self.display_name, LOG_NAME)
        p.ocid("compartment_id", self.compartment_id, ("compartment", "tenancy"))
        p.tags("tags", self.tags)
        return p.items


class LogGroup(Construct):
    """An OCI Logging log group (`Resource`)."""

    def __init__(self, scope: Construct, id_: str, props: LogGroupProps):
        super().__init__(scope, id_)
        validate(self.node.path, props.problems())
        self.compartment_id = props.compartment_id
        self.resource = LoggingLogGroup(
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


@dataclass(frozen=True, kw_only=True)
class CustomLogProps:
    """display_name: unique in the group (`ocift-dev-train`). log_group: where the log lives.
    retention_days: one of 30, 60, ... 180 (default 30). tags: freeform tags."""

    display_name: str
    log_group: LogGroup
    retention_days: int = 30
    tags: Mapping[str, str] = field(default_factory=dict)

    def problems(self) -> list[str]:
        p = Problems()
        p.name("display_name", self.display_name, LOG_NAME)
        p.check(
            self.retention_days in RETENTION_DAYS,
            "retention_days",
            f"{self.retention_days!r} is not one of {', '.join(map(str, RETENTION_DAYS))}",
        )
        p.tags("tags", self.tags)
        return p.items


class CustomLog(Construct):
    """A custom log (`log_type = "CUSTOM"`, `Resource`) that a job's runs write to."""

    def __init__(self, scope: Construct, id_: str, props: CustomLogProps):
        super().__init__(scope, id_)
        validate(self.node.path, props.problems())
        self.log_group = props.log_group
        self.resource = LoggingLog(
            self,
            "Resource",
            display_name=props.display_name,
            log_group_id=props.log_group.id,
            log_type="CUSTOM",
            is_enabled=True,
            retention_duration=props.retention_days,
            freeform_tags=dict(props.tags) or None,
        )

    @property
    def id(self) -> str:
        return self.resource.id

    @property
    def log_group_id(self) -> str:
        return self.log_group.id

    def grant_write(self, grantee: Grantee, policy: Policy | None = None) -> list[Statement]:
        """`use log-content` in the log group's compartment (OCI offers no narrower variable for it)."""
        return grant(self, grantee, self.log_group.compartment_id, [("use", "log-content")], (), policy)
