"""`tocsin report INCIDENT_ID --format html|pdf|csv --output FILE`."""

from __future__ import annotations
