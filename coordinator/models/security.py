"""Console sign-in state kept on the server: sessions that can be ended, and the
failed sign-ins that slow down or lock out a guesser."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from coordinator.models.base import Base, utcnow


class UserSession(Base):
    """One signed-in browser. The cookie carries a random token, only its sha256 is
    kept: signing out revokes this row, a password change every other one of the user,
    so a copied cookie stops working."""

    __tablename__ = "user_session"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A session that has passed its password but not yet its second factor.
    second_factor_pending: Mapped[bool] = mapped_column(default=False, server_default="0")
    revoked_at: Mapped[datetime | None]
    user_agent: Mapped[str] = mapped_column(String(200), default="", server_default="")


class LoginThrottle(Base):
    """Failed sign-ins per key ("user:<name>", known or not, and "ip:<address>")."""

    __tablename__ = "login_throttle"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failed_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_failed_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]
