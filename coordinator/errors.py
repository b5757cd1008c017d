"""Domain errors: raised by services, turned into pages or JSON by the views."""

from __future__ import annotations


class ValidationError(ValueError):
    """Input that cannot be used; nothing was changed. errors maps field -> message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class LinkError(ValueError):
    """An ack link that is forged, damaged or expired."""
