"""GET /health and GET /openapi.json."""

from __future__ import annotations

import functools

from chalice import Blueprint, Chalice

from chalicelib import openapi, web
from chalicelib.schema import Any_, Obj, Str

bp = Blueprint(__name__)

HEALTH = Obj({"status": Str(enum=("ok",))}, required=("status",))


@web.route(bp, "/health", "GET", summary="Liveness check", response=HEALTH, tags=("system",))
def health(call: web.Call) -> dict:
    return {"status": "ok"}


@web.route(bp, "/openapi.json", "GET", summary="This API's OpenAPI 3.1 document",
           response=Any_(description="An OpenAPI 3.1 document"), tags=("system",))
def openapi_document(call: web.Call) -> dict:
    return _document(bp.current_app)


@functools.cache
def _document(app: Chalice) -> dict:
    """Built once per container: the routes do not change while it runs."""
    return openapi.build_document(app)
