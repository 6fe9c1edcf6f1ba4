"""Storefront: one Chalice app. This file only wires blueprints; the logic lives in chalicelib/."""

from chalice import Chalice

from chalicelib import observability
from chalicelib.accounts import api as accounts_api
from chalicelib.accounts import authorizer
from chalicelib.audit import handlers as audit_handlers
from chalicelib.events import handlers as event_handlers
from chalicelib.system import api as system_api

app = Chalice(app_name="storefront")
observability.install(app)

app.register_blueprint(system_api.bp)
app.register_blueprint(authorizer.bp)
app.register_blueprint(accounts_api.bp)
app.register_blueprint(event_handlers.bp)
app.register_blueprint(audit_handlers.bp)
