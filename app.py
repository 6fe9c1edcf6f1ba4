"""Storefront: one Chalice app. This file only wires blueprints; the logic lives in chalicelib/."""

from chalice import Chalice
from chalice.app import WebsocketEvent

from chalicelib import observability
from chalicelib.accounts import api as accounts_api
from chalicelib.accounts import authorizer
from chalicelib.audit import api as audit_api
from chalicelib.catalog import api as catalog_api
from chalicelib.events import handlers as event_handlers
from chalicelib.fulfilment import api as fulfilment_api
from chalicelib.fulfilment import handlers as fulfilment_handlers
from chalicelib.images import api as images_api
from chalicelib.images import handlers as image_handlers
from chalicelib.imports import api as imports_api
from chalicelib.imports import handlers as imports_handlers
from chalicelib.notifications import api as notifications_api
from chalicelib.notifications import handlers as notifications_handlers
from chalicelib.orders import api as orders_api
from chalicelib.orders import handlers as orders_handlers
from chalicelib.payments import handlers as payments_handlers
from chalicelib.realtime import handlers as realtime_handlers
from chalicelib.search import api as search_api
from chalicelib.system import api as system_api

app = Chalice(app_name="storefront")
app.experimental_feature_flags.update(["WEBSOCKETS"])
app.websocket_api.session = realtime_handlers.management_session()
observability.install(app)

for blueprint in (
    system_api.bp, authorizer.bp, event_handlers.bp,
    accounts_api.bp,
    catalog_api.bp, search_api.bp, images_api.bp, image_handlers.bp,
    imports_api.bp, imports_handlers.bp,
    orders_api.bp, orders_handlers.bp,
    payments_handlers.bp,
    fulfilment_api.bp, fulfilment_handlers.bp,
    notifications_api.bp, notifications_handlers.bp,
    audit_api.bp,
    realtime_handlers.bp,
):
    app.register_blueprint(blueprint)


# The WebSocket API's handlers are registered on the app itself: Chalice 1.34 wraps WebSocket handlers
# (WebsocketEvent, endpoint configuration) only when they are declared on the app, not on a blueprint.
@app.on_ws_connect()
def websocket_connect(event: WebsocketEvent) -> object:
    return realtime_handlers.connect(event)


@app.on_ws_message()
def websocket_message(event: WebsocketEvent) -> None:
    realtime_handlers.message(event, app.websocket_api)


@app.on_ws_disconnect()
def websocket_disconnect(event: WebsocketEvent) -> None:
    realtime_handlers.disconnect(event)
