"""Agencies, their teams and responders (real or simulated), contact points, console users."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coordinator.models.base import Base


class Agency(Base):
    __tablename__ = "agency"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    # Opt-in: anonymised drill figures on the public responsiveness page.
    publish_responsiveness: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    teams: Mapped[list[Team]] = relationship(back_populates="agency", order_by="Team.name")


class Team(Base):
    __tablename__ = "team"
    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    # Who an escalation step with target "backup" alerts when this team is silent.
    backup_team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    agency: Mapped[Agency] = relationship(back_populates="teams")
    backup_team: Mapped[Team | None] = relationship(
        remote_side="Team.id",
        post_update=True,  # teams may back each other up
    )
    __table_args__ = (UniqueConstraint("agency_id", "name"),)


class Responder(Base):
    __tablename__ = "responder"
    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    on_duty: Mapped[bool] = mapped_column(Boolean, default=True)
    language: Mapped[str] = mapped_column(String(8), default="en")
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    # Made by `tocsin drill city`: reachable only through the provider simulator,
    # alerted only by drills (services/targeting.py refuses them for live incidents).
    simulated: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0", index=True)
    agency: Mapped[Agency] = relationship()
    team: Mapped[Team | None] = relationship()
    contact_points: Mapped[list[ContactPoint]] = relationship(
        back_populates="responder", order_by="ContactPoint.position", cascade="all, delete-orphan"
    )


class ContactPoint(Base):
    __tablename__ = "contact_point"
    id: Mapped[int] = mapped_column(primary_key=True)
    responder_id: Mapped[int] = mapped_column(ForeignKey("responder.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(320), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    responder: Mapped[Responder] = relationship(back_populates="contact_points")


class User(Base):
    __tablename__ = "user_account"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(20))
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A second factor (TOTP, RFC 6238): the base32 secret once enrolment is confirmed,
    # and the sha256 of each unused recovery code.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_confirmed_at: Mapped[datetime | None]
    recovery_codes: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    password_changed_at: Mapped[datetime | None]
    agency: Mapped[Agency | None] = relationship()

    # flask-login's user protocol
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return str(self.id)


class SimulationProfile(Base):
    """How an agency's simulated responders behave in the provider simulator
    (`tocsin drill city`): a whole city's exercise rehearsed on one machine."""

    __tablename__ = "sim_profile"
    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), unique=True)
    answer_rate: Mapped[float] = mapped_column(Float)  # of those not silent, share who answer
    delay_median_s: Mapped[float] = mapped_column(Float)  # lognormal time to answer
    delay_sigma: Mapped[float] = mapped_column(Float)
    unavailable_share: Mapped[float] = mapped_column(Float)  # of answers, "unavailable"
    silent_share: Mapped[float] = mapped_column(Float)  # never answer anything
    fail_share: Mapped[float] = mapped_column(Float)  # numbers whose messages fail
    agency: Mapped[Agency] = relationship()
