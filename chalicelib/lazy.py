"""Modules and clients made on first use, so that a function's cold start pays only for what it runs.

Every Lambda function of the app imports app.py, hence every blueprint and what each imports at
module level (bench/cold_start.py; tests/unit/test_import_graph.py holds the line). What only some
functions use is loaded here on first use instead: the standard library's `importlib.util.LazyLoader`
(the recipe of its documentation) for modules, a proxy for the WebSocket management session.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any


def module(name: str) -> ModuleType:
    """`name`, imported when one of its attributes is first used (at once if it is imported already)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(name)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    found = importlib.util.module_from_spec(spec)
    sys.modules[name] = found
    spec.loader.exec_module(found)
    return found


class OnFirstUse:
    """Stands for the object `make()` returns, made when one of its attributes is first used."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._made: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._made is None:
            self._made = self._make()
        return getattr(self._made, name)
