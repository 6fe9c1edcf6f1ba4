"""Routes of the notifications service: GET /notifications."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint

from chalicelib import lazy, pagination, web
from chalicelib.notifications import templates
from chalicelib.schema import Obj, Str

if TYPE_CHECKING:
    from chalicelib.notifications import service
else:  # imported by the first call that uses it, not by every function's cold start (chalicelib/lazy.py)
    service = lazy.module("chalicelib.notifications.service")

bp = Blueprint(__name__)

TAGS = ("notifications",)
NOTIFICATION = Obj({
    "notification_id": Str(description="Opaque id made by the server"),
    "type": Str(enum=(*templates.NOTIFIED_EVENT_TYPES, *templates.FORMERLY_NOTIFIED_EVENT_TYPES),
                description="The event the notification reports"),
    "subject": Str(description="The email's subject"),
    "body": Str(max_len=10_000, description="The email's plain-text body"),
    "created_at": Str(fmt="date-time"),
}, required=("notification_id", "type", "subject", "body", "created_at"), name="Notification")
NOTIFICATION_PAGE = web.page_schema(NOTIFICATION)


@web.route(bp, "/notifications", "GET", summary="The caller's notifications, newest first", auth="user",
           query=web.PAGE_QUERY, response=NOTIFICATION_PAGE, tags=TAGS)
def list_notifications(call: web.Call) -> web.JsonObject:
    return service.list_notifications(call.user.user_id, limit=call.query.get("limit", pagination.DEFAULT_PAGE_SIZE),
                                      cursor=call.query.get("cursor"))
