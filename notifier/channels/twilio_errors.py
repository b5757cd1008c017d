"""Twilio's failures, mapped once for every Twilio channel (SMS and voice).

Permanent means no retry of the same message can succeed: the number is
invalid, unreachable for this kind of message, or has opted out. Throttling
(429 / 20429), Twilio's own 5xx and an unreachable API are transient. So are
authentication and account errors: they are our configuration, not the
recipient's, and a dead-lettered message can be sent again once it is fixed.
"""

from __future__ import annotations

from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException

from notifier.channels.base import SendError

TOO_MANY_REQUESTS = 20429
# Numbers no message or call can reach: invalid, not mobile, not allowed, opted out.
NUMBER_CODES = {21211, 21212, 21214, 21217, 21219, 21401, 21408, 21421, 21603, 21606, 21610}
SMS_CODES = {21602, 21612, 21614, 21617}
# Voice: invalid or blocked numbers, no permission for the destination's region.
VOICE_CODES = {13223, 13224, 13225, 13227, 21210, 21215, 21216}


FAILURES = (TwilioException, OSError)  # what a twilio call raises; requests' errors are OSErrors


def send_error(exc: TwilioException | OSError, permanent_codes: set[int]) -> SendError:
    """The SendError for a failure of the twilio client."""
    if isinstance(exc, TwilioRestException | TwilioServiceException):
        status, code = exc.status, exc.code
        text = exc.msg if isinstance(exc, TwilioRestException) else exc.detail or exc.title
        throttled = status == 429 or code == TOO_MANY_REQUESTS
        # Any other 400 is a request Twilio will refuse again however often it is sent.
        permanent = not throttled and (code in permanent_codes or status == 400)
        return SendError(f"Twilio {code} (HTTP {status}): {text}", permanent=permanent)
    return SendError(f"Twilio unreachable: {exc}")
