"""The REST API for computer-aided dispatch systems (views.py) and its OpenAPI
document (openapi.py), whose schemas also check every request body (validate.py)."""

from coordinator.api import cap  # noqa: F401  (POST /api/v1/cap on the same blueprint)
from coordinator.api.views import bp, http_error, wants_json

__all__ = ["bp", "http_error", "wants_json"]
