"""GET /health and GET /openapi.json."""

from __future__ import annotations

import functools

from chalice import Blueprint, Chalice

from chalicelib import openapi, web
from chalicelib.errors import ServiceUnavailable
from chalicelib.schema import Any_, Int, Obj, Str
from chalicelib.system import readiness

bp = Blueprint(__name__)

CHECKS = Obj({name: Str(enum=(readiness.OK,)) for name in readiness.NAMES}, required=readiness.NAMES,
             description="With ?deep=1: every backend the API needs, each reached")
HEALTH = Obj({"status": Str(enum=("ok",)), "checks": CHECKS}, required=("status",))
DEEP = Int(minimum=0, maximum=1, description="1: readiness, also reach every table, the events topic and the "
                                             "user pool (503 naming what failed); 0 or absent: liveness only")


@web.route(bp, "/health", "GET", summary="Liveness check; ?deep=1 is the readiness check", response=HEALTH,
           query={"deep": DEEP}, errors=(503,), tags=("system",))
def health(call: web.Call) -> web.JsonObject:
    if not call.query.get("deep"):
        return {"status": "ok"}
    checks = readiness.check()
    failed = {name: outcome for name, outcome in checks.items() if outcome != readiness.OK}
    if failed:
        raise ServiceUnavailable(f"Not ready: {', '.join(failed)} failed",
                                 errors=[{"field": f"checks.{name}", "message": outcome}
                                         for name, outcome in failed.items()])
    return {"status": "ok", "checks": checks}


@web.route(bp, "/openapi.json", "GET", summary="This API's OpenAPI 3.1 document",
           response=Any_(description="An OpenAPI 3.1 document"), tags=("system",))
def openapi_document(call: web.Call) -> web.JsonObject:
    return _document(bp.current_app)


@functools.cache
def _document(app: Chalice) -> web.JsonObject:
    """Built once per container: the routes do not change while it runs."""
    return openapi.build_document(app)
