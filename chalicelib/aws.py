"""boto3 clients, created once per container and configured only from the environment.

boto3 and PynamoDB both honour `AWS_ENDPOINT_URL`, which is how the same code talks to moto
locally and to AWS when deployed.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config

from chalicelib.settings import get_settings

# A hung backend must become a 503 within seconds, well inside API Gateway's 29 s integration limit:
# at most 2 attempts of (connect 2 s + read 3 s). PynamoDB's own defaults (15 s, 30 s, 4 attempts) are
# overridden the same way in chalicelib/dynamo.py (measured in docs/performance.md).
CONNECT_TIMEOUT_S, READ_TIMEOUT_S, MAX_ATTEMPTS = 2, 3, 2
_CONFIG = Config(connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S,
                 retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"})


@functools.cache
def client(service: str) -> Any:
    """The container's client of `service`. Typed Any: boto3's stubs type a client by the literal service
    name, and this one function serves every service."""
    session: Any = boto3.session.Session()
    return session.client(service, region_name=get_settings().region, config=_CONFIG)
