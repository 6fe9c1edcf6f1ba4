"""Accounts over HTTP (chalice.test.Client) against the in-process stack's Cognito and tables."""

import base64
import json
import time
import uuid

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from chalicelib.accounts.models import Profile
from tests.users import PASSWORD, make_user

pytestmark = pytest.mark.usefixtures("stack")


def post(client, path, body, headers=None):
    return client.http.post(path, body=json.dumps(body) if not isinstance(body, bytes) else body,
                            headers={"Content-Type": "application/json", **(headers or {})})


def new_email():
    return f"u-{uuid.uuid4().hex[:10]}@example.com"


def test_signup_login_profile_round_trip(client):
    email = new_email()
    created = post(client, "/auth/signup", {"email": email.upper(), "password": PASSWORD, "name": "Ada"})
    assert created.status_code == 201
    assert created.json_body["email"] == email and created.json_body["user_id"]
    login = post(client, "/auth/login", {"email": email, "password": PASSWORD})
    assert login.status_code == 200
    tokens = login.json_body
    assert set(tokens) == {"id_token", "access_token", "refresh_token", "expires_in", "token_type"}
    me = client.http.get("/users/me", headers={"Authorization": f"Bearer {tokens['id_token']}"})
    assert me.status_code == 200
    assert me.json_body["user_id"] == created.json_body["user_id"]
    assert me.json_body | {"created_at": None} == {
        "user_id": created.json_body["user_id"], "email": email, "name": "Ada", "is_admin": False,
        "created_at": None, "shipping_address": None}
    assert me.json_body["created_at"].endswith("Z")


def test_duplicate_email_is_409_and_weak_password_400(client):
    email = new_email()
    assert post(client, "/auth/signup", {"email": email, "password": PASSWORD, "name": "A"}).status_code == 201
    again = post(client, "/auth/signup", {"email": email, "password": PASSWORD, "name": "A"})
    assert again.status_code == 409 and again.json_body["Code"] == "ConflictError"
    weak = post(client, "/auth/signup", {"email": new_email(), "password": "short", "name": "A"})
    assert weak.status_code == 400
    assert {e["message"] for e in weak.json_body["Errors"]} >= {"needs at least 8 characters", "needs a digit"}


@pytest.mark.parametrize("body", [
    {"email": "not-an-email", "password": PASSWORD, "name": "A"},
    {"email": "a@b.co", "password": PASSWORD},
    {"email": "a@b.co", "password": PASSWORD, "name": "A", "role": "admin"},
    {"email": "a@b.co", "password": PASSWORD, "name": "x" * 101},
    {"email": 5, "password": PASSWORD, "name": "A"},
])
def test_bad_signup_bodies_are_400(client, body):
    response = post(client, "/auth/signup", body)
    assert response.status_code == 400 and response.json_body["Code"] == "BadRequestError"


def test_wrong_credentials_are_401(client):
    user = make_user()
    assert post(client, "/auth/login", {"email": user.email, "password": "Wrong-Passw0rd!"}).status_code == 401
    assert post(client, "/auth/login", {"email": new_email(), "password": PASSWORD}).status_code == 401


def test_refresh_gives_new_tokens_and_rejects_garbage(client):
    email = new_email()
    post(client, "/auth/signup", {"email": email, "password": PASSWORD, "name": "A"})
    refresh_token = post(client, "/auth/login", {"email": email, "password": PASSWORD}).json_body["refresh_token"]
    refreshed = post(client, "/auth/refresh", {"refresh_token": refresh_token})
    assert refreshed.status_code == 200 and {"id_token", "access_token", "expires_in"} <= set(refreshed.json_body)
    me = client.http.get("/users/me", headers={"Authorization": f"Bearer {refreshed.json_body['id_token']}"})
    assert me.status_code == 200
    assert post(client, "/auth/refresh", {"refresh_token": "garbage"}).status_code == 401


def test_patch_me_sets_and_clears_the_address(client):
    user = make_user()
    address = {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}
    changed = client.http.patch("/users/me", headers=user.headers,
                                body=json.dumps({"name": "New Name", "shipping_address": address}))
    assert changed.status_code == 200
    assert changed.json_body["name"] == "New Name"
    assert changed.json_body["shipping_address"] == {**address, "line2": None}
    assert client.http.get("/users/me", headers=user.headers).json_body["shipping_address"]["city"] == "Springfield"
    cleared = client.http.patch("/users/me", headers=user.headers, body=json.dumps({"shipping_address": None}))
    assert cleared.json_body["shipping_address"] is None


@pytest.mark.parametrize("body", [
    {}, {"shipping_address": {"line1": "x", "city": "y", "postal_code": "z", "country": "usa"}},
    {"shipping_address": {"city": "y", "postal_code": "z", "country": "US"}}, {"name": ""}, {"email": "x@y.z"},
])
def test_bad_patches_are_400_and_change_nothing(client, body):
    user = make_user(name="Before")
    response = client.http.patch("/users/me", headers=user.headers, body=json.dumps(body))
    assert response.status_code == 400
    assert Profile.get(f"USER#{user.user_id}", "PROFILE").name == "Before"


def test_users_by_id_self_or_admin_else_404(client):
    alice, bob, admin = make_user(), make_user(), make_user(admin=True)
    assert client.http.get(f"/users/{alice.user_id}", headers=alice.headers).status_code == 200
    assert client.http.get(f"/users/{alice.user_id}", headers=bob.headers).status_code == 404
    seen_by_admin = client.http.get(f"/users/{alice.user_id}", headers=admin.headers)
    assert seen_by_admin.status_code == 200 and seen_by_admin.json_body["email"] == alice.email
    assert client.http.get(f"/users/{admin.user_id}", headers=admin.headers).json_body["is_admin"] is True
    assert client.http.get("/users/nobody", headers=admin.headers).status_code == 404


def _b64(data) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _sign(header: dict, claims: dict, key=None) -> str:
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signing_input = f"{_b64(header)}.{_b64(claims)}".encode()
    return f"{signing_input.decode()}.{_b64(key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256()))}"


def forged_tokens(real: str) -> dict[str, str]:
    header_b64, payload_b64, signature = real.split(".")
    claims = _claims_of(real)
    admin_claims = {**claims, "cognito:groups": ["admin"]}
    return {
        "tampered payload": f"{header_b64}.{_b64(admin_claims)}.{signature}",
        "alg none": f"{_b64({'alg': 'none', 'kid': 'dummy'})}.{_b64(admin_claims)}.",
        "HS256": f"{_b64({'alg': 'HS256', 'kid': 'dummy'})}.{payload_b64}.{signature}",
        "own key, same kid": _sign({"alg": "RS256", "kid": "dummy"}, admin_claims),
        "unknown kid": _sign({"alg": "RS256", "kid": "other"}, claims),
        "garbage": "not.a.token",
        "not base64": "a!.b!.c!",
        # The real token with a segment that only a lenient decoder reads as the same bytes (RFC 7515
        # allows the URL-safe alphabet alone, without padding).
        "standard alphabet": f"{header_b64}.{payload_b64}.{signature.replace('-', '+').replace('_', '/')}",
        "padded": f"{header_b64}.{payload_b64}.{signature}{'=' * (-len(signature) % 4) or '=='}",
        "trailing junk": f"{header_b64}.{payload_b64}.{signature}A",
        "payload with junk": f"{header_b64}.{payload_b64}!.{signature}",
    }


def test_forged_and_malformed_tokens_are_401(client):
    user = make_user()
    for label, token in forged_tokens(user.id_token).items():
        response = client.http.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, label
        assert response.json_body["Code"] == "UnauthorizedError", label


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer " + "x" * 9000])
def test_missing_or_non_bearer_headers_are_401(client, header):
    headers = {} if header is None else {"Authorization": header}
    response = client.http.get("/users/me", headers=headers)
    assert response.status_code == 401


def test_expired_wrong_issuer_audience_and_use_are_401(client, monkeypatch):
    from chalicelib.accounts import tokens

    user = make_user()
    claims = _claims_of(user.id_token)
    monkeypatch.setattr(tokens.time, "time", lambda: claims["exp"] + tokens.CLOCK_SKEW_SECONDS + 1)
    assert client.http.get("/users/me", headers=user.headers).status_code == 401  # expired
    monkeypatch.undo()
    with pytest.raises(tokens.InvalidToken, match="wrong issuer"):
        tokens._check_claims({**claims, "iss": claims["iss"] + "x"}, "us-east-1", claims["iss"].rsplit("/", 1)[1],
                             claims["aud"], time.time())
    pool_id = claims["iss"].rsplit("/", 1)[1]
    with pytest.raises(tokens.InvalidToken, match="wrong audience"):
        tokens._check_claims({**claims, "aud": "other-client"}, "us-east-1", pool_id, claims["aud"], time.time())
    with pytest.raises(tokens.InvalidToken, match="not an id token"):
        tokens._check_claims({**claims, "token_use": "access"}, "us-east-1", pool_id, claims["aud"], time.time())


def test_an_access_token_is_not_accepted_as_an_id_token(client):
    email = new_email()
    post(client, "/auth/signup", {"email": email, "password": PASSWORD, "name": "A"})
    access = post(client, "/auth/login", {"email": email, "password": PASSWORD}).json_body["access_token"]
    assert client.http.get("/users/me", headers={"Authorization": f"Bearer {access}"}).status_code == 401


def test_a_token_of_another_pool_is_401(client, monkeypatch):
    user = make_user()
    monkeypatch.setenv("STOREFRONT_USER_POOL_ID", "us-east-1_otherpool")
    assert client.http.get("/users/me", headers=user.headers).status_code == 401


def test_confirming_needs_an_account(client):
    # moto's ConfirmSignUp accepts any code for an existing user, so only Cognito's answer for an
    # unknown account can be tested here; the mapping of every Cognito error is in cognito._ERRORS.
    user = make_user()
    response = post(client, "/auth/confirm", {"email": new_email(), "code": "123456"})
    assert response.status_code == 409 and response.json_body["Code"] == "ConflictError"
    assert post(client, "/auth/confirm", {"email": user.email}).status_code == 400


# --- issue 14, item 4: a signing-key fetch failure is a 503 for that request, never a lockout --------

def test_a_jwks_fetch_failure_is_a_503_and_valid_tokens_work_as_soon_as_the_keys_are_back(client, monkeypatch):
    import urllib.error

    from chalicelib.accounts import tokens

    user = make_user()
    reachable = tokens.fetch_jwks
    calls = []

    def unreachable(url):
        calls.append(url)
        raise urllib.error.URLError("connection refused")

    tokens.keys.clear()
    monkeypatch.setattr(tokens, "fetch_jwks", unreachable)
    response = client.http.get("/users/me", headers=user.headers)
    assert response.status_code == 503
    assert response.json_body["Code"] == "ServiceUnavailableError"
    assert response.headers["Retry-After"] == "1"
    assert len(calls) == 2  # the authorizer's try, and web.route's
    monkeypatch.setattr(tokens, "fetch_jwks", lambda url: {"keys": [{"kty": "RSA"}, "junk"]})
    assert client.http.get("/users/me", headers=user.headers).status_code == 503  # an unreadable JWKS too
    monkeypatch.setattr(tokens, "fetch_jwks", reachable)
    assert client.http.get("/users/me", headers=user.headers).status_code == 200  # at once, not after 60 s


def test_a_verdict_given_while_the_keys_were_unreachable_does_not_outlive_the_outage(client, monkeypatch):
    """API Gateway caches the authorizer's verdict for 5 minutes: web.route checks such a token again."""
    import urllib.error

    from chalicelib.accounts import tokens

    user = make_user()
    reachable, failures = tokens.fetch_jwks, iter([urllib.error.URLError("timed out")])

    def fails_once(url):
        failure = next(failures, None)
        if failure:
            raise failure
        return reachable(url)

    tokens.keys.clear()
    monkeypatch.setattr(tokens, "fetch_jwks", fails_once)
    response = client.http.get("/users/me", headers=user.headers)
    assert response.status_code == 200
    assert response.json_body["user_id"] == user.user_id
    tokens.keys.clear()
    failures = iter([urllib.error.URLError("timed out")])
    forged = forged_tokens(user.id_token)["own key, same kid"]
    assert client.http.get("/users/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


# --- issue 14, item 8: a user cannot point order emails at another address --------------------------

def test_the_app_client_may_write_the_name_but_never_the_email():
    """moto does not enforce WriteAttributes (UpdateUserAttributes with an access token changes the
    email whatever the client allows), so the template itself is checked here; on AWS the write is
    refused with NotAuthorizedException."""
    import boto3

    from chalicelib.settings import get_settings
    from infra.stack import load_template

    client = load_template()["Resources"]["UserPoolClient"]["Properties"]
    assert client["WriteAttributes"] == ["name"]
    settings = get_settings()
    provisioned = boto3.client("cognito-idp", region_name="us-east-1").describe_user_pool_client(
        UserPoolId=settings.user_pool_id, ClientId=settings.user_pool_client_id)["UserPoolClient"]
    assert provisioned["WriteAttributes"] == ["name"]  # what make dev / the tests' stack created


def test_sign_up_writes_only_attributes_the_client_may_write(client, monkeypatch):
    """On AWS a SignUp naming an attribute the client may not write is refused: the email comes from
    the username (the pool's username attribute)."""
    from botocore.client import BaseClient

    sent = []
    original = BaseClient._make_api_call

    def recording(self, operation, params):
        if operation == "SignUp":
            sent.append(params)
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    email = new_email()
    assert post(client, "/auth/signup", {"email": email, "password": PASSWORD, "name": "Ada"}).status_code == 201
    [request] = sent
    assert request["Username"] == email and request["UserAttributes"] == [{"Name": "name", "Value": "Ada"}]
    me = make_user()
    assert client.http.get("/users/me", headers=me.headers).json_body["email"] == me.email


def test_importing_the_app_loads_no_token_library():
    """PyJWT and cryptography are in the token verifiers' layer only (deploy/packaging.py LAYERS): any
    other function importing them at app import would fail on AWS, where its zip has neither."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, app; loaded = [m for m in ('jwt', 'cryptography', 'cffi') if m in sys.modules]; "
            "assert not loaded, loaded")
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[3],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
