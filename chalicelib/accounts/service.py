"""Accounts: sign-up, confirmation, login, refresh and profiles. Knows nothing about HTTP."""

from __future__ import annotations

import re
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from chalicelib.accounts import cognito
from chalicelib.accounts.models import Address, Profile
from chalicelib.accounts.tokens import ADMIN_GROUP
from chalicelib.clock import now_iso
from chalicelib.dynamo import condition_failed, put_if_absent
from chalicelib.errors import InvalidInput, NotFound
from chalicelib.settings import get_settings

PASSWORD_RULES = (
    (re.compile(r"[a-z]"), "a lowercase letter"), (re.compile(r"[A-Z]"), "an uppercase letter"),
    (re.compile(r"[0-9]"), "a digit"), (re.compile(r"[^A-Za-z0-9]"), "a symbol"),
)
MIN_PASSWORD_LENGTH = 8


def check_password(password: str) -> None:
    """The user pool's policy (infra/template.yaml), checked first so the message can say what is missing."""
    missing = [label for pattern, label in PASSWORD_RULES if not pattern.search(password)]
    if len(password) < MIN_PASSWORD_LENGTH:
        missing.insert(0, f"at least {MIN_PASSWORD_LENGTH} characters")
    if missing:
        raise InvalidInput(f"The password needs {', '.join(missing)}",
                           errors=[{"field": "password", "message": f"needs {label}"} for label in missing])


def sign_up(email: str, password: str, name: str) -> dict[str, str]:
    email = email.lower()
    check_password(password)
    user_id = cognito.sign_up(email, password, name)
    if get_settings().auto_confirm_signups:  # no code is sent, so the address counts as verified
        cognito.admin_confirm_sign_up(email)
        cognito.mark_email_verified(user_id)
    _create_profile(user_id, email, name)
    return {"user_id": user_id, "email": email}


def confirm(email: str, code: str) -> dict[str, Any]:
    cognito.confirm_sign_up(email.lower(), code)
    return {"email": email.lower(), "confirmed": True}


def log_in(email: str, password: str) -> dict[str, Any]:
    return cognito.log_in(email.lower(), password)


def refresh(refresh_token: str) -> dict[str, Any]:
    return cognito.refresh(refresh_token)


def _create_profile(user_id: str, email: str, name: str) -> Profile:
    now = now_iso()
    profile = Profile(pk=f"USER#{user_id}", sk="PROFILE", user_id=user_id, email=email, name=name,
                      created_at=now, updated_at=now)
    if put_if_absent(profile):
        return profile
    return Profile.get(f"USER#{user_id}", "PROFILE")


def _load(user_id: str) -> Profile | None:
    try:
        return Profile.get(f"USER#{user_id}", "PROFILE")
    except Profile.DoesNotExist:
        return None


def my_profile(user_id: str, email: str, is_admin: bool) -> dict[str, Any]:
    """The caller's profile; one is created from the token's claims if sign-up did not leave one."""
    profile = _load(user_id) or _create_profile(user_id, email, email.split("@")[0])
    return _view(profile, is_admin)


def profile_for(viewer_id: str, viewer_is_admin: bool, user_id: str) -> dict[str, Any]:
    """Someone's profile: only they and admins may see it; for anyone else it does not exist."""
    if viewer_id != user_id and not viewer_is_admin:
        raise NotFound("No such user")
    profile = _load(user_id)
    if profile is None:
        raise NotFound("No such user")
    is_admin = ADMIN_GROUP in cognito.groups_of(profile.email)
    return _view(profile, is_admin)


def update_profile(user_id: str, email: str, is_admin: bool, changes: dict[str, Any]) -> dict[str, Any]:
    """One conditional UpdateItem that returns the new profile; a profile sign-up did not leave is
    created from the token's claims first (only then does it cost more calls)."""
    if not changes:
        raise InvalidInput("Nothing to change: send name and/or shipping_address")
    actions: list[Action] = [Profile.updated_at.set(now_iso())]
    if "name" in changes:
        actions.append(Profile.name.set(changes["name"]))
    if "shipping_address" in changes:
        address = changes["shipping_address"]
        actions.append(Profile.shipping_address.remove() if address is None
                       else Profile.shipping_address.set(Address(**address)))
    profile = Profile(pk=f"USER#{user_id}", sk="PROFILE")
    try:
        profile.update(actions=actions, condition=Profile.pk.exists())
    except UpdateError as exc:
        if not condition_failed(exc):
            raise
        my_profile(user_id, email, is_admin)
        profile.update(actions=actions, condition=Profile.pk.exists())
    return _view(profile, is_admin)


def _view(profile: Profile, is_admin: bool) -> dict[str, Any]:
    address = profile.shipping_address
    return {
        "user_id": profile.user_id, "email": profile.email, "name": profile.name, "is_admin": is_admin,
        "created_at": profile.created_at,
        "shipping_address": None if address is None else {
            "line1": address.line1, "line2": address.line2, "city": address.city,
            "postal_code": address.postal_code, "country": address.country},
    }
