"""The import graph behind the cold start (bench/cold_start.py): every function of the app imports
app.py, so nothing that only some functions use may be imported by it at module level. The routes
and handlers import their services through chalicelib/lazy.py; a function's first event imports
its own service, and nothing of the services it does not use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from chalicelib import lazy

ROOT = Path(__file__).resolve().parent.parent.parent
ENV = {**os.environ, "STOREFRONT_STAGE": "local", "AWS_DEFAULT_REGION": "us-east-1"}

# Third-party modules -> the functions that use them; imported on first use, never by `import app`.
ONLY_FOR = {
    "pynamodb": ("every function that reads or writes a table, on its first event",),
    "PIL": ("attach_uploaded_image",),  # chalicelib/images/service.py, in the pillow layer
    "jwt": ("jwt_authorizer", "websocket_connect", "api_handler (signing keys unreachable)"),  # the jose layer
    "cryptography": ("jwt_authorizer", "websocket_connect", "api_handler (signing keys unreachable)"),
    "aws_lambda_powertools.utilities.batch": ("every SQS consumer",),  # chalicelib/events/handlers.py
}
# What every function shares: the wiring (routes, handlers, their schemas and the vocabulary those
# name) and the plumbing each of them runs through. Any other chalicelib module is some functions' only.
SHARED = {
    "app", "chalicelib", "chalicelib.aws", "chalicelib.clock", "chalicelib.errors", "chalicelib.lazy",
    "chalicelib.observability", "chalicelib.openapi", "chalicelib.pagination", "chalicelib.schema",
    "chalicelib.settings", "chalicelib.untrusted_json", "chalicelib.uploads", "chalicelib.web",
    "chalicelib.accounts.authorizer", "chalicelib.accounts.tokens",
    "chalicelib.events.catalog", "chalicelib.events.envelope", "chalicelib.events.subscriptions",
    "chalicelib.notifications.templates",  # the subscription table's notified types
    "chalicelib.catalog.fields", "chalicelib.imports.statuses", "chalicelib.orders.statuses",
    "chalicelib.payments.tokens", "chalicelib.search.terms",
    "chalicelib.fulfilment.carrier",  # the webhook's signature check, ahead of any table
    "chalicelib.system.readiness",  # the deep health check's names, which its response schema lists
}
WIRING = ("api", "handlers")  # chalicelib/<service>/api.py and handlers.py


def loaded_by(statement: str, after: str = "pass") -> set[str]:
    """The modules `statement` imports (in a fresh process, once `after` has run)."""
    probe = (f"import json, sys; {after}; before = set(sys.modules); {statement}; "
             "print(json.dumps(sorted(set(sys.modules) - before)))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True,
                            env=ENV)
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.fixture(scope="module")
def by_app() -> set[str]:
    return loaded_by("import app")


def test_import_app_loads_no_third_party_module_that_only_some_functions_use(by_app):
    too_early = [m for m in ONLY_FOR if m in by_app]
    assert too_early == [], f"imported by every function although only {[ONLY_FOR[m] for m in too_early]} use them"


def test_import_app_loads_no_service_model_or_store(by_app):
    ours = {m for m in by_app if m == "app" or m.startswith("chalicelib")}
    services = {m.split(".")[1] for m in ours if m.count(".") >= 1}
    wiring = {f"chalicelib.{s}.{part}" for s in services for part in WIRING} | {f"chalicelib.{s}" for s in services}
    assert sorted(ours - SHARED - wiring) == []


def test_the_websocket_management_session_is_made_only_by_the_pusher():
    # A botocore session (~130 event handlers) only for the functions that post to connections.
    probe = "import app; print(app.app.websocket_api.session._made is None)"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True,
                            env=ENV)
    assert result.stdout.split()[-1] == "True"


@pytest.mark.parametrize(("service", "never"), [
    ("payments.service", ("catalog", "imports", "images", "search", "realtime", "fulfilment", "notifications")),
    ("notifications.service", ("catalog", "imports", "images", "search", "realtime", "fulfilment", "payments")),
    ("imports.lease", ("catalog", "orders", "payments", "images", "search", "realtime", "notifications")),
    ("accounts.service", ("catalog", "orders", "payments", "imports", "images", "search", "realtime")),
])
def test_a_consumers_first_event_imports_its_service_and_none_it_does_not_use(service, never):
    loaded = loaded_by(f"import chalicelib.{service}", after="import app")
    touched = {m.split(".")[1] for m in loaded if m.startswith("chalicelib.")}
    assert service.split(".")[0] in touched
    assert sorted(touched & set(never)) == []


def test_a_lazy_module_is_imported_on_first_use_once_even_from_many_threads(tmp_path, monkeypatch):
    # A module whose body takes a while: threads reading it at once must all wait for the whole body
    # (importlib.util.LazyLoader on Python 3.11 lets the others see it half executed).
    (tmp_path / "slow_body.py").write_text(textwrap.dedent("""
        import threading, time
        RUNS = [threading.get_ident()]
        time.sleep(0.2)
        VALUE = 42
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "slow_body", raising=False)
    module = lazy.module("slow_body")
    assert "slow_body" not in sys.modules
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(getattr(module, "VALUE", "half executed")))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert seen == [42] * 8
    assert len(sys.modules["slow_body"].RUNS) == 1
    monkeypatch.setattr(module, "VALUE", 7)  # tests patch through it: the module itself changes
    assert sys.modules["slow_body"].VALUE == 7
