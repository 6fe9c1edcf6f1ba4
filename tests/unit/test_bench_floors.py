"""The deterministic benchmarks, held to their floors in every test run (docs/performance.md):
AWS calls per operation (bench/aws_calls.py; the billable units per order are held by
tests/e2e/test_cost.py, the import graph by tests/unit/test_import_graph.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_every_operation_makes_at_most_its_minimum_of_aws_calls_and_nothing_scans():
    result = subprocess.run([sys.executable, "-m", "bench.aws_calls"], cwd=ROOT, capture_output=True, text=True,
                            timeout=280)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "every request path at its minimum; no Scan anywhere" in result.stdout
