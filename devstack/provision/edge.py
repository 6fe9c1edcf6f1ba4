"""Appliers of the edge's resource types: WAF web ACLs and CloudFront (origin access controls,
distributions, functions, response headers policies), all of them skipped by moto's CloudFormation."""

from __future__ import annotations

from typing import Any

from devstack.provision.intrinsics import Context
from devstack.provision.resources import Physical, ProvisionError, Resource, reject_unknown

# WAFv2's CloudFormation properties are CreateWebACL's parameters (the rule statements too).
_WEB_ACL_PROPERTIES = {
    "Name", "Scope", "DefaultAction", "VisibilityConfig", "Rules", "Description", "Tags",
    "CustomResponseBodies", "CaptchaConfig", "ChallengeConfig", "TokenDomains", "AssociationConfig",
}


def apply_web_acl(ctx: Context, resource: Resource) -> Physical:
    """A WAFv2 web ACL; `Ref` is `name|id|scope`, as on CloudFormation."""
    reject_unknown(resource, _WEB_ACL_PROPERTIES)
    props = dict(resource.properties)
    name = props.pop("Name", None) or ctx.default_name(resource)
    summary = ctx.client("wafv2").create_web_acl(Name=name, **props)["Summary"]
    return Physical(f"{name}|{summary['Id']}|{props['Scope']}", {
        "Arn": summary["ARN"], "Id": summary["Id"],
        "LabelNamespace": f"awswaf:{ctx.pseudo['AWS::AccountId']}:webacl:{name}:",
    })


def apply_origin_access_control(ctx: Context, resource: Resource) -> Physical:
    """CloudFront's CloudFormation property is CreateOriginAccessControl's parameter."""
    reject_unknown(resource, {"OriginAccessControlConfig"})
    control = ctx.client("cloudfront").create_origin_access_control(
        OriginAccessControlConfig=resource.properties["OriginAccessControlConfig"])["OriginAccessControl"]
    return Physical(control["Id"], {"Id": control["Id"]})


def _quantity(items: list[Any]) -> dict[str, Any]:
    """CloudFront's API wraps every list as `{Quantity, Items}`; CloudFormation writes plain lists."""
    return {"Quantity": len(items), "Items": list(items)}


def _only(kind: str, value: dict[str, Any], known: set[str]) -> dict[str, Any]:
    if unknown := sorted(set(value) - known):
        raise ProvisionError(f"{kind} properties {unknown} have no local applier; extend devstack/provision/edge.py")
    return value


_ORIGIN_PROPERTIES = {"Id", "DomainName", "OriginPath", "OriginAccessControlId", "S3OriginConfig",
                      "ConnectionAttempts", "ConnectionTimeout"}
_CACHE_BEHAVIOR_PROPERTIES = {"TargetOriginId", "ViewerProtocolPolicy", "Compress", "CachePolicyId",
                              "OriginRequestPolicyId", "ResponseHeadersPolicyId"}
_DISTRIBUTION_PROPERTIES = {"Comment", "Enabled", "DefaultRootObject", "HttpVersion", "PriceClass",
                            "IPV6Enabled", "Origins", "DefaultCacheBehavior", "CacheBehaviors"}


def _cache_behavior(behavior: dict[str, Any], kind: str, known: set[str]) -> dict[str, Any]:
    """A CloudFormation cache behaviour as CloudFront's API writes it (methods and function associations
    wrapped in `{Quantity, Items}`, `FunctionARN` as `FunctionARN`)."""
    behavior = dict(behavior)
    methods = _quantity(behavior.pop("AllowedMethods", ["GET", "HEAD"]))
    cached = _quantity(behavior.pop("CachedMethods", ["GET", "HEAD"]))
    functions = behavior.pop("FunctionAssociations", None)
    api = {**_only(kind, behavior, known), "AllowedMethods": {**methods, "CachedMethods": cached}}
    if functions is not None:
        api["FunctionAssociations"] = _quantity(
            [_only("FunctionAssociation", f, {"EventType", "FunctionARN"}) for f in functions])
    return api


def _distribution_config(caller_reference: str, config: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation `DistributionConfig` as CreateDistribution's (lists wrapped, `IPV6Enabled`
    renamed, a caller reference added), for the properties the template uses."""
    config = dict(_only("DistributionConfig", config, _DISTRIBUTION_PROPERTIES))
    api = {
        "CallerReference": caller_reference,
        "Comment": config.pop("Comment", ""),
        "Origins": _quantity([_only("Origin", o, _ORIGIN_PROPERTIES) for o in config.pop("Origins")]),
        "DefaultCacheBehavior": _cache_behavior(config.pop("DefaultCacheBehavior"), "DefaultCacheBehavior",
                                                _CACHE_BEHAVIOR_PROPERTIES | {"FunctionAssociations"}),
    }
    if "CacheBehaviors" in config:
        api["CacheBehaviors"] = _quantity([
            _cache_behavior(b, "CacheBehavior", _CACHE_BEHAVIOR_PROPERTIES | {"PathPattern", "FunctionAssociations"})
            for b in config.pop("CacheBehaviors")])
    if "IPV6Enabled" in config:
        api["IsIPV6Enabled"] = config.pop("IPV6Enabled")
    return {**api, **config}  # Enabled, DefaultRootObject, HttpVersion, PriceClass: same names


def apply_distribution(ctx: Context, resource: Resource) -> Physical:
    """A CloudFront distribution; `Ref` is its id. moto keeps the cache behaviour, root object, HTTP
    version and price class, and drops the origin's `OriginAccessControlId` (docs/infrastructure.md)."""
    reject_unknown(resource, {"DistributionConfig"})
    config = _distribution_config(f"{ctx.stack_name}-{resource.logical_id}", resource.properties["DistributionConfig"])
    distribution = ctx.client("cloudfront").create_distribution(DistributionConfig=config)["Distribution"]
    return Physical(distribution["Id"], {"Id": distribution["Id"], "DomainName": distribution["DomainName"]})


def apply_cloudfront_function(ctx: Context, resource: Resource) -> Physical:
    """A CloudFront Function; `FunctionMetadata.FunctionARN` its ARN. moto 5.2 has no PublishFunction
    (404), so `AutoPublish` is not applied; nothing runs the function locally anyway (the dev stack's web
    server maps /media/<key> itself, devstack/web_server.py)."""
    reject_unknown(resource, {"Name", "AutoPublish", "FunctionConfig", "FunctionCode"})
    props = resource.properties
    created = ctx.client("cloudfront").create_function(Name=props["Name"], FunctionConfig=props["FunctionConfig"],
                                                       FunctionCode=props["FunctionCode"].encode())
    arn = created["FunctionSummary"]["FunctionMetadata"]["FunctionARN"]
    return Physical(arn, {"FunctionARN": arn, "FunctionMetadata.FunctionARN": arn})


def apply_response_headers_policy(ctx: Context, resource: Resource) -> Physical:
    """moto 5.2 has no CloudFront response headers policies (no API, skipped by its CloudFormation): the
    policy is checked for its shape and given a stable id, which the distribution records. The headers
    themselves are only on AWS (tests/integration/test_template.py checks what they say)."""
    reject_unknown(resource, {"ResponseHeadersPolicyConfig"})
    config = resource.properties["ResponseHeadersPolicyConfig"]
    _only("ResponseHeadersPolicyConfig", config, {"Name", "Comment", "SecurityHeadersConfig", "CustomHeadersConfig",
                                                  "CorsConfig", "RemoveHeadersConfig", "ServerTimingHeadersConfig"})
    policy_id = f"local-{config['Name']}"
    return Physical(policy_id, {"Id": policy_id})
