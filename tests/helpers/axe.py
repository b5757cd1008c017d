"""WCAG 2.1 A/AA checks of a page in the browser tests, with axe-core.

    page.goto(url)
    assert_accessible(page, "board")   # fails naming each rule, its impact and the nodes

axe-core is vendored under tests/vendor/ (tests/vendor/fetch.sh, pinned by sha256)
and evaluated through Playwright, which a page's Content-Security-Policy does not
block. Every page a browser test opens should pass this with zero violations.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

AXE = Path(__file__).resolve().parent.parent / "vendor" / "axe" / "axe.min.js"
# WCAG 2.0 and 2.1, levels A and AA: what UK public bodies must meet.
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@cache
def _source() -> str:
    return AXE.read_text(encoding="utf-8")


def violations(page, selector: str | None = None) -> list[dict]:  # type: ignore[no-untyped-def]
    """axe's violations of the page (or of the element matched by `selector`)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(_source())
    return page.evaluate(
        """async ([context, tags]) => {
            const result = await axe.run(context || document,
                {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ': ' + n.failureSummary),
            }));
        }""",
        [selector, TAGS],
    )


def assert_accessible(page, name: str = "", selector: str | None = None) -> None:  # type: ignore[no-untyped-def]
    """No WCAG 2.1 A/AA violation that axe-core finds on the page."""
    found = violations(page, selector)
    described = "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(v["nodes"]) for v in found
    )
    assert not found, (
        f"axe-core found {len(found)} WCAG A/AA violation(s) on {name or page.url}:\n{described}"
    )
