"""The bearer-token check in front of every protected route (see docs/architecture.md, "Auth").

A Chalice built-in authorizer: API Gateway runs it before the API Lambda on deployed stages, and
`chalice local` and `chalice.test.Client` run the very same code. It never raises (an exception in
an authorizer drops the connection under `chalice local`): a request without a valid token is
let through marked as unauthenticated and `web.route` answers 401 in the contract's error shape,
so the only way into a protected route's code is a token this module verified. When the user
pool's signing keys cannot be fetched the context says `keys_unavailable` instead, and `web.route`
verifies the token itself: API Gateway caches this verdict for 5 minutes, and a valid token must
work again as soon as the keys are reachable. Only if they still are not is the answer a 503.
"""

from __future__ import annotations

from chalice import AuthResponse, Blueprint
from chalice.app import AuthRequest

from chalicelib.accounts import tokens
from chalicelib.observability import logger

bp = Blueprint(__name__)
ANONYMOUS = "anonymous"
KEYS_UNAVAILABLE = "keys_unavailable"  # in the context: the token could not be checked, not found wrong


# API Gateway caches a verdict per token for 5 minutes; web.route re-checks `expires_at` on every call.
@bp.authorizer(ttl_seconds=300)
def jwt_authorizer(auth_request: AuthRequest) -> AuthResponse:
    scheme, _, token = (auth_request.token or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return AuthResponse(routes=["*"], principal_id=ANONYMOUS, context={"token_error": "not a bearer token"})
    try:
        claims = tokens.verify_id_token(token.strip())
    except tokens.InvalidToken as exc:
        logger.info("rejected token", extra={"reason": str(exc)})
        return AuthResponse(routes=["*"], principal_id=ANONYMOUS, context={"token_error": str(exc)})
    except tokens.KeysUnavailable as exc:  # web.route checks the token again, and answers 503 if it still cannot
        logger.error("signing keys unavailable", extra={"reason": str(exc)})
        return AuthResponse(routes=["*"], principal_id=ANONYMOUS, context={
            "token_error": "signing keys unavailable", KEYS_UNAVAILABLE: "true"})
    return AuthResponse(routes=["*"], principal_id=claims.user_id, context={
        "email": claims.email, "is_admin": "true" if claims.is_admin else "false",
        "expires_at": str(claims.expires_at)})
