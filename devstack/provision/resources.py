"""The local stack's view of a template resource, and the checks every applier shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class ProvisionError(RuntimeError):
    """The local stack cannot be made to match the template."""


@dataclass
class Resource:
    """One template resource: its properties already resolved to plain values."""

    logical_id: str
    type: str
    properties: dict[str, Any]
    physical_id: str | None  # set when moto's CloudFormation created it


@dataclass
class Physical:
    """What `Ref` and `Fn::GetAtt` of a resource return."""

    ref: str
    attributes: dict[str, str] = field(default_factory=dict)


def reject_unknown(resource: Resource, handled: set[str]) -> None:
    unknown = sorted(set(resource.properties) - handled)
    if unknown:
        raise ProvisionError(
            f"{resource.logical_id} ({resource.type}): no local applier for properties {unknown};"
            " extend its applier in devstack/provision/appliers.py or edge.py"
        )


# Types moto's CloudFormation skips without an error (measured, docs/infrastructure.md): their appliers
# create them. Any other type it creates, and its applier sets the properties moto ignored.
SKIPPED_BY_MOTO = frozenset({
    "AWS::SNS::Subscription", "AWS::SQS::QueuePolicy", "AWS::S3::BucketPolicy", "AWS::Cognito::UserPool",
    "AWS::Cognito::UserPoolClient", "AWS::Cognito::UserPoolGroup", "AWS::SES::EmailIdentity",
    "AWS::CloudWatch::Alarm", "AWS::WAFv2::WebACL", "AWS::CloudFront::OriginAccessControl",
    "AWS::CloudFront::Distribution", "AWS::CloudFront::ResponseHeadersPolicy", "AWS::CloudFront::Function",
    "AWS::SecretsManager::Secret",
})


def require_skipped(resource: Resource) -> None:
    """For types moto's CloudFormation skips: if a moto upgrade starts creating them, say so."""
    if resource.physical_id:
        raise ProvisionError(
            f"moto's CloudFormation now creates {resource.logical_id} ({resource.type}); check which"
            " properties it honours and update its applier in devstack/provision/"
        )
