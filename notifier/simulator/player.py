"""The answered part of a call: TwiML from the hub, heard and answered by a simulated phone.

The phone "hears" <Say>, presses a key on <Gather> (or, in manual mode, waits
for a test to press one), follows the hub's reply and <Redirect>s, and hangs
up on <Hangup/> or at the end of the document. Twilio's codes mark what went
wrong: 11200 when a TwiML URL did not answer 2xx, 12100 when TwiML is unreadable.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from urllib.parse import urljoin

from notifier.simulator import twiml
from notifier.simulator.base import Settings
from notifier.simulator.calls import Call
from notifier.simulator.dice import REPEAT_DIGIT, Dice
from notifier.simulator.store import Store
from notifier.simulator.webhooks import Webhooks

log = logging.getLogger("tocsin.simulator")

MANUAL_WAIT_SECONDS = 60.0
# A hub whose TwiML redirects in a loop ends its call instead of keeping a worker busy.
MAX_DOCUMENTS = 12
RETRIEVAL_FAILURE = 11200


class TwimlPlayer:
    """Plays a call's TwiML; Voice, its subclass, schedules steps and ends calls."""

    settings: Settings
    store: Store
    dice: Dice
    hooks: Webhooks
    _lock: threading.Lock
    _calls: dict[str, Call]

    def _later(self, call: Call, step: Callable[[Call], None], delay: float | None = None) -> None:
        raise NotImplementedError

    def _finish(self, call: Call, status: str) -> None:
        raise NotImplementedError

    def press(self, sid: str, digits: str) -> str:
        """A test presses keys on a call waiting at a <Gather>: "ok", "unknown" or "not-waiting"."""
        with self._lock:
            call = self._calls.get(sid)
        if call is None:
            return "unknown"
        if not self._stop_waiting(call, None):
            return "not-waiting"
        self._later(call, lambda c: self._digits(c, digits), 0.0)
        return "ok"

    def _fetch(self, call: Call, kind: str, url: str, method: str, extra: dict[str, str]) -> None:
        call.documents += 1
        if call.documents > MAX_DOCUMENTS:
            self._app_error(call, RETRIEVAL_FAILURE, f"more than {MAX_DOCUMENTS} TwiML documents")
            return
        params = {**call.params("in-progress", self.settings.account_sid), **extra}
        status, text = self.hooks.send(kind, url, params, method)
        if status is None or not 200 <= status < 300:
            self._app_error(call, RETRIEVAL_FAILURE, f"HTTP retrieval failure: {status} {url}")
            return
        self._play(call, text, url)

    def _play(self, call: Call, document: str, url: str | None) -> None:
        self.store.append(call.sid, "twiml_fetched", document)
        try:
            call.verbs = twiml.parse(document)
        except twiml.TwimlError as exc:
            self._app_error(call, exc.code, exc.message)
            return
        call.position, call.document_url = 0, url
        self._run(call)

    def _run(self, call: Call) -> None:
        """Play verbs from the current position until one waits, leaves the document or ends."""
        while call.position < len(call.verbs):
            verb = call.verbs[call.position]
            if verb.name == "Gather":
                for child in verb.children:
                    self._hear(call, child)
                self._gather(call)
                return
            if verb.name == "Redirect":
                target = urljoin(call.document_url or "", verb.text)
                self._fetch(call, "redirect", target, verb.attr("method", "POST"), {})
                return
            if verb.name in ("Hangup", "Reject"):
                break
            self._hear(call, verb)
            call.position += 1
        self._finish(call, "completed")

    def _hear(self, call: Call, verb: twiml.Verb) -> None:
        if verb.name == "Say":
            self.store.append(call.sid, "said", verb.text)
        elif verb.name not in twiml.PLAYED:
            log.info("call %s: <%s> is not simulated, skipped", call.sid, verb.name)

    def _gather(self, call: Call) -> None:
        with self._lock:
            call.generation += 1
            call.waiting = generation = call.generation
        self.store.update(call.sid, {}, {"waiting": True})
        digits, delay = None, MANUAL_WAIT_SECONDS
        if self.settings.call_answer_mode == "auto" and call.profiled:
            # The person presses their answer once; a second <Gather> hears nothing.
            digits, call.planned = call.planned, None
            delay = self.dice.delay(self.settings.answer_delay)
        elif self.settings.call_answer_mode == "auto":
            if self.dice.chance(self.settings.answer_rate):
                digits = self.dice.digit(call.repeats)
            delay = self.dice.delay(self.settings.answer_delay)

        def gather_ends(call: Call) -> None:
            if self._stop_waiting(call, generation):  # unless a test pressed a key first
                self._digits(call, digits)

        self._later(call, gather_ends, delay)

    def _stop_waiting(self, call: Call, generation: int | None) -> bool:
        """End the wait at a <Gather> (the one of `generation`, if given); False if none waits."""
        with self._lock:
            if call.waiting is None or generation not in (None, call.waiting):
                return False
            call.waiting = None
        self.store.update(call.sid, {}, {"waiting": False})
        return True

    def _digits(self, call: Call, digits: str | None) -> None:
        gather = call.verbs[call.position]
        if not digits:  # no input: Twilio goes on with the verb after <Gather>
            call.position += 1
            self._run(call)
            return
        if digits == REPEAT_DIGIT:
            call.repeats += 1
        self.store.append(call.sid, "digits_sent", digits)
        action = urljoin(call.document_url or "", gather.attr("action"))
        if not action:
            self._app_error(call, RETRIEVAL_FAILURE, "<Gather> has no action and no document URL")
            return
        extra = {"Digits": digits, "FinishedOnKey": "", "msg": "Gather End"}
        self._fetch(call, "gather", action, gather.attr("method", "POST"), extra)

    def _app_error(self, call: Call, code: int, message: str) -> None:
        log.info("call %s: error %s %s", call.sid, code, message)
        self.store.append(call.sid, "errors", {"code": code, "message": message})
        self._finish(call, "completed")
