"""Catalog import throughput, write batching and memory, against a plain boto3 batch_writer baseline.

For 10,000 and 100,000 rows: a CSV of new products goes into the uploads bucket of the in-process
stack (moto's mock_aws, provisioned from infra/template.yaml as in the unit tests) and is imported
by the real import code (chalicelib.imports.runner.import_object: stream parse, validation,
BatchGetItem of the SKU claims, BatchWriteItem upserts, checkpoints with their ProductImported
events). Reported:

- BatchWriteItem calls per 25 rows (every DynamoDB call PynamoDB sends is counted);
- wall time, against the baseline: boto3's `Table.batch_writer()` writing the same items (each
  row's product, STOCK item, SKU claim and search entries) to the same table in the same run; the
  ratio is import / baseline;
- peak memory (tracemalloc) during a second import of a file of the same size (tracemalloc slows
  allocation-heavy code several times, so it is kept out of the timed run). The emulator keeps
  what it stores in this process, so the figure that must not grow with the file is the transient
  peak: the peak minus what is still held once the import is over. In this pass the catalog
  table's batch calls are answered at PynamoDB's connection and not kept (DiscardCatalogBatches).

moto's DynamoDB costs 1-2 ms of CPU per item written in-process (measured here: 20,000 rows took
40 s to import and 28 s for the baseline, and it grows faster than linearly), which would make the
100,000-row run take over five minutes and measure moto rather than the import. So by default the
catalog table's BatchWriteItem and BatchGetItem calls, the import's and the baseline's alike, are
served by `FastCatalogTable`, a dict in this process that answers them as DynamoDB does; every
other call (S3, SQS, the imports and outbox tables, their transactions) goes to moto. The calls
are counted before they reach either. `--moto` sends everything to moto (use small sizes).

    .venv/bin/python -m bench.import_bench               # 10,000 and 100,000 rows, under 3 minutes
    .venv/bin/python -m bench.import_bench 2000 --moto   # any sizes; everything on moto
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import sys
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from types import SimpleNamespace

from tests.environment import use_in_process_environment  # noqa: E402

use_in_process_environment(POWERTOOLS_LOG_LEVEL="WARNING")

import boto3  # noqa: E402
from boto3.dynamodb.types import TypeDeserializer  # noqa: E402
from botocore.endpoint import Endpoint  # noqa: E402
from moto import mock_aws  # noqa: E402
from pynamodb.connection.base import Connection  # noqa: E402

from chalicelib.catalog import products  # noqa: E402
from chalicelib.imports import runner as import_runner  # noqa: E402
from chalicelib.imports import service as imports  # noqa: E402
from chalicelib.search import index as search_index  # noqa: E402
from chalicelib.settings import resource_name  # noqa: E402
from devstack.moto_fixes import (  # noqa: E402
    honour_secure_transport_condition,
    keep_streams_through_cancelled_transactions,
    serialize_dynamodb,
)
from devstack.provision import provision  # noqa: E402

SIZES = (10_000, 100_000)
HEADER = "sku,name,description,price_cents,currency,category,stock\n"
MiB = 1024 * 1024


@dataclass(frozen=True)
class Figures:
    rows: int
    file_bytes: int
    import_seconds: float
    baseline_seconds: float
    batch_writes: int
    baseline_batch_writes: int
    calls: Counter
    peak_bytes: int
    retained_bytes: int
    emulator_get_bytes: int  # the peak of one 1 KiB ranged GET of the file: moto materialises the whole object

    @property
    def own_bytes(self) -> int:
        return self.transient_bytes - self.emulator_get_bytes

    @property
    def transient_bytes(self) -> int:
        return self.peak_bytes - self.retained_bytes


class FastCatalogTable:
    """The catalog table's BatchWriteItem (puts) and BatchGetItem, answered from a dict as DynamoDB
    answers them (nothing left unprocessed). Items are kept serialized, as DynamoDB keeps them."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name
        self.items: dict[tuple[str, str], dict] = {}

    def handles(self, operation_name: str, kwargs: dict) -> bool:
        if operation_name == "BatchWriteItem":
            return set(kwargs["RequestItems"]) == {self.table_name}
        if operation_name == "BatchGetItem":
            return set(kwargs["RequestItems"]) == {self.table_name}
        return False

    def answer(self, operation_name: str, kwargs: dict) -> dict:
        requests = kwargs["RequestItems"][self.table_name]
        if operation_name == "BatchWriteItem":
            assert len(requests) <= 25, "BatchWriteItem takes at most 25 items"
            for request in requests:
                item = request["PutRequest"]["Item"]
                self.items[(item["pk"]["S"], item["sk"]["S"])] = item
            return {"UnprocessedItems": {}}
        keys = requests["Keys"]
        assert len(keys) <= 100, "BatchGetItem takes at most 100 keys"
        found = [self.items[(k["pk"]["S"], k["sk"]["S"])] for k in keys if (k["pk"]["S"], k["sk"]["S"]) in self.items]
        return {"Responses": {self.table_name: found}, "UnprocessedKeys": {}}


class DynamoCalls:
    """Counts every DynamoDB call any client sends (PynamoDB's and boto3's alike) where botocore hands
    the serialized request to the network, and answers the catalog table's batch calls from `fast`
    there: the import and the baseline both pay botocore's serialization, neither pays moto for them."""

    def __init__(self, fast: FastCatalogTable | None) -> None:
        self.counts: Counter = Counter()
        self._fast = fast
        self._original = Endpoint.make_request

    def __enter__(self) -> DynamoCalls:
        original, counts, fast = self._original, self.counts, self._fast

        def make_request(endpoint, operation_model, request_dict):
            if operation_model.service_model.service_name == "dynamodb":
                counts[operation_model.name] += 1
                if fast is not None:
                    request = json.loads(request_dict["body"] or b"{}")  # DynamoDB's JSON protocol
                    if fast.handles(operation_model.name, request):
                        return SimpleNamespace(status_code=200, headers={}), fast.answer(operation_model.name, request)
            return original(endpoint, operation_model, request_dict)

        Endpoint.make_request = make_request
        return self

    def __exit__(self, *exc: object) -> None:
        Endpoint.make_request = self._original


class DiscardCatalogBatches:
    """For the memory pass: the catalog table's batch calls answered at PynamoDB's connection, before
    botocore builds a request, and nothing kept (every sku of the file is new, so no claim is ever
    found). What tracemalloc then sees growing or not is the import's own memory, at a tracing cost
    small enough for 100,000 rows."""

    def __init__(self, table_name: str) -> None:
        self._table = table_name
        self._original = Connection._make_api_call

    def __enter__(self) -> DiscardCatalogBatches:
        original, table = self._original, self._table

        def answering(connection, operation_name, operation_kwargs):
            batch = operation_name in ("BatchWriteItem", "BatchGetItem")
            if batch and set(operation_kwargs["RequestItems"]) == {table}:
                return {"UnprocessedItems": {}} if operation_name == "BatchWriteItem" else {
                    "Responses": {table: []}, "UnprocessedKeys": {}}
            return original(connection, operation_name, operation_kwargs)

        Connection._make_api_call = answering
        return self

    def __exit__(self, *exc: object) -> None:
        Connection._make_api_call = self._original


def csv_rows(prefix: str, count: int) -> Iterator[str]:
    for i in range(count):
        yield f"{prefix}-{i},Product {i},A product made for the benchmark,{100 + i % 5000},USD,bench,{i % 100}\n"


def baseline_items(prefix: str, count: int) -> Iterator[dict]:
    """The items the import writes for the same rows (a product, its STOCK item and its SKU claim each,
    and the product's search entries), as plain values."""
    deserializer = TypeDeserializer()
    for i in range(count):
        fields = {"sku": f"{prefix}-{i}", "name": f"Product {i}", "description": "A product made for the benchmark",
                  "price_cents": 100 + i % 5000, "currency": "USD", "category": "bench", "stock": i % 100}
        product, stock, claim = products.new_product_items(fields, product_id=uuid.uuid4().hex)
        for item in (product, stock, claim, *search_index.entries(search_index.Listing.of(product))):
            yield {name: deserializer.deserialize(value) for name, value in item.serialize().items()}


def put_file(rows: int) -> tuple[str, str, int]:
    """A CSV of `rows` new products in the uploads bucket: (key, ETag, bytes)."""
    prefix = f"B{rows}-{uuid.uuid4().hex[:6]}"
    key = f"imports/bench/{prefix}.csv"
    data = (HEADER + "".join(csv_rows(prefix, rows))).encode()
    etag = boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=resource_name("uploads"), Key=key, Body=data)["ETag"]
    return key, etag, len(data)


def import_file(key: str, etag: str, rows: int) -> None:
    outcome = import_runner.import_object(key, etag, import_runner.Budget(deadline=float("inf"), lease_seconds=3600))
    assert outcome is import_runner.Outcome.COMPLETED, outcome
    view = imports.get_import(imports.import_id_for_key(key))
    assert (view["rows_imported"], view["rows_failed"]) == (rows, 0), view


def timed_pass(rows: int, fast: FastCatalogTable | None) -> dict:
    """Time the import and the baseline, tracemalloc off; count the DynamoDB calls."""
    key, etag, file_bytes = put_file(rows)
    gc.collect()
    with DynamoCalls(fast) as calls:
        started = time.perf_counter()
        import_file(key, etag, rows)
        import_seconds = time.perf_counter() - started

    table = boto3.resource("dynamodb", region_name="us-east-1").Table(resource_name("catalog"))
    # SKUs of the file's shape (so as many search entries each), other than the file's.
    items = baseline_items(f"B{rows}-{uuid.uuid4().hex[:6]}", rows)
    with DynamoCalls(fast) as baseline_calls:
        started = time.perf_counter()
        with table.batch_writer() as writer:
            for item in items:
                writer.put_item(Item=item)
        baseline_seconds = time.perf_counter() - started
    return {"rows": rows, "file_bytes": file_bytes, "import_seconds": import_seconds,
            "baseline_seconds": baseline_seconds, "batch_writes": calls.counts["BatchWriteItem"],
            "baseline_batch_writes": baseline_calls.counts["BatchWriteItem"], "calls": calls.counts}


def memory_pass(rows: int) -> dict:
    """Import another such file under tracemalloc (it slows allocation-heavy code several times, so
    this runs apart from the timed pass: in a second process, at the same time)."""
    key, etag, _ = put_file(rows)
    gc.collect()
    gc.freeze()  # what exists now (the emulator's data, modules) is not garbage: don't rescan it
    real_checkpoint, checkpoints = import_runner._checkpoint, [0]

    def checkpoint_then_collect(*args, **kwargs):
        # Collect cyclic garbage every 10 checkpoints: otherwise the peak measures when CPython's
        # collector happens to run (later, the bigger the heap), not what the import keeps alive.
        real_checkpoint(*args, **kwargs)
        checkpoints[0] += 1
        if checkpoints[0] % 10 == 0:
            gc.collect()

    import_runner._checkpoint = checkpoint_then_collect
    try:
        with DiscardCatalogBatches(resource_name("catalog")):
            tracemalloc.start()
            start_memory = tracemalloc.get_traced_memory()[0]
            import_file(key, etag, rows)
            gc.collect()
            end_memory, peak_memory = tracemalloc.get_traced_memory()
            tracemalloc.stop()
    finally:
        import_runner._checkpoint = real_checkpoint
        gc.unfreeze()
    s3 = boto3.client("s3", region_name="us-east-1")
    tracemalloc.start()
    s3.get_object(Bucket=resource_name("uploads"), Key=key, Range="bytes=0-1023")["Body"].read()
    emulator_get_bytes = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"peak_bytes": peak_memory - start_memory, "retained_bytes": end_memory - start_memory,
            "emulator_get_bytes": emulator_get_bytes}


def memory_passes(sizes: tuple[int, ...]) -> list[dict]:
    """The memory passes of every size, in a process of their own with its own in-process stack."""
    prepare_emulator()
    with mock_aws():
        os.environ.update(provision("local", None, "us-east-1"))
        return [memory_pass(size) for size in sizes]


def prepare_emulator() -> None:
    serialize_dynamodb()
    honour_secure_transport_condition()
    keep_streams_through_cancelled_transactions()  # item-level rollback, not a copy of each table


def report(figures: Figures) -> None:
    per25 = figures.batch_writes / (figures.rows / 25)
    base_per25 = figures.baseline_batch_writes / (figures.rows / 25)
    other = ", ".join(f"{name} {count}" for name, count in sorted(figures.calls.items()) if name != "BatchWriteItem")
    print(f"\n{figures.rows:,} rows ({figures.file_bytes / MiB:.1f} MiB CSV, every row a new product: "
          f"3 items and its search entries each)")
    print(f"  BatchWriteItem calls:  {figures.batch_writes:,} = {per25:.2f} per 25 rows "
          f"(baseline batch_writer: {figures.baseline_batch_writes:,} = {base_per25:.2f} per 25 rows)")
    print(f"  other DynamoDB calls:  {other}")
    rate, ratio = figures.rows / figures.import_seconds, figures.import_seconds / figures.baseline_seconds
    print(f"  wall time:             import {figures.import_seconds:.1f} s ({rate:,.0f} rows/s); "
          f"baseline {figures.baseline_seconds:.1f} s; ratio {ratio:.2f}x")
    print(f"  memory (tracemalloc):  transient peak {figures.transient_bytes / MiB:.1f} MiB "
          f"(peak {figures.peak_bytes / MiB:.1f} MiB minus {figures.retained_bytes / MiB:.1f} MiB the emulator keeps), "
          f"of which {figures.emulator_get_bytes / MiB:.1f} MiB is moto's copy of the whole object for any ranged GET; "
          f"the import's own: {figures.own_bytes / MiB:.1f} MiB")


def main(argv: list[str]) -> int:
    everything_on_moto = "--moto" in argv
    sizes = tuple(int(arg) for arg in argv if arg != "--moto") or SIZES
    prepare_emulator()
    backend = ("moto for everything" if everything_on_moto
               else "moto, the catalog table's batch calls in FastCatalogTable")
    print(f"Catalog import benchmark: in-process {backend}; sizes {', '.join(f'{s:,}' for s in sizes)} rows; "
          f"checkpoint every {import_runner.CHECKPOINT_ROWS} rows")
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        memory = pool.submit(memory_passes, sizes)
        with mock_aws():
            os.environ.update(provision("local", None, "us-east-1"))
            fast = None if everything_on_moto else FastCatalogTable(resource_name("catalog"))
            timed = [timed_pass(size, fast) for size in sizes]
        results = [Figures(**t, **m) for t, m in zip(timed, memory.result(), strict=True)]
    for figures in results:
        report(figures)
    if len(results) > 1:
        small, large = results[0], results[-1]
        growth = large.own_bytes / max(small.own_bytes, 1)
        print(f"\nthe import's own peak memory, {large.rows:,} vs {small.rows:,} rows: "
              f"{large.own_bytes / MiB:.1f} MiB vs {small.own_bytes / MiB:.1f} MiB "
              f"({growth:.2f}x for {large.rows / small.rows:.0f}x the rows)")
    print(f"\n(whole run {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
