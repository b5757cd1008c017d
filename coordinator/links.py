"""Signed answer links: the token names a notification and expires.

Mail scanners open links within seconds of delivery, so the link itself never
records anything: GET shows a page, only its POST records the answer.
"""

from __future__ import annotations

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from coordinator.errors import LinkError

SALT = "tocsin.ack-link"


class LinkSigner:
    def __init__(self, secret_key: str, public_url: str, ttl_hours: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt=SALT)
        self.public_url = public_url
        self._max_age = ttl_hours * 3600

    def url_for(self, notification_id: int) -> str:
        return f"{self.public_url}/r/{self._serializer.dumps(notification_id)}"

    def notification_id(self, token: str) -> int:
        try:
            value = self._serializer.loads(token, max_age=self._max_age)
        except SignatureExpired:
            raise LinkError("This answer link has expired.") from None
        except BadSignature:
            raise LinkError("This answer link is not valid.") from None
        if not isinstance(value, int):
            raise LinkError("This answer link is not valid.")
        return value
