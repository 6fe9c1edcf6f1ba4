"""Accessibility and layout checks for the browser tests: axe-core (vendored, so offline) and sideways overflow.

axe-core is injected from tests/browser/vendor/axe.min.js (version and source in vendor/README.md) and
run with the WCAG 2.0/2.1/2.2 A and AA rules plus axe's best practices; a serious or critical
violation fails the test with axe's own description of each node.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE_SOURCE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
FAILING_IMPACTS = ("serious", "critical")


def axe_violations(page) -> list[dict[str, Any]]:
    """axe's violations on the page as it is now, serious and critical only."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(content=AXE_SOURCE)
    result = page.evaluate("""tags => axe.run(document, {runOnly: {type: "tag", values: tags},
        resultTypes: ["violations"]})""", AXE_TAGS)
    return [v for v in result["violations"] if v["impact"] in FAILING_IMPACTS]


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"][:5]:
            lines.append(f"    {node['target']}: {node.get('failureSummary', '').splitlines()[-1:]}")
    return "\n".join(lines)


def overflow(page) -> int:
    """How many CSS pixels the document is wider than the viewport (0: no sideways scrolling)."""
    return page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")


def assert_accessible(page, screen: str) -> None:
    """No serious or critical axe violation and no sideways overflow on `screen` at the current width."""
    found = axe_violations(page)
    assert not found, f"axe on {screen} at {page.viewport_size['width']} px:\n{describe(found)}"
    extra = overflow(page)
    assert extra <= 0, f"{screen} at {page.viewport_size['width']} px is {extra} px wider than the screen"
