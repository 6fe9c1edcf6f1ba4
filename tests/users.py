"""Real users in the test stack's Cognito: sign-up and login through the accounts service."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from chalicelib.accounts import cognito, service

PASSWORD = "Test-Passw0rd!"


@dataclass(frozen=True)
class TestUser:
    user_id: str
    email: str
    id_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.id_token}", "Content-Type": "application/json"}


def make_user(admin: bool = False, name: str = "Test User") -> TestUser:
    email = f"user-{uuid.uuid4().hex[:10]}@example.com"
    user_id = service.sign_up(email, PASSWORD, name)["user_id"]
    cognito.admin_confirm_sign_up(email)
    cognito.mark_email_verified(user_id)  # as confirming with the emailed code does on AWS
    if admin:
        cognito.add_to_group(email, "admin")
    return TestUser(user_id=user_id, email=email, id_token=service.log_in(email, PASSWORD)["id_token"])


def uid(prefix: str = "t") -> str:
    """A unique id for test data in the shared stack."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
