"""The repository stands on its own: a clone has everything its code, tests and docs refer to."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Notes the project was started from, which a clone does not have (spelled in pieces so this file passes).
OUTSIDE_REFERENCES = ("../" + "shared", "CONTRACT" + ".md", "FACTS" + ".md", "DESIGN" + ".md")


def test_no_file_refers_to_documents_outside_the_repository():
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True, text=True).stdout.split()
    found = []
    for name in files:
        path = ROOT / name
        if not path.is_file() or path.suffix in (".png", ".jpg", ".zip", ".gz"):
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        found += [f"{name}: {ref}" for ref in OUTSIDE_REFERENCES if ref in text]
    assert not found, found


def test_operator_commands_are_in_ops_not_in_the_lambda_package():
    """Chalice packages app.py and chalicelib/ into every function: a command run by hand belongs in ops/."""
    commands = [str(path.relative_to(ROOT)) for path in (ROOT / "chalicelib").rglob("*.py")
                if '__name__ == "__main__"' in path.read_text(encoding="utf-8")]
    assert commands == []
    assert {path.name for path in (ROOT / "ops").glob("*.py")} >= {"stock_shards.py", "stock_migration.py",
                                                                   "rerun_import.py"}
