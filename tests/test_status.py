"""Delivery statuses: result events and Twilio receipts only move forward."""

import pytest
from twilio.request_validator import RequestValidator

from broker.messages import ResultEvent
from broker.transport import Drop
from coordinator.events import EventConsumer
from coordinator.models import Notification
from tests.conftest import TWILIO_TOKEN
from tests.test_responses import first, incident  # noqa: F401  (fixture)


def status(tocsin, notification_id: int) -> str:
    value = tocsin.db.session.get(Notification, notification_id).status
    tocsin.db.remove()
    return value


def receipt(client, tocsin, notification_id: int, message_status: str):
    path = f"/hooks/twilio/status?n={notification_id}"
    form = {"MessageSid": "SM" + "2" * 32, "MessageStatus": message_status}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(
        tocsin.settings.public_url + path, form
    )
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature})


def test_it_moves_statuses_forward_only(client, tocsin, incident):  # noqa: F811
    n = first(tocsin, "sms")
    consumer = EventConsumer(tocsin)
    consumer.handle(ResultEvent(n.id, incident.id, "sms", "sent", provider_id="SMabc").to_json())
    assert status(tocsin, n.id) == "sent"
    assert receipt(client, tocsin, n.id, "delivered").status_code == 204
    assert status(tocsin, n.id) == "delivered"
    # A late "sent" receipt and a repeated result event change nothing.
    assert receipt(client, tocsin, n.id, "sent").status_code == 204
    consumer.handle(ResultEvent(n.id, incident.id, "sms", "sent").to_json())
    assert status(tocsin, n.id) == "delivered"


def test_it_refuses_unsigned_or_unknown_receipts(client, tocsin, incident):  # noqa: F811
    n = first(tocsin, "sms")
    unsigned = client.post(f"/hooks/twilio/status?n={n.id}", data={"MessageStatus": "delivered"})
    assert unsigned.status_code == 403
    assert receipt(client, tocsin, n.id, "teleported").status_code == 400
    assert status(tocsin, n.id) == "queued"


def test_it_drops_a_malformed_event(tocsin):
    with pytest.raises(Drop):
        EventConsumer(tocsin).handle(b'{"notification_id": "x"')
