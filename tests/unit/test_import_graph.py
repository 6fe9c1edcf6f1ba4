"""The import graph behind the cold start (bench/cold_start.py): every function of the app imports
app.py, so nothing that only some functions use may be imported by it at module level."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent

# Module -> the functions that use it; each is imported on first use (lazily), never by `import app`.
ONLY_FOR = {
    "PIL": ("attach_uploaded_image",),  # chalicelib/catalog/images.py, in the pillow layer
    "jwt": ("jwt_authorizer", "websocket_connect", "api_handler (signing keys unreachable)"),  # the jose layer
    "cryptography": ("jwt_authorizer", "websocket_connect", "api_handler (signing keys unreachable)"),
    "aws_lambda_powertools.utilities.batch": ("every SQS consumer",),  # chalicelib/events/handlers.py
    "chalicelib.imports.parsing": ("import_uploaded_file", "continue_import"),  # chalicelib/imports/runner.py
}


def test_import_app_loads_nothing_that_only_some_functions_use():
    probe = ("import json, sys, app; print(json.dumps({'modules': sorted(n for n, m in list(sys.modules.items()) "
             "if type(m).__name__ != '_LazyModule'), "  # a lazy module is registered, not yet loaded
             "'session_made': app.app.websocket_api.session._made is not None}))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True,
                            env={**os.environ, "STOREFRONT_STAGE": "local", "AWS_DEFAULT_REGION": "us-east-1"})
    loaded = json.loads(result.stdout.splitlines()[-1])
    too_early = [m for m in ONLY_FOR if m in loaded["modules"]]
    assert too_early == [], f"imported by every function although only {[ONLY_FOR[m] for m in too_early]} use them"
    # The WebSocket management session (a botocore session: ~130 event handlers) only for the pusher.
    assert loaded["session_made"] is False


def test_the_lazy_modules_load_on_first_use():
    probe = ("import sys; from chalicelib.imports import runner; name = 'chalicelib.imports.parsing'; "
             "before = type(sys.modules[name]).__name__; runner.parsing.CSV; "
             "print(before, type(sys.modules[name]).__name__)")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True,
                            env={**os.environ, "STOREFRONT_STAGE": "local", "AWS_DEFAULT_REGION": "us-east-1"})
    assert result.stdout.split() == ["_LazyModule", "module"]
