"""The OpenAPI 3.1 document, generated from the app's routes and the `RouteDoc` each one carries."""

from __future__ import annotations

from typing import Any

from chalice import Chalice

from chalicelib.schema import Obj, Str

ERROR_SCHEMA = Obj({
    "Code": Str(description="Chalice's error name, e.g. NotFoundError"),
    "Message": Str(max_len=10_000, description="What went wrong, for a person"),
}, required=("Code", "Message")).json_schema()
ERROR_SCHEMA["properties"]["Errors"] = {
    "type": "array", "description": "Validation errors, one per field",
    "items": {"type": "object", "required": ["field", "message"],
              "properties": {"field": {"type": "string"}, "message": {"type": "string"}}},
}
ERROR_SCHEMA["additionalProperties"] = True  # API Gateway's own 401 body is {"message": ...}
ERROR_SCHEMA.pop("required")

STATUS_TEXT = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad request", 401: "Missing or invalid token",
               403: "Forbidden", 404: "Not found", 409: "Conflict", 422: "Unprocessable",
               429: "Too many requests", 431: "Request line and headers over the edge's 10,240-byte limit",
               503: "A backing service is unavailable"}


class UndocumentedRoute(RuntimeError):
    pass


def build_document(app: Chalice, title: str = "Storefront API", version: str = "1.0.0") -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for path, methods in sorted(app.routes.items()):
        for method, entry in sorted(methods.items()):
            doc = getattr(entry.view_function, "route_doc", None)
            if doc is None:
                raise UndocumentedRoute(f"{method} {path} was not registered through web.route()")
            paths.setdefault(path, {})[method.lower()] = _operation(entry, doc)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "Storefront: a serverless e-commerce backend (one AWS Chalice app)."},
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                           "description": "The id_token from POST /auth/login"}},
        },
    }


def _operation(entry: Any, doc: Any) -> dict[str, Any]:
    parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
                  for name in entry.view_args]
    parameters += [{"name": name, "in": "query", "required": False, "schema": field.json_schema()}
                   for name, field in doc.query.items()]
    parameters += [{"name": name, "in": "header", "required": False, "schema": field.json_schema()}
                   for name, field in doc.headers.items()]
    success: dict[str, Any] = {"description": STATUS_TEXT.get(doc.status, "Success")}
    if doc.response is not None:
        success["content"] = {"application/json": {"schema": doc.response.json_schema()}}
    # 503: web.route answers it on every route whose backing service is unreachable or unavailable; 431: the
    # edge (API Gateway, and the dev stack's chalice local) refuses an over-long request line or headers.
    errors = (set(doc.errors) | {431, 503} | ({401} if doc.auth else set())
              | ({403} if doc.auth == "admin" else set()))
    responses: dict[str, Any] = {str(doc.status): success}
    for status in sorted(errors):
        responses[str(status)] = {"description": STATUS_TEXT.get(status, "Error"),
                                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    operation: dict[str, Any] = {"operationId": entry.view_name, "summary": doc.summary, "responses": responses}
    if doc.tags:
        operation["tags"] = list(doc.tags)
    if parameters:
        operation["parameters"] = parameters
    if doc.body is not None:
        operation["requestBody"] = {"required": not doc.optional_body,
                                    "content": {"application/json": {"schema": doc.body.json_schema()}}}
    if doc.auth:
        operation["security"] = [{"bearer": []}]
        operation["x-storefront-role"] = doc.auth  # who may call it: "user" or "admin" (docs/api.md shows it)
    return operation
