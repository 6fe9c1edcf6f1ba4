"""Contract checks of the harness: every event the app records validates against its published schema.

`install()` wraps `chalicelib.events.outbox.record`, in the process it runs in, so that each event is
checked against docs/events/<EventType>.json (jsonschema, Draft 2020-12, formats and patterns
included) the moment it is recorded, whoever records it: the in-process tests (tests/conftest.py) and
both processes of the dev stack (the stack itself, whose event delivery runs the consumers, and
`chalice local`). A violation is logged as a `contract violation` line and remembered in
`violations`; the test fixtures fail the test (in process) or the run (the e2e stack's output) on it.
Product code is unchanged: the catalog's own validation is msgspec's, this one is independent of it
and reads only the published schema files.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Any

ENABLE_ENV = "STOREFRONT_DEV_CONTRACT_CHECK"
SCHEMA_DIR = Path(__file__).resolve().parents[1] / "docs" / "events"
violations: list[str] = []


@functools.cache
def _validators() -> dict[str, Any]:
    from jsonschema import Draft202012Validator

    found = {}
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        found[path.stem] = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return found


def problems(body: str) -> list[str]:
    """What is wrong with an event body against the published schema of its type (nothing: [])."""
    envelope = json.loads(body)
    event_type = envelope.get("event_type")
    validator = _validators().get(event_type)
    if validator is None:
        return [f"no published schema for event type {event_type!r}"]
    return [f"{event_type} data{''.join(f'[{p!r}]' for p in error.absolute_path)}: {error.message}"
            for error in validator.iter_errors(envelope.get("data"))]


def install() -> None:
    """Check every event recorded in this process from now on (idempotent)."""
    from chalicelib.events import outbox

    if getattr(outbox.record, "contract_checked", False):
        return
    original = outbox.record

    @functools.wraps(original)
    def record(*args: Any, **kwargs: Any) -> Any:
        event = original(*args, **kwargs)
        for problem in problems(event.to_json()):
            violations.append(problem)
            print(f"contract violation: {problem}", file=sys.stderr, flush=True)
        return event

    record.contract_checked = True  # type: ignore[attr-defined]
    outbox.record = record  # type: ignore[assignment]


def install_if_enabled() -> None:
    """On unless STOREFRONT_DEV_CONTRACT_CHECK is "0" (the dev stack is as strict as the tests)."""
    if os.environ.get(ENABLE_ENV, "1") != "0":
        install()
