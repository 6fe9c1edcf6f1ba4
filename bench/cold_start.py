"""Cold start: `import app` in a fresh process against `import boto3` in the same run (the baseline).

    .venv/bin/python -m bench.cold_start [--runs 5]

Each figure is the median wall time of `python -c "import X"` over fresh processes, run
alternately so that machine noise hits both alike; the target is `import app` <= 1.3x `import boto3`
(the Lambda runtime ships boto3, so that is the floor every Python function pays). `import app` is
a function's init; the routes and handlers import their services on first use (chalicelib/lazy.py),
so a function's first event then imports its own service: those figures follow, each for one
function, and the last for an API container that has served every route. Then `-X importtime`
lists the heaviest modules `import app` pulls in (cumulative, top level).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.3
ENV = {**os.environ, "STOREFRONT_STAGE": "local", "AWS_DEFAULT_REGION": "us-east-1", "PYTHONDONTWRITEBYTECODE": "0"}


def import_seconds(module: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, env=ENV, check=True)
    return time.perf_counter() - started


# A function -> what its first event imports (its handler's lazy modules, chalicelib/lazy.py).
FIRST_EVENTS = {
    "handle_payment_messages (payments queue)": "chalicelib.payments.service",
    "send_notifications (notifications queue)": "chalicelib.notifications.service",
    "push_updates (realtime queue)": "chalicelib.realtime.pusher",
    "api_handler, first request GET /products": "chalicelib.catalog.products, chalicelib.search.queries",
    "api_handler, first request POST /orders": "chalicelib.orders.service",
    "api_handler, once it has served every route": ", ".join(
        f"chalicelib.{name}" for name in ("accounts.service", "audit.service", "catalog.products",
                                          "catalog.search_list", "fulfilment.service", "images.service",
                                          "images.status", "imports.service", "notifications.service",
                                          "orders.service", "payments.service", "search.queries")),
}

THIRD_PARTY = ("boto3", "botocore", "s3transfer", "pynamodb", "chalice", "aws_lambda_powertools", "PIL", "urllib3")


def heaviest_imports(module: str, top: int = 14) -> list[tuple[int, str]]:
    """(cumulative microseconds, module): third-party packages and chalicelib's service modules that
    `import module` loads, heaviest first, from one `-X importtime` run (each counted where first imported)."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], cwd=ROOT, env=ENV,
                            capture_output=True, text=True, check=True)
    totals: dict[str, int] = {}
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:"):].split("|"))
        if name in THIRD_PARTY or (name.startswith("chalicelib.") and name.count(".") <= 2):
            totals[name] = int(cumulative)
    return sorted(((us, name) for name, us in totals.items()), reverse=True)[:top]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    import_seconds("app")  # warm the bytecode caches so both sides start from compiled files
    import_seconds("boto3")
    # The functions that verify tokens (the authorizer, the WebSocket $connect; the API only while the
    # signing keys were unreachable) also import PyJWT's RSA support on their first check.
    samples: dict[str, list[float]] = {"boto3": [], "app": [], "app, jwt.algorithms": [],
                                       **{f"app, {modules}": [] for modules in FIRST_EVENTS.values()}}
    for _ in range(args.runs):
        for module in samples:
            samples[module].append(import_seconds(module))
    medians = {module: statistics.median(values) for module, values in samples.items()}
    ratio = medians["app"] / medians["boto3"]
    print(f"fresh-process import, median of {args.runs} (python {sys.version.split()[0]}):")
    for module, values in list(samples.items())[:3]:
        print(f"  import {module:<18} {medians[module] * 1000:7.0f} ms   runs: "
              + ", ".join(f"{v * 1000:.0f}" for v in values))
    jose = medians["app, jwt.algorithms"] - medians["app"]
    print(f"  a token-verifying function's first check adds {jose * 1000:.0f} ms (PyJWT + cryptography), "
          f"{medians['app, jwt.algorithms'] / medians['boto3']:.2f}x boto3; other functions never import it")
    print("  a function's first event, then, imports its own service (median, ratio to boto3):")
    for function, modules in FIRST_EVENTS.items():
        median = medians[f"app, {modules}"]
        print(f"    {function:<52} {median * 1000:4.0f} ms  {median / medians['boto3']:.2f}x")
    print(f"  ratio app / boto3 (baseline): {ratio:.2f}x   target <= {TARGET_RATIO}x   "
          f"{'OK' if ratio <= TARGET_RATIO else 'ABOVE TARGET'}")
    print("\nheaviest imports under `import app` (cumulative ms, one -X importtime run; nested ones overlap):")
    for us, name in heaviest_imports("app"):
        print(f"  {us / 1000:7.1f} ms  {name}")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
