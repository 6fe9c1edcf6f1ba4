"""Cognito, behind plain functions: user-pool calls in, tokens and domain errors out."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from chalicelib import aws
from chalicelib.errors import Conflict, Forbidden, InvalidInput, NotFound, TooManyRequests, Unauthorized
from chalicelib.settings import get_settings

_ERRORS: dict[str, tuple[type, str]] = {
    "UsernameExistsException": (Conflict, "An account with this email already exists"),
    "InvalidPasswordException": (InvalidInput, "The password does not meet the password policy"),
    "InvalidParameterException": (InvalidInput, "The request was not accepted by the identity service"),
    "NotAuthorizedException": (Unauthorized, "Wrong email or password"),
    "UserNotFoundException": (Unauthorized, "Wrong email or password"),
    "UserNotConfirmedException": (Forbidden, "Confirm your email address first (POST /auth/confirm)"),
    "CodeMismatchException": (InvalidInput, "The confirmation code is wrong"),
    "ExpiredCodeException": (InvalidInput, "The confirmation code has expired"),
    "TooManyRequestsException": (TooManyRequests, "Too many requests; retry shortly"),
    "LimitExceededException": (TooManyRequests, "Too many attempts; retry later"),
    "TooManyFailedAttemptsException": (TooManyRequests, "Too many failed attempts; retry later"),
}


def _call(operation: str, **kwargs: Any) -> dict[str, Any]:
    try:
        response: dict[str, Any] = getattr(aws.client("cognito-idp"), operation)(**kwargs)
        return response
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code in _ERRORS:
            error_class, message = _ERRORS[code]
            raise error_class(message) from None
        raise


def sign_up(email: str, password: str, name: str) -> str:
    """Register the user; return their id (Cognito's `sub`).

    The pool's username attribute is `email`, so Cognito sets the email attribute from `Username`;
    the app client may write only `name` (infra/template.yaml), so sending `email` would be refused.
    """
    settings = get_settings()
    response = _call("sign_up", ClientId=settings.user_pool_client_id, Username=email, Password=password,
                     UserAttributes=[{"Name": "name", "Value": name}])
    return str(response["UserSub"])


def mark_email_verified(user_id: str) -> None:
    """Mark the user's address verified: only for stages that confirm sign-ups without a code."""
    _call("admin_update_user_attributes", UserPoolId=get_settings().user_pool_id, Username=user_id,
          UserAttributes=[{"Name": "email_verified", "Value": "true"}])


def verified_email(user_id: str) -> str | None:
    """The user's email address if Cognito has it verified; None if not, or if there is no such user."""
    try:
        user = _call("admin_get_user", UserPoolId=get_settings().user_pool_id, Username=user_id)
    except Unauthorized:  # UserNotFoundException: the account was deleted
        return None
    attributes = {a["Name"]: a["Value"] for a in user.get("UserAttributes", [])}
    return attributes.get("email") if attributes.get("email_verified") == "true" else None


def confirm_sign_up(email: str, code: str) -> None:
    try:
        _call("confirm_sign_up", ClientId=get_settings().user_pool_client_id, Username=email,
              ConfirmationCode=code)
    except Unauthorized:  # Cognito's NotAuthorized/UserNotFound here: nothing to confirm for this email
        raise Conflict("This account is already confirmed, or there is no such account to confirm") from None


def admin_confirm_sign_up(email: str) -> None:
    _call("admin_confirm_sign_up", UserPoolId=get_settings().user_pool_id, Username=email)


def add_to_group(email: str, group: str) -> None:
    _call("admin_add_user_to_group", UserPoolId=get_settings().user_pool_id, Username=email, GroupName=group)


def groups_of(email: str) -> list[str]:
    try:
        response = _call("admin_list_groups_for_user", UserPoolId=get_settings().user_pool_id, Username=email)
    except Unauthorized:  # UserNotFoundException: the profile outlived its Cognito user
        raise NotFound("No such user") from None
    return [group["GroupName"] for group in response.get("Groups", [])]


def log_in(email: str, password: str) -> dict[str, Any]:
    response = _call("initiate_auth", ClientId=get_settings().user_pool_client_id, AuthFlow="USER_PASSWORD_AUTH",
                     AuthParameters={"USERNAME": email, "PASSWORD": password})
    return _tokens(response)


def refresh(refresh_token: str) -> dict[str, Any]:
    try:
        response = _call("initiate_auth", ClientId=get_settings().user_pool_client_id,
                         AuthFlow="REFRESH_TOKEN_AUTH", AuthParameters={"REFRESH_TOKEN": refresh_token})
    except (Unauthorized, InvalidInput):
        raise Unauthorized("The refresh token is not valid") from None
    return _tokens(response)


def _tokens(response: dict[str, Any]) -> dict[str, Any]:
    result = response.get("AuthenticationResult")
    if not result:  # a challenge (e.g. NEW_PASSWORD_REQUIRED) this API does not offer
        raise Forbidden(f"The account needs an action this API does not support: {response.get('ChallengeName')}")
    tokens = {"id_token": result["IdToken"], "access_token": result["AccessToken"],
              "expires_in": result["ExpiresIn"], "token_type": "Bearer"}
    if result.get("RefreshToken"):
        tokens["refresh_token"] = result["RefreshToken"]
    return tokens
