"""What the account must already have before `make deploy` can make a working stage, checked first,
each failure with what to do about it (docs/deploy.md, "From an empty account").

These are account-wide settings or states that a stage must not change on its own (other stages
and applications of the account share them), so the deploy checks and explains instead of changing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from deploy.post_deploy import STAGE_THROTTLE

# docs/scaling.md, "Lambda concurrency" (Little's law, concurrency = rate x duration): an API request
# takes ~30-60 ms on AWS, and the event handlers need ~600 at the design load (payments ~300 with the
# provider's latency, notifications ~200, orders and audit ~100).
API_REQUEST_SECONDS = 0.06
EVENT_HANDLERS_CONCURRENCY = 600
LAMBDA_CONCURRENCY_QUOTA_CODE = "L-B99A9384"  # Service Quotas: Lambda "Concurrent executions"


class PrerequisiteError(RuntimeError):
    """The account is not ready for the stage; the message says what to do."""


Check = Callable[[], str | None]  # a problem with its remedy, or None


def api_gateway_logging_role(apigateway: Any) -> str | None:
    """API Gateway writes access logs only with the account's (per region) CloudWatch Logs role set."""
    if apigateway.get_account().get("cloudwatchRoleArn"):
        return None
    return ("API Gateway has no CloudWatch Logs role in this account and region, so the API stage's access "
            "log cannot be switched on. Once per account and region: create a role trusted by "
            "apigateway.amazonaws.com with the AWS managed policy AmazonAPIGatewayPushToCloudWatchLogs, then "
            "`aws apigateway update-account --patch-operations "
            "op=replace,path=/cloudwatchRoleArn,value=<role arn>` (docs/deploy.md, step 2)")


def verified_identity(ses: Any, sender: str) -> str | None:
    """The verified SES identity `sender` sends as: the address itself if it is verified, else its
    domain if that is; None when neither is."""
    domain = sender.rsplit("@", 1)[-1]
    attributes = ses.get_identity_verification_attributes(Identities=[sender, domain])["VerificationAttributes"]
    for identity in (sender, domain):
        if attributes.get(identity, {}).get("VerificationStatus") == "Success":
            return identity
    return None


def sender_problem(ses: Any, sender: str | None, region: str) -> str | None:
    """A deployed stage needs a sender it may send as, verified in the stage's region."""
    if not sender:
        return ("a deployed stage needs a sender address: make deploy STAGE=<stage> SENDER_EMAIL=<address> "
                "(an address you can receive mail at, or one of a domain whose DNS you control)")
    if verified_identity(ses, sender) is None:
        domain = sender.rsplit("@", 1)[-1]
        return (f"neither {sender} nor its domain {domain} is a verified SES identity in {region}. Verify one "
                f"first: `aws sesv2 create-email-identity --email-identity {sender} --region {region}` and click "
                f"the link AWS mails to it, or, for the domain with DKIM, `aws sesv2 create-email-identity "
                f"--email-identity {domain} --region {region}` and publish the three CNAME records it returns "
                "(docs/deploy.md, SES)")
    return None


def boundary_problem(iam: Any, boundary_arn: str) -> str | None:
    """Every role the deploy creates carries the stage's permissions boundary, which an administrator
    creates once (infra/deploy-role.yaml) and the deploy may not change."""
    try:
        iam.get_policy(PolicyArn=boundary_arn)
        return None
    except iam.exceptions.NoSuchEntityException:
        return (f"the permissions boundary {boundary_arn} does not exist: an administrator deploys "
                "infra/deploy-role.yaml for the stage once (docs/deploy.md, Continuous deployment, step 2)")


def required_concurrency() -> int:
    """What the stage's throttles assume: the API at its stage-wide rate limit, plus the event handlers."""
    return math.ceil(STAGE_THROTTLE[0] * API_REQUEST_SECONDS) + EVENT_HANDLERS_CONCURRENCY


def lambda_concurrency_problem(lambda_client: Any, required: int, region: str) -> str | None:
    """New accounts get far less than Lambda's default 1,000 concurrent executions per region; the API's
    throttle would then admit more requests than Lambda runs, and the rest would fail as throttles."""
    limit = lambda_client.get_account_settings()["AccountLimit"]["ConcurrentExecutions"]
    if limit >= required:
        return None
    return (f"the account may run {limit} Lambda functions at once in {region}; the stage's throttles assume "
            f"{required} (docs/scaling.md). Ask for more: `aws service-quotas request-service-quota-increase "
            f"--service-code lambda --quota-code {LAMBDA_CONCURRENCY_QUOTA_CODE} --desired-value 1000 "
            f"--region {region}`")


def cloudfront_problem(cloudfront: Any) -> str | None:
    """Whether the deploying principal can use CloudFront at all. A new account may also need AWS to
    verify it before its first distribution, which no API can ask: the stack then fails with
    CloudFront's message, and resources.explain says what to do."""
    try:
        cloudfront.list_distributions(MaxItems="1")
    except ClientError as exc:
        return (f"CloudFront cannot be used with these credentials ({exc.response['Error']['Code']}): the "
                "deploying principal needs cloudfront rights for the site's distribution (docs/deploy.md)")
    return None


def require(checks: dict[str, Check]) -> None:
    """Run every check; raise one PrerequisiteError listing every problem found."""
    problems = []
    for name, check in checks.items():
        try:
            problem = check()
        except ClientError as exc:
            problem = f"could not be checked: {exc}"
        if problem:
            problems.append(f"- {name}: {problem}")
    if problems:
        raise PrerequisiteError("the account is not ready for this stage:\n" + "\n".join(problems))
