"""The billable units of one order of the happy path (bench/cost.py), held to the floor design's in
every test run: on a metered dev stack of its own, one order from the list page to DELIVERED."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from bench import cost, cost_model
from tests.e2e.conftest import running_devstack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]
# In-process time stands in for Lambda's duration: timing, not a count, so not held here (bench/cost.py is).
TIMED = ("lambda_gb_seconds_x86", "lambda_gb_seconds_arm")


def test_one_order_costs_at_most_its_floor_in_every_counted_unit():
    meter = Path(tempfile.mkdtemp(prefix="storefront-meter-"))
    with running_devstack({**cost.STACK, "STOREFRONT_METER_DIR": str(meter)}) as stack:
        started, order_ids = cost.happy_path(stack.api_url, stack.ws_url, 1)
        cost.wait_until_quiet(meter)
        units = cost.units_per_order(cost.read_meter(meter, started), 1, cost.transitions(stack, order_ids))
    assert units.emails == 3  # confirmed, shipped, delivered: one per milestone
    assert units.transitions == 4
    assert units.api_requests >= cost_model.FLOOR["api_requests"][0]  # the meter saw every request
    assert units.lambda_gb_seconds_x86 == 0  # every function on arm64
    assert units.log_bytes == 0  # nothing at WARN on the happy path
    measured, floor = cost_model.totals(units, leave_out=(cost_model.EMAIL, *TIMED))
    assert measured <= cost_model.RATIO_LIMIT * floor, (measured, floor, units)
