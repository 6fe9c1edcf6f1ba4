"""The test harness itself: what `make test` relies on to be deterministic on a fresh clone."""

from __future__ import annotations

import shutil
import threading
import zipfile
from pathlib import Path

import pytest

from deploy import packaging

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.xdist_group("harness")


def test_xdist_groups_are_honoured(request):
    """Grouped tests (the dev stack, the in-process deploy) must run on one worker. pytest 9.2 ignores
    the node id suffix pytest-xdist 3.8 uses for groups, which ran every group on both workers."""
    if not hasattr(request.config, "workerinput"):  # a worker's own `dist` option reads "no"
        pytest.skip("only meaningful under pytest-xdist")
    assert request.node.nodeid.endswith("@harness"), request.node.nodeid


def test_concurrent_layer_builds_share_one_complete_zip(tmp_path, monkeypatch):
    """Two workers of a fresh clone building the layer at once both get a complete zip."""
    project = tmp_path / "project"
    (project / ".chalice").mkdir(parents=True)
    shutil.copy(ROOT / "requirements.txt", project / "requirements.txt")
    start = threading.Barrier(4)

    class FakeBuilder:
        def build_site_packages(self, abi: str, requirements: str, site_packages: str) -> None:
            (Path(site_packages) / "PIL").mkdir()
            for i in range(200):  # enough to write for a while, so that the builds overlap
                (Path(site_packages) / "PIL" / f"m{i:03d}.py").write_text(f"# pillow {i}\n" * 2000)
            start.wait(5)  # all four reach the write at once

    monkeypatch.setattr(packaging, "function_builder", lambda *args, **kwargs: FakeBuilder())
    results: list[Path] = []
    errors: list[BaseException] = []

    def build() -> None:
        try:
            results.append(packaging.build_layer(project, packaging.LAYERS[0], "python3.11"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert len(set(results)) == 1 and results[0].exists()
    with zipfile.ZipFile(results[0]) as z:
        assert len(z.namelist()) == 200 and z.testzip() is None
    assert not list(results[0].parent.glob("*.partial")), "no temporary file is left behind"


def test_in_process_invocations_get_the_functions_configured_timeout(stack):
    import chalice.test as chalice_test

    context = chalice_test.LambdaContext("import_uploaded_file", 512)
    assert 29_000 < context.get_remaining_time_in_millis() <= 30_000  # lambda_timeout 30, not chalice's 3 s
