"""The environment the in-process stack runs in (tests/unit, tests/integration and the benchmarks).

Set before anything imports the app, as Lambda's is: fake credentials for moto, the local stage,
no metrics, and nothing of the developer's own AWS setup (endpoint, profile) leaking in.
"""

from __future__ import annotations

import os

IN_PROCESS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
    "STOREFRONT_STAGE": "local", "POWERTOOLS_METRICS_DISABLED": "true",
}
LEFT_OUT = ("AWS_ENDPOINT_URL", "AWS_PROFILE")


def use_in_process_environment(**extra: str) -> None:
    """Set IN_PROCESS_ENVIRONMENT (and `extra`) in os.environ and drop what LEFT_OUT names."""
    os.environ.update({**IN_PROCESS_ENVIRONMENT, **extra})
    for name in LEFT_OUT:
        os.environ.pop(name, None)
