"""Modules and clients made on first use, so that a function's cold start pays only for what it runs.

Every Lambda function of the app imports app.py, hence every blueprint and what each imports at
module level (bench/cold_start.py; tests/unit/test_import_graph.py holds the line). The handlers
therefore import their services here, on first use:

    if TYPE_CHECKING:
        from chalicelib.payments import service
    else:  # imported by the first call that uses it (chalicelib/lazy.py)
        service = lazy.module("chalicelib.payments.service")

Why not `importlib.util.LazyLoader` (the standard library's lazy import): on Python 3.11 it is not
thread-safe (python/cpython#114763, fixed by #114781 only in later versions): a second thread may
see the module half executed, and `chalice local` serves requests on threads. `Module` goes
through `importlib.import_module` instead, which holds the import lock; the lazy_loader package
builds on LazyLoader, hence shares its race.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any


class Module:
    """Stands for the module `name`, imported when one of its attributes is first read or set."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)

    def _module(self) -> ModuleType:
        return importlib.import_module(self._name)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._module(), attribute)

    def __setattr__(self, attribute: str, value: Any) -> None:  # tests patch through it
        setattr(self._module(), attribute, value)

    def __delattr__(self, attribute: str) -> None:
        delattr(self._module(), attribute)

    def __repr__(self) -> str:
        return f"<module {self._name!r}, imported on first use>"


def module(name: str) -> Any:
    """`name`, imported when one of its attributes is first used (see the module's docstring)."""
    return Module(name)


class OnFirstUse:
    """Stands for the object `make()` returns, made when one of its attributes is first used."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._made: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._made is None:
            self._made = self._make()
        return getattr(self._made, name)
