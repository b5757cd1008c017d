"""Dead letters: notifications the notifier gave up on, listed and sent again."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from coordinator import live, permissions
from coordinator.context import tocsin
from coordinator.models import DeadLetter, Notification, utcnow
from coordinator.services import audit
from coordinator.services.outbox import enqueue
from coordinator.views.auth import permission_required

bp = Blueprint("deadletters", __name__, url_prefix="/dead-letters")


@bp.get("")
@login_required
def index():  # type: ignore[no-untyped-def]
    letters = (
        tocsin()
        .db.session.scalars(
            select(DeadLetter)
            .options(selectinload(DeadLetter.notification).selectinload(Notification.responder))
            .order_by(DeadLetter.replayed_at.is_not(None), DeadLetter.id.desc())
            .limit(500)
        )
        .all()
    )
    can_replay = permissions.allowed(current_user, "dead_letters.replay")
    return render_template("console/dead_letters.html", letters=letters, can_replay=can_replay)


@bp.post("/<int:letter_id>/replay")
@permission_required("dead_letters.replay")
def replay(letter_id: int):  # type: ignore[no-untyped-def]
    """Send the notification again as a new notification (attempts start over)."""
    t = tocsin()
    with t.db.write() as session:
        letter = session.get(DeadLetter, letter_id)
        if letter is None:
            abort(404)
        if letter.replayed_at is not None:
            flash(f"Dead letter {letter_id} was already sent again by {letter.replayed_by}.")
            return redirect(url_for("deadletters.index"))
        old = letter.notification
        again = Notification(
            alert=old.alert,
            responder_id=old.responder_id,
            channel=old.channel,
            address=old.address,
            previous_id=old.id,
        )
        session.add(again)
        session.flush()
        enqueue(session, again, t.links)
        letter.replayed_at = utcnow()
        letter.replayed_by = current_user.username
        incident_id = old.alert.incident_id
        audit.record(
            session, f"user:{current_user.username}", "dead_letter.replayed", incident_id,
            dead_letter_id=letter.id, notification_id=again.id,
        )  # fmt: skip
    t.outbox_written.set()
    live.notification_added(incident_id, again)
    flash(f"Sent again as notification {again.id}.")
    return redirect(url_for("deadletters.index"))
