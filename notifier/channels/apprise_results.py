"""Say what apprise did per target, for the error a failed send reports."""

from __future__ import annotations

import apprise

# Levels of the plugin log lines that explain a failure (refused, DNS, HTTP status).
_REASON_LEVELS = {"WARNING", "ERROR", "CRITICAL"}


def describe(result: apprise.AppriseResult) -> str:
    """One part per target: service, masked URL, status and the plugin's last warning."""
    return "; ".join(_target(r) for r in result.results) or "no target was notified"


def _target(result: apprise.NotifyResult) -> str:
    # NotifyResult.url is privacy-masked, but its query can still carry
    # capabilities (ntfy actions hold the signed answer link): keep it out.
    url = result.url.partition("?")[0]
    reasons = [entry.message for entry in result.logs() if entry.level in _REASON_LEVELS]
    reason = f" ({reasons[-1]})" if reasons else ""
    return f"{result.name} {url}: {result.status.name.lower()}{reason}"
