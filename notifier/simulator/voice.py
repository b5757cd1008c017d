"""Outbound calls, played the way Twilio plays them.

A call is a chain of scheduled steps, never a sleeping thread: initiated,
ringing, then busy / failed / no-answer, or answered; an answered call plays
the hub's TwiML (see player.py) until it hangs up. Each step posts the
progress event the client asked for to its StatusCallback.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from notifier.simulator.base import Settings, rfc2822_now
from notifier.simulator.calls import Call, draw_outcome
from notifier.simulator.dice import Dice
from notifier.simulator.player import TwimlPlayer
from notifier.simulator.scheduler import Scheduler
from notifier.simulator.store import Store
from notifier.simulator.webhooks import Webhooks


class Voice(TwimlPlayer):
    def __init__(
        self, settings: Settings, store: Store, scheduler: Scheduler, dice: Dice, hooks: Webhooks
    ) -> None:
        self.settings = settings
        self.store = store
        self.scheduler = scheduler
        self.dice = dice
        self.hooks = hooks
        self._calls: dict[str, Call] = {}
        self._lock = threading.Lock()
        # Set by Simulator: a profiled number's outcome and key (core.profiled_call).
        self.profiled: Callable[[str], tuple[str, str | None] | None] | None = None

    def call_accepted(self, call: Call) -> None:
        with self._lock:
            self._calls[call.sid] = call
        self._later(call, self._initiate)

    def reset(self) -> None:
        """Forget every call in progress: their pending steps then do nothing."""
        with self._lock:
            self._calls.clear()

    def hang_up(self, sid: str) -> None:
        """The client ended the call: canceled before it was answered, completed after."""
        with self._lock:
            call = self._calls.get(sid)
        if call is not None:
            self._finish(call, "completed" if call.answered_at else "canceled")

    # Steps, each run on a scheduler worker

    def _initiate(self, call: Call) -> None:
        self._progress(call, "initiated", "initiated")
        planned = self.profiled(call.to) if self.profiled else None
        if planned is None:
            outcome = draw_outcome(call.to, self.settings, self.dice)
        else:
            outcome, call.planned = planned
            call.profiled = True
        if outcome in ("failed", "busy"):
            self._later(call, lambda c: self._finish(c, outcome))
        else:
            self._later(call, lambda c: self._ring(c, outcome))

    def _ring(self, call: Call, outcome: str) -> None:
        self._progress(call, "ringing", "ringing")
        if outcome == "no-answer":
            self._later(call, lambda c: self._finish(c, "no-answer"))
        else:
            self._later(call, self._answer)

    def _answer(self, call: Call) -> None:
        call.answered_at = time.monotonic()
        self._progress(call, "answered", "in-progress", start_time=rfc2822_now())
        if call.twiml is not None:
            self._play(call, call.twiml, call.url)
        elif call.url is not None:
            self._fetch(call, "twiml", call.url, call.method, {})

    def _finish(self, call: Call, status: str) -> None:
        with self._lock:
            if self._calls.pop(call.sid, None) is None:
                return
            call.waiting = None
        answered = call.answered_at
        duration = 0 if answered is None else max(1, round(time.monotonic() - answered))
        self._progress(call, "completed", status, duration=str(duration), end_time=rfc2822_now())

    # Helpers

    def _progress(self, call: Call, event: str, status: str, **fields: Any) -> None:
        """Move the call to `status`; tell its StatusCallback if it asked for `event`."""
        now = rfc2822_now()
        record: dict[str, Any] = {"status": status}
        if "duration" in fields:
            record["duration"] = int(fields["duration"])
        self.store.update(call.sid, {"status": status, "date_updated": now, **fields}, record)
        if call.status_callback is not None and event in call.events:
            params = call.progress_params(
                status, self.settings.account_sid, now, fields.get("duration")
            )
            self.hooks.send("call-status", call.status_callback, params, call.callback_method)

    def _later(self, call: Call, step: Callable[[Call], None], delay: float | None = None) -> None:
        """Run `step` after `delay` (the status delay by default), unless the call has ended."""

        def run() -> None:
            with self._lock:
                active = self._calls.get(call.sid) is call
            if active:
                step(call)

        wait = self.settings.status_delay if delay is None else delay
        self.scheduler.call_later(wait, run)
