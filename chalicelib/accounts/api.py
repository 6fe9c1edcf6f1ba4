"""Routes of the accounts service: /auth/* and /users/*."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint

from chalicelib import lazy, web
from chalicelib.schema import Bool, Int, Obj, Str

if TYPE_CHECKING:
    from chalicelib.accounts import service
else:  # imported by the first call that uses it, not by every function's cold start (chalicelib/lazy.py)
    service = lazy.module("chalicelib.accounts.service")

bp = Blueprint(__name__)

EMAIL = Str(min_len=3, max_len=254, pattern=r"[^@\s]+@[^@\s]+\.[^@\s]+", fmt="email", description="Email address")
PASSWORD = Str(min_len=1, max_len=256, strip=False,
               description="At least 8 characters with a lowercase and an uppercase letter, a digit and a symbol")
NAME = Str(min_len=1, max_len=100, description="Display name")
ADDRESS = Obj({
    "line1": Str(min_len=1, max_len=200), "line2": Str(max_len=200, nullable=True),
    "city": Str(min_len=1, max_len=100), "postal_code": Str(min_len=1, max_len=20),
    "country": Str(min_len=2, max_len=2, pattern=r"[A-Z]{2}", description="ISO 3166-1 alpha-2"),
}, required=("line1", "city", "postal_code", "country"), nullable=True)
PROFILE = Obj({
    "user_id": Str(), "email": Str(), "name": Str(), "is_admin": Bool(), "created_at": Str(fmt="date-time"),
    "shipping_address": ADDRESS,
}, required=("user_id", "email", "name", "is_admin", "created_at", "shipping_address"))
TOKENS = Obj({
    "id_token": Str(max_len=10_000), "access_token": Str(max_len=10_000), "refresh_token": Str(max_len=10_000),
    "expires_in": Int(), "token_type": Str(enum=("Bearer",)),
}, required=("id_token", "access_token", "expires_in", "token_type"))
TAGS = ("accounts",)


@web.route(bp, "/auth/signup", "POST", summary="Create an account", status=201, tags=TAGS, errors=(409,),
           body=Obj({"email": EMAIL, "password": PASSWORD, "name": NAME}, required=("email", "password", "name")),
           response=Obj({"user_id": Str(), "email": Str()}, required=("user_id", "email")))
def sign_up(call: web.Call) -> web.JsonObject:
    return service.sign_up(**call.payload)


@web.route(bp, "/auth/confirm", "POST", summary="Confirm an account with the emailed code", tags=TAGS,
           body=Obj({"email": EMAIL, "code": Str(min_len=1, max_len=20)}, required=("email", "code")),
           response=Obj({"email": Str(), "confirmed": Bool()}, required=("email", "confirmed")), errors=(409, 429))
def confirm(call: web.Call) -> web.JsonObject:
    return service.confirm(**call.payload)


@web.route(bp, "/auth/login", "POST", summary="Log in; returns Cognito tokens", tags=TAGS, errors=(401, 403, 429),
           body=Obj({"email": EMAIL, "password": PASSWORD}, required=("email", "password")), response=TOKENS)
def log_in(call: web.Call) -> web.JsonObject:
    return service.log_in(**call.payload)


@web.route(bp, "/auth/refresh", "POST", summary="New id and access tokens from a refresh token", tags=TAGS,
           errors=(401,), body=Obj({"refresh_token": Str(min_len=1, max_len=10_000)}, required=("refresh_token",)),
           response=TOKENS)
def refresh(call: web.Call) -> web.JsonObject:
    return service.refresh(call.payload["refresh_token"])


@web.route(bp, "/users/me", "GET", summary="The caller's profile", auth="user", response=PROFILE, tags=TAGS)
def get_me(call: web.Call) -> web.JsonObject:
    return service.my_profile(call.user.user_id, call.user.email, call.user.is_admin)


@web.route(bp, "/users/me", "PATCH", summary="Change the caller's name or shipping address", auth="user",
           body=Obj({"name": NAME, "shipping_address": ADDRESS}), response=PROFILE, tags=TAGS)
def patch_me(call: web.Call) -> web.JsonObject:
    return service.update_profile(call.user.user_id, call.user.email, call.user.is_admin, call.payload)


@web.route(bp, "/users/{user_id}", "GET", summary="A user's profile (self or admin)", auth="user",
           response=PROFILE, errors=(404,), tags=TAGS)

def get_user(call: web.Call, user_id: str) -> web.JsonObject:
    return service.profile_for(call.user.user_id, call.user.is_admin, user_id)
