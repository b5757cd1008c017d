"""Signed answer links: the token names a notification and expires.

Mail scanners open links within seconds of delivery, so the link itself never
records anything: GET shows a page, only its POST records the answer.
A token is "<notification id>.<timestamp>.<HMAC>" (itsdangerous'
TimestampSigner): cheap enough to sign for every recipient of a large alert.
"""

from __future__ import annotations

import hashlib

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner

from coordinator.errors import LinkError

SALT = "tocsin.ack-link"


class LinkSigner:
    def __init__(self, secret_key: str, public_url: str, ttl_hours: int) -> None:
        self._signer = TimestampSigner(secret_key, salt=SALT, digest_method=hashlib.sha256)
        self.public_url = public_url
        self._max_age = ttl_hours * 3600

    def url_for(self, notification_id: int) -> str:
        return f"{self.public_url}/r/{self._signer.sign(str(notification_id)).decode()}"

    def notification_id(self, token: str) -> int:
        try:
            value = self._signer.unsign(token, max_age=self._max_age)
        except SignatureExpired:
            raise LinkError("This answer link has expired.") from None
        except BadSignature:
            raise LinkError("This answer link is not valid.") from None
        if not value.isdigit():
            raise LinkError("This answer link is not valid.")
        return int(value)
