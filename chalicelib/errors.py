"""Errors a user can cause, raised by service code that knows nothing about HTTP.

`web.route` turns each into the contract's error shape; the class names map 1:1 to Chalice's
error names so clients see `{"Code": "NotFoundError", ...}` whichever layer raised.
"""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "BadRequestError"

    def __init__(self, message: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []


class InvalidInput(DomainError):
    status, code = 400, "BadRequestError"


class Unauthorized(DomainError):
    status, code = 401, "UnauthorizedError"


class Forbidden(DomainError):
    status, code = 403, "ForbiddenError"


class NotFound(DomainError):
    status, code = 404, "NotFoundError"


class Conflict(DomainError):
    status, code = 409, "ConflictError"


class Unprocessable(DomainError):
    status, code = 422, "UnprocessableEntityError"


class TooManyRequests(DomainError):
    status, code = 429, "TooManyRequestsError"


class ServiceUnavailable(DomainError):
    status, code = 503, "ServiceUnavailableError"
