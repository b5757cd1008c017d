"""API tokens: one agency each, shown once, stored as a hash, revocable; made and
revoked by admins on the console or with `tocsin api-token`, always audited."""

import hashlib
import re

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from coordinator.cli import cli
from coordinator.errors import ValidationError
from coordinator.models import ApiToken, AuditEvent
from coordinator.services import tokens
from tests.conftest import csrf_token, login

OTHER_ROLES = ["commander", "dispatcher", "observer", "fire-coordinator", "police-coordinator"]


def count(tocsin, model) -> int:
    return tocsin.db.session.scalar(select(func.count()).select_from(model))


def make(tocsin, agency: str = "fire", name: str = "Fire CAD") -> tuple[ApiToken, str]:
    with tocsin.db.write() as session:
        return tokens.create(session, agency, name, "user:admin")


def run_cli(db_url: str, *args: str):
    env = {"TOCSIN_DATABASE_URL": db_url, "TOCSIN_SECRET_KEY": "x" * 40}
    return CliRunner().invoke(cli, ["api-token", *args], env=env)


# --- the service ------------------------------------------------------------------


def test_it_keeps_only_the_hash_of_a_new_token(tocsin):
    token, plaintext = make(tocsin)
    assert re.fullmatch(r"tcn_[A-Za-z0-9_-]{43}", plaintext)
    assert token.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert token.prefix == plaintext[4:12]
    stored = tocsin.db.session.get(ApiToken, token.id)
    assert plaintext not in (stored.token_hash, stored.prefix, stored.name, stored.created_by)


def test_it_knows_a_live_token_and_forgets_a_revoked_one(tocsin):
    token, plaintext = make(tocsin)
    found = tokens.authenticate(tocsin.db.session, plaintext)
    assert found is not None and found.id == token.id and found.agency.slug == "fire"
    assert tokens.actor(found) == "api:fire:Fire CAD"
    with tocsin.db.write() as session:
        tokens.revoke(session, token.id, "user:admin")
    assert tokens.authenticate(tocsin.db.session, plaintext) is None


@pytest.mark.parametrize(
    "guess", ["", "tcn_", "tcn_short", "Bearer x", "tcn_" + "A" * 43, "x" * 5000, "tcn_\x00" * 9]
)
def test_it_refuses_anything_else(tocsin, guess):
    make(tocsin)
    assert tokens.authenticate(tocsin.db.session, guess) is None


def test_it_audits_making_and_revoking(tocsin):
    token, _ = make(tocsin)
    with tocsin.db.write() as session:
        tokens.revoke(session, token.id, "user:admin")
    rows = tocsin.db.session.execute(
        select(AuditEvent.actor, AuditEvent.action, AuditEvent.detail).where(
            AuditEvent.action.like("api_token.%")
        )
    ).all()
    assert [(a, act) for a, act, _ in rows] == [
        ("user:admin", "api_token.created"),
        ("user:admin", "api_token.revoked"),
    ]
    assert rows[0].detail == {
        "token_id": token.id, "agency": "fire", "name": "Fire CAD", "prefix": token.prefix,
    }  # fmt: skip


@pytest.mark.parametrize(
    "agency, name, field",
    [
        ("nowhere", "CAD", "agency"),
        ("fire", "   ", "name"),
        ("fire", "x" * 61, "name"),
        ("fire", "CAD\x07", "name"),
        ("fire", "Fire CAD", "name"),  # a live token of that name exists
    ],
)
def test_it_refuses_a_bad_token_and_makes_none(tocsin, agency, name, field):
    make(tocsin)
    before = count(tocsin, ApiToken), count(tocsin, AuditEvent)
    with pytest.raises(ValidationError) as raised, tocsin.db.write() as session:
        tokens.create(session, agency, name, "user:admin")
    assert field in raised.value.errors
    assert (count(tocsin, ApiToken), count(tocsin, AuditEvent)) == before


def test_it_revokes_once(tocsin):
    token, _ = make(tocsin)
    with tocsin.db.write() as session:
        tokens.revoke(session, token.id, "user:admin")
    for token_id in (token.id, 9999):
        with pytest.raises(ValidationError), tocsin.db.write() as session:
            tokens.revoke(session, token_id, "user:admin")


# --- the console page -------------------------------------------------------------


def test_it_lists_tokens_for_admins(client, tocsin):
    token, plaintext = make(tocsin)
    login(client, "admin")
    page = client.get("/admin/tokens")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f'data-token="{token.id}"' in html and "Fire CAD" in html and token.prefix in html
    assert plaintext not in html


def test_it_shows_a_new_token_once(client, tocsin):
    login(client, "admin")
    form = client.get("/admin/tokens").get_data(as_text=True)
    made = client.post(
        "/admin/tokens",
        data={"agency": "ambulance", "name": "Ambulance CAD", "csrf_token": csrf_token(form)},
    )
    assert made.status_code == 201
    assert made.headers["Cache-Control"] == "no-store"
    plaintext = re.search(
        r'<code id="token-value">(tcn_[^<]+)</code>', made.get_data(as_text=True)
    )[1]
    found = tokens.authenticate(tocsin.db.session, plaintext)
    assert found is not None and found.agency.slug == "ambulance"
    assert found.created_by == "user:admin"
    assert plaintext not in client.get("/admin/tokens").get_data(as_text=True)


def test_it_refuses_a_bad_form_and_makes_nothing(client, tocsin):
    login(client, "admin")
    token = csrf_token(client.get("/admin/tokens").get_data(as_text=True))
    before = count(tocsin, ApiToken), count(tocsin, AuditEvent)
    for data in ({"agency": "fire", "name": ""}, {"agency": "mars", "name": "CAD"}):
        page = client.post("/admin/tokens", data={**data, "csrf_token": token})
        assert page.status_code == 400
        assert "No token was made" in page.get_data(as_text=True)
    assert (count(tocsin, ApiToken), count(tocsin, AuditEvent)) == before


def test_it_needs_the_csrf_token(client, tocsin):
    login(client, "admin")
    before = count(tocsin, ApiToken)
    assert client.post("/admin/tokens", data={"agency": "fire", "name": "X"}).status_code == 400
    token, _ = make(tocsin)
    assert client.post(f"/admin/tokens/{token.id}/revoke").status_code == 400
    assert count(tocsin, ApiToken) == before + 1
    assert tocsin.db.session.get(ApiToken, token.id).revoked_at is None


def test_it_revokes_from_the_console(client, tocsin):
    token, plaintext = make(tocsin)
    login(client, "admin")
    csrf = csrf_token(client.get("/admin/tokens").get_data(as_text=True))
    done = client.post(f"/admin/tokens/{token.id}/revoke", data={"csrf_token": csrf})
    assert done.status_code == 302
    page = client.get("/admin/tokens").get_data(as_text=True)
    assert "is revoked" in page
    assert tokens.authenticate(tocsin.db.session, plaintext) is None
    again = client.post(f"/admin/tokens/{token.id}/revoke", data={"csrf_token": csrf})
    assert again.status_code == 302
    assert "was already revoked" in client.get("/admin/tokens").get_data(as_text=True)


@pytest.mark.parametrize("username", OTHER_ROLES)
def test_it_keeps_tokens_from_everyone_but_admins(client, tocsin, username):
    token, _ = make(tocsin)
    before = count(tocsin, ApiToken)
    login(client, username)
    csrf = csrf_token(client.get("/").get_data(as_text=True))
    assert client.get("/admin/tokens").status_code == 403
    made = client.post("/admin/tokens", data={"agency": "fire", "name": "X", "csrf_token": csrf})
    assert made.status_code == 403
    revoked = client.post(f"/admin/tokens/{token.id}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 403
    assert count(tocsin, ApiToken) == before
    assert tocsin.db.session.get(ApiToken, token.id).revoked_at is None


def test_it_sends_the_signed_out_to_log_in(client):
    page = client.get("/admin/tokens")
    assert page.status_code == 302 and "/login" in page.headers["Location"]


def test_it_links_the_pages_for_admins_only(client):
    login(client, "admin")
    html = client.get("/").get_data(as_text=True)
    assert 'href="/admin/tokens"' in html and 'href="/audit"' in html
    client.post("/logout", data={"csrf_token": csrf_token(html)})
    login(client, "commander")
    html = client.get("/").get_data(as_text=True)
    assert 'href="/admin/tokens"' not in html and 'href="/audit"' not in html


# --- the command line -------------------------------------------------------------


def test_it_makes_lists_and_revokes_tokens_from_the_command_line(tocsin, db_url):
    made = run_cli(db_url, "create", "--agency", "fire", "--name", "Fire CAD")
    assert made.exit_code == 0, made.output
    plaintext = made.stdout.strip()
    assert re.fullmatch(r"tcn_[A-Za-z0-9_-]{43}", plaintext)  # stdout holds the token alone
    assert "not shown again" in made.stderr
    token = tokens.authenticate(tocsin.db.session, plaintext)
    assert token is not None and token.created_by.startswith("cli:")

    listed = run_cli(db_url, "list")
    assert listed.exit_code == 0
    assert f"{token.id}\tfire\tFire CAD\ttcn_{token.prefix}...\t" in listed.stdout
    assert plaintext not in listed.stdout and "\tlive" in listed.stdout

    revoked = run_cli(db_url, "revoke", str(token.id))
    assert revoked.exit_code == 0 and f"token {token.id} (fire, Fire CAD) revoked" in revoked.stdout
    tocsin.db.remove()
    assert tokens.authenticate(tocsin.db.session, plaintext) is None
    assert "revoked 20" in run_cli(db_url, "list").stdout


def test_it_refuses_bad_command_line_input_and_changes_nothing(tocsin, db_url):
    before = count(tocsin, ApiToken), count(tocsin, AuditEvent)
    unknown = run_cli(db_url, "create", "--agency", "mars", "--name", "CAD")
    assert unknown.exit_code == 1 and "There is no agency 'mars'" in unknown.stderr
    missing = run_cli(db_url, "revoke", "4242")
    assert missing.exit_code == 1 and "There is no API token 4242" in missing.stderr
    assert run_cli(db_url, "revoke", "abc").exit_code == 2
    tocsin.db.remove()
    assert (count(tocsin, ApiToken), count(tocsin, AuditEvent)) == before
