"""API tokens: a computer-aided dispatch system's key to one agency.

The token is shown once, when it is made; only its sha256 is stored, so a
copy of the database lets nobody call the API. A token can be revoked, never
changed. Making and revoking one lands in the audit log.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from coordinator.errors import ValidationError
from coordinator.models import Agency, ApiToken, utcnow
from coordinator.services import audit

PREFIX = "tcn_"
# The name appears in every audit actor "api:<agency>:<name>" (120 characters at most).
MAX_NAME = 60
SHAPE = re.compile(r"^tcn_[A-Za-z0-9_-]{40,60}$")
# last_used_at is a hint for admins, not a log: written at most once a minute per token.
TOUCH_EVERY = timedelta(minutes=1)


def create(
    session: Session, agency: Agency | str, name: str, created_by: str
) -> tuple[ApiToken, str]:
    """A new token for the agency (an Agency or its slug); returns it and the plaintext,
    which is never stored and cannot be shown again."""
    found = _agency(session, agency)
    clean = _check_name(session, found, name)
    plaintext = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        agency=found,
        name=clean,
        token_hash=digest(plaintext),
        prefix=plaintext[len(PREFIX) : len(PREFIX) + 8],
        created_by=created_by,
    )
    session.add(token)
    session.flush()
    audit.record(
        session, created_by, "api_token.created",
        token_id=token.id, agency=found.slug, name=clean, prefix=token.prefix,
    )  # fmt: skip
    return token, plaintext


def authenticate(session: Session, plaintext: str) -> ApiToken | None:
    """The live token this plaintext is, or None (unknown, malformed or revoked)."""
    if not SHAPE.match(plaintext):
        return None
    return session.scalars(
        select(ApiToken)
        .options(joinedload(ApiToken.agency))
        .where(ApiToken.token_hash == digest(plaintext), ApiToken.revoked_at.is_(None))
    ).first()


def revoke(session: Session, token_id: int, actor: str) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise ValidationError({"token": f"There is no API token {token_id}."})
    if token.revoked_at is not None:
        raise ValidationError(
            {"token": f"API token {token_id} was already revoked "
                      f"({token.revoked_at:%Y-%m-%d %H:%M} UTC)."}
        )  # fmt: skip
    token.revoked_at = utcnow()
    audit.record(
        session, actor, "api_token.revoked",
        token_id=token.id, agency=token.agency.slug, name=token.name, prefix=token.prefix,
    )  # fmt: skip
    return token


def all_tokens(session: Session) -> list[ApiToken]:
    """Live tokens first, then by agency and newest."""
    return list(
        session.scalars(
            select(ApiToken)
            .join(ApiToken.agency)
            .options(joinedload(ApiToken.agency))
            .order_by(ApiToken.revoked_at.is_not(None), Agency.slug, ApiToken.id.desc())
        )
    )


def needs_touch(token: ApiToken) -> bool:
    last = token.last_used_at
    if last is not None and last.tzinfo is None:  # SQLite returns naive UTC
        last = last.replace(tzinfo=utcnow().tzinfo)
    return last is None or utcnow() - last >= TOUCH_EVERY


def touch(session: Session, token_id: int) -> None:
    """Note that the token was just used (one UPDATE by primary key)."""
    session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=utcnow()))


def actor(token: ApiToken) -> str:
    """How the audit log names what this token did."""
    return f"api:{token.agency.slug}:{token.name}"


def digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _agency(session: Session, agency: Agency | str) -> Agency:
    if isinstance(agency, Agency):
        return agency
    found = session.scalars(select(Agency).where(Agency.slug == agency.strip())).first()
    if found is None:
        raise ValidationError({"agency": f"There is no agency {agency.strip()!r}."})
    return found


def _check_name(session: Session, agency: Agency, name: str) -> str:
    clean = " ".join(name.split())
    if not clean:
        raise ValidationError({"name": "Name the token after the system that uses it."})
    if len(clean) > MAX_NAME:
        raise ValidationError({"name": f"The name is longer than {MAX_NAME} characters."})
    if not clean.isprintable():
        raise ValidationError({"name": "The name has characters that cannot be printed."})
    taken = session.scalar(
        select(ApiToken.id).where(
            ApiToken.agency_id == agency.id, ApiToken.name == clean, ApiToken.revoked_at.is_(None)
        )
    )
    if taken is not None:
        raise ValidationError(
            {"name": f"{agency.name} already has a live token named {clean!r}: revoke it first."}
        )
    return clean
