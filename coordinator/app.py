"""The Flask application factory: console, responder pages and webhooks."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, render_template, send_from_directory
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

import maps
from coordinator import (
    api,
    live,  # noqa: F401  (registers the Socket.IO handlers)
)
from coordinator.config import Settings
from coordinator.context import Tocsin, tocsin
from coordinator.db import Database
from coordinator.extensions import client_manager, csrf, login_manager, socketio
from coordinator.links import LinkSigner
from coordinator.models import User
from coordinator.views import (
    audit_log,
    auth,
    cap,
    cap_rules,
    console,
    deadletters,
    drills,
    hooks,
    incident_alert,
    message_templates,
    policies,
    respond,
    roster_import,
    rosters,
    tokens,
    users,
)
from coordinator.views import compare as drills_compared
from coordinator.views import public as public_pages
from coordinator.views import reports as report_views

ROOT = Path(__file__).resolve().parent.parent


def create_app(settings: Settings | None = None, **config: object) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__, template_folder=str(ROOT / "templates"), static_folder="static")
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        REMEMBER_COOKIE_SECURE=settings.cookie_secure,
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )
    app.config.update(config)
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    db = Database(settings.database_url)
    links = LinkSigner(settings.secret_key, settings.public_url, settings.link_ttl_hours)
    app.extensions["tocsin"] = Tocsin(settings, db, links)

    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    manager = client_manager(settings.socketio_queue, settings.amqp_prefix)
    socketio.init_app(app, async_mode="gevent", client_manager=manager)

    for module in (auth, console, deadletters, hooks, message_templates, respond):
        app.register_blueprint(module.bp)
    for module in (tokens, audit_log, api):
        app.register_blueprint(module.bp)
    for module in (rosters, roster_import, users):
        app.register_blueprint(module.bp)
    app.register_blueprint(policies.bp)
    app.register_blueprint(drills.bp)  # schedules and team tests (docs/drills.md)
    for module in (cap, cap_rules, incident_alert):  # CAP 1.2 (docs/cap.md)
        app.register_blueprint(module.bp)
    for module in (report_views, drills_compared, public_pages):  # docs/reports.md
        app.register_blueprint(module.bp)
    csrf.exempt(api.bp)  # bearer tokens, no cookies: nothing for a forged form to ride on
    csrf.exempt(hooks.bp)  # Twilio signs these requests instead
    csrf.exempt(respond.bp)  # the signed link is the credential
    app.add_url_rule("/static/maps/<path:filename>", "maps_static", _maps_static)

    @app.teardown_appcontext
    def _end_session(_exc: BaseException | None) -> None:
        db.remove()

    @app.errorhandler(404)
    def _not_found(e: HTTPException):  # type: ignore[no-untyped-def]
        if api.wants_json():
            return api.http_error(e)
        return render_template("error.html", title="Not found", message="No such page."), 404

    return app


def _maps_static(filename: str):  # type: ignore[no-untyped-def]
    return send_from_directory(maps.STATIC_DIR, filename, max_age=3600)


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    if not user_id.isdigit():
        return None
    user = tocsin().db.session.get(User, int(user_id))
    # A deactivated account's open sessions end at its next request.
    return user if user is not None and user.active else None
