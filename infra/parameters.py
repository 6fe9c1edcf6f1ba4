"""The stage's SecureString parameters: the resources infra/template.yaml cannot hold.

CloudFormation cannot create a SecureString parameter (AWS::SSM::Parameter allows String and
StringList only), so the payment provider's API key is created here, by the one function that
`make dev` (devstack/provision/, and so the test fixtures) and `make deploy` (deploy/flow.py)
both call. Nothing here knows about moto.
"""

from __future__ import annotations

import secrets
from typing import Any

from chalicelib import settings

TEST_KEY_PREFIX = "sk_test_"


def payment_provider_key_name(stage: str) -> str:
    """`/storefront/<stage>/payment-provider-api-key`."""
    return settings.parameter_name(settings.PAYMENT_PROVIDER_API_KEY, stage)


def ensure_payment_provider_key(ssm: Any, stage: str) -> bool:
    """Create the stage's API key parameter with a generated test key unless it exists; True if created.

    One `PutParameter` without `Overwrite`: SSM itself refuses it when the parameter exists, so a key
    an operator has put there is never read, replaced or printed. No `KeyId`: the value is encrypted
    with the account's AWS managed key `alias/aws/ssm`.
    """
    try:
        ssm.put_parameter(
            Name=payment_provider_key_name(stage),
            Description="Payment provider API key (sk_test_... or sk_live_...); see docs/deploy.md",
            Value=TEST_KEY_PREFIX + secrets.token_hex(24),
            Type="SecureString",
            Overwrite=False,
        )
    except ssm.exceptions.ParameterAlreadyExists:
        return False
    return True
