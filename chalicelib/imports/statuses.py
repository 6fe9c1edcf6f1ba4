"""An import's statuses and how many row errors it keeps, free of its storage (the API's schemas
name them; chalicelib/lazy.py)."""

from __future__ import annotations

from typing import Final

PENDING = "PENDING"
PROCESSING = "PROCESSING"
COMPLETED: Final = "COMPLETED"
FAILED: Final = "FAILED"
FINISHED = (COMPLETED, FAILED)
MAX_ERRORS = 100  # row errors kept on the import (the contract lists at most 100)
