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

_CONFIG = Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"})


@functools.cache
def client(service: str) -> Any:
    return boto3.session.Session().client(service, region_name=get_settings().region, config=_CONFIG)
