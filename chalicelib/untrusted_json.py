"""JSON from outside the app (request bodies, cursors, import rows, event bodies), parsed with bounds.

`json.loads` alone turns some inputs into errors that are not `ValueError`: a document nested a
thousand deep raises `RecursionError` (and one nested a few hundred deep parses, only to blow the
stack of whatever walks it next), and an integer of more than 4,300 digits raises a `ValueError`
only where Python converts it. `loads` refuses both up front, with `InvalidJSON` (a `ValueError`),
so every caller's existing `except ValueError` covers them:
- nesting deeper than `MAX_DEPTH` arrays/objects (checked on the text before parsing),
- a number literal longer than `MAX_NUMBER_CHARS` characters (no value of this app needs more),
- `NaN`, `Infinity` and `-Infinity`, which are not JSON.
The standard library has no depth or size limits of its own, and no maintained parser of the
ecosystem bounds both without a C extension of its own, hence this small wrapper.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32
MAX_NUMBER_CHARS = 100
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


class InvalidJSON(ValueError):
    """The text is not JSON, or is JSON beyond this app's bounds."""


def loads(text: str | bytes | bytearray, max_depth: int = MAX_DEPTH) -> Any:
    """The value of the JSON `text`, or InvalidJSON (a ValueError) with what is wrong.

    Bytes must be UTF-8; a `UnicodeDecodeError` (also a ValueError) says otherwise.
    """
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8")
    _check_depth(text, max_depth)
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_int=_int, parse_float=_float)
    except RecursionError:  # unreachable after _check_depth; kept so no depth ever escapes as a crash
        raise InvalidJSON(f"nested deeper than {max_depth} levels") from None
    except InvalidJSON:
        raise
    except ValueError as exc:
        raise InvalidJSON(str(exc)) from None


def _check_depth(text: str, max_depth: int) -> None:
    """InvalidJSON if brackets outside strings nest deeper than `max_depth` (a scan, no recursion)."""
    if text.count("[") + text.count("{") <= max_depth:
        return
    depth = 0
    for bracket in _BRACKETS.findall(_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > max_depth:
            raise InvalidJSON(f"nested deeper than {max_depth} levels")


def _int(literal: str) -> int:
    if len(literal) > MAX_NUMBER_CHARS:
        raise InvalidJSON(f"a number has more than {MAX_NUMBER_CHARS} characters")
    return int(literal)


def _float(literal: str) -> float:
    if len(literal) > MAX_NUMBER_CHARS:
        raise InvalidJSON(f"a number has more than {MAX_NUMBER_CHARS} characters")
    value = float(literal)
    if value in (float("inf"), float("-inf")):
        raise InvalidJSON(f"the number {literal} is too large")
    return value


def _reject_constant(name: str) -> Any:
    raise InvalidJSON(f"{name} is not valid JSON")
