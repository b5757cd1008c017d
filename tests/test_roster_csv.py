"""CSV roster import: a dry run reports every bad line; then all rows or none."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select

from coordinator.models import Agency, AuditEvent, ContactPoint, Responder, Team
from tests.conftest import csrf_token, login

HEADER = "name,team,skills,on_duty,language,lat,lon,sms,push,email,voice"
CLEAN = f"""{HEADER}
Ada Lovelace,Blue Watch,Firefighter;Hazmat Tech,yes,en,51.45,-2.58,+447700900001,ntfy://ntfy.example.org/ada,ada@fire.example.org,+447700900001
Grace Hopper,Hazmat,hazmat,no,cy,,,+447700900002,,grace@fire.example.org,
"""  # noqa: E501


def token(client) -> str:
    return csrf_token(client.get("/login").get_data(as_text=True))


def dry_run(client, content: str | bytes, slug: str = "fire", filename: str = "roster.csv"):  # type: ignore[no-untyped-def]
    data = content.encode() if isinstance(content, str) else content
    body, content_type = multipart({"csrf_token": token(client), "action": "check"}, filename, data)
    return client.post(f"/rosters/{slug}/import", data=body, content_type=content_type)


def multipart(fields: dict[str, str], filename: str, content: bytes) -> tuple[bytes, str]:
    """A form with one file, built in memory (the test client would spool a large
    upload to a temporary file that nobody closes when the app refuses it)."""
    boundary = "tocsin-test-boundary-7f3a"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"'
        "\r\nContent-Type: text/csv\r\n\r\n"
    )
    parts.append(head.encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def staged(response) -> str:  # type: ignore[no-untyped-def]
    match = re.search(r'name="staged" value="([^"]+)"', response.get_data(as_text=True))
    assert match, "no Import button: the dry run was not clean"
    return match.group(1)


def do_import(client, staged_token: str, slug: str = "fire"):  # type: ignore[no-untyped-def]
    data = {"csrf_token": token(client), "action": "import", "staged": staged_token}
    return client.post(f"/rosters/{slug}/import", data=data)


def import_file(client, content: str, slug: str = "fire"):  # type: ignore[no-untyped-def]
    check = dry_run(client, content, slug)
    assert check.status_code == 200, html.unescape(check.get_data(as_text=True))
    return do_import(client, staged(check), slug)


def counts(tocsin) -> tuple[int, ...]:
    s = tocsin.db.session
    result = tuple(
        s.scalar(select(func.count()).select_from(m))
        for m in (Responder, ContactPoint, Team, AuditEvent)
    )
    tocsin.db.remove()
    return result


def bad_lines(response) -> dict[int | None, str]:  # type: ignore[no-untyped-def]
    page = html.unescape(response.get_data(as_text=True))
    rows = re.findall(r'<tr data-line="(\d*)"><td>[^<]*</td><td>([^<]*)</td></tr>', page)
    return {int(line) if line else None: message for line, message in rows}


def fire_responders(tocsin) -> dict[str, Responder]:
    s = tocsin.db.session
    fire = s.scalar(select(Agency.id).where(Agency.slug == "fire"))
    found = {r.name: r for r in s.scalars(select(Responder).where(Responder.agency_id == fire))}
    for r in found.values():
        _ = r.contact_points, r.team
    tocsin.db.remove()
    return found


def test_a_clean_file_imports_exactly(client, tocsin):
    login(client, "fire-coordinator")
    before = counts(tocsin)
    check = dry_run(client, CLEAN)
    assert check.status_code == 200
    page = check.get_data(as_text=True)
    assert 'id="created">2<' in page and 'id="updated">0<' in page
    assert counts(tocsin) == before  # a dry run changes nothing
    response = do_import(client, staged(check))
    assert response.status_code == 302
    assert counts(tocsin)[:2] == (before[0] + 2, before[1] + 6)
    people = fire_responders(tocsin)
    ada, grace = people["Ada Lovelace"], people["Grace Hopper"]
    assert (ada.team.name, ada.skills, ada.on_duty, ada.language, ada.lat, ada.lon) == (
        "Blue Watch", ["firefighter", "hazmat_tech"], True, "en", 51.45, -2.58,
    )  # fmt: skip
    assert [(p.channel, p.address, p.position) for p in ada.contact_points] == [
        ("sms", "+447700900001", 0),
        ("push", "ntfy://ntfy.example.org/ada", 1),
        ("email", "ada@fire.example.org", 2),
        ("voice", "+447700900001", 3),
    ]
    assert (grace.team.name, grace.on_duty, grace.language, grace.lat) == (
        "Hazmat", False, "cy", None,
    )  # fmt: skip
    assert [(p.channel, p.position) for p in grace.contact_points] == [("sms", 0), ("email", 1)]
    entry = tocsin.db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "roster.imported")
    )
    assert (entry.actor, entry.detail["created"], entry.detail["updated"]) == (
        "user:fire-coordinator", 2, 0,
    )  # fmt: skip


def test_the_header_orders_contact_points(client, tocsin):
    login(client, "fire-coordinator")
    content = "voice,email,name,sms\n+447700900009,z@fire.example.org,Zed Voice,+447700900008\n"
    assert import_file(client, content).status_code == 302
    zed = fire_responders(tocsin)["Zed Voice"]
    assert [(p.channel, p.address) for p in zed.contact_points] == [
        ("voice", "+447700900009"),
        ("email", "z@fire.example.org"),
        ("sms", "+447700900008"),
    ]
    assert (zed.team_id, zed.skills, zed.on_duty, zed.language) == (None, [], True, "en")


def test_every_bad_row_is_reported_and_nothing_is_imported(client, tocsin):
    login(client, "fire-coordinator")
    rows = [
        HEADER,
        "Good One,Blue Watch,,yes,en,,,+447700900001,,,",  # 2: fine
        "Bad Team,Red Watch,,yes,en,,,+447700900002,,,",  # 3
        "Bad Phone,,,yes,en,,,07700 900003,,,",  # 4
        "Bad Email,,,yes,en,,,,,someone@,",  # 5
        ",,,yes,en,,,+447700900005,,,",  # 6: no name
        "Good One,,,yes,en,,,+447700900006,,,",  # 7: duplicate of line 2
        "Bad Place,,,yes,en,95,10,+447700900007,,,",  # 8
        "Half Place,,,yes,en,51.4,,+447700900008,,,",  # 9
        "Bad Duty,,,maybe,en,,,+447700900009,,,",  # 10
        "Bad Push,,,yes,en,,,,http://example.org/hook,,",  # 11
        "",  # 12: blank lines are skipped
        "Too Many,,,yes,en,,,+447700900010,,,,extra",  # 13
        "Bad Voice,,,yes,en,,,,,,+1",  # 14
        '"Quoted, Name",Hazmat,"a;b",no,pt-BR,,,+447700900011,,,',  # 15: fine
        "Bad Language,,,yes,english,,,+447700900012,,,",  # 16
    ]
    before = counts(tocsin)
    response = dry_run(client, "\n".join(rows) + "\n")
    assert response.status_code == 400
    lines = bad_lines(response)
    assert sorted(lines) == [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 16]
    assert "Unknown team 'Red Watch'" in lines[3]
    assert "E.164" in lines[4]
    assert "not an email address" in lines[5]
    assert "name is empty" in lines[6]
    assert "also on line 2" in lines[7]
    assert "Latitude must be between -90 and 90" in lines[8]
    assert "both latitude and longitude" in lines[9]
    assert "on_duty must be yes or no" in lines[10]
    assert "not a push URL" in lines[11]
    assert "12 cells, but the header has 11 columns" in lines[13]
    assert "E.164" in lines[14]
    assert "Language must be a code" in lines[16]
    assert 'name="staged"' not in response.get_data(as_text=True)  # no Import button
    assert counts(tocsin) == before


def test_a_row_with_several_problems_reports_them_all(client, tocsin):
    login(client, "fire-coordinator")
    response = dry_run(client, f"{HEADER}\nX,Nope,,never,en,,,+1,,bad,\n")
    [(line, message)] = bad_lines(response).items()
    assert line == 2
    for part in ("Unknown team", "on_duty", "E.164", "not an email"):
        assert part in message


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        (b"", None, "The file is empty"),
        (b"  \n\n", None, "The file is empty"),
        (f"{HEADER}\n".encode(), None, "a header but no rows"),
        (b"name,team,pager\nA,,123\n", 1, "Unknown column 'pager'"),
        (b"team,sms\nBlue Watch,+447700900001\n", 1, "no name column"),
        (b"name,sms,sms\nA,+447700900001,+447700900002\n", 1, "sms appears more than once"),
        ("name,team\nA,\nZoë Ångström,\n".encode("latin-1"), 3, "not UTF-8"),
        (b"name\nA\nB\x00C\n", 3, "NUL characters"),
        (b"name\nA\n" + b"B" * 200_000 + b"\n", 3, "cannot be read"),
    ],
)
def test_a_broken_file_is_refused_whole(client, tocsin, content, line, message):
    login(client, "fire-coordinator")
    before = counts(tocsin)
    response = dry_run(client, content)
    assert response.status_code == 400
    lines = bad_lines(response)
    assert line in lines and message in lines[line], lines
    assert counts(tocsin) == before


def test_a_file_with_a_byte_order_mark_and_crlf_is_fine(client, tocsin):
    login(client, "fire-coordinator")
    content = ("\ufeffname,sms\r\nBom Person,+447700900001\r\n").encode()
    assert import_file(client, content.decode("utf-8")).status_code == 302
    assert "Bom Person" in fire_responders(tocsin)


def test_too_many_rows_and_too_large_files_are_refused(client, tocsin):
    login(client, "fire-coordinator")
    before = counts(tocsin)
    many = "name\n" + "".join(f"P{i}\n" for i in range(20_001))
    response = dry_run(client, many)
    assert response.status_code == 400
    assert bad_lines(response) == {None: "The file has more than 20,000 rows."}
    huge = "name,email\n" + "x" * (2 * 1024 * 1024) + ",\n"
    response = dry_run(client, huge)
    assert response.status_code == 413
    assert "larger than 2 MB; nothing was changed" in response.get_data(as_text=True)
    assert counts(tocsin) == before
    no_file = client.post(
        "/rosters/fire/import", data={"csrf_token": token(client), "action": "check"}
    )
    assert no_file.status_code == 400 and "Choose a CSV file" in no_file.get_data(as_text=True)


def test_re_import_updates_and_does_not_duplicate(client, tocsin):
    login(client, "fire-coordinator")
    assert import_file(client, CLEAN).status_code == 302
    before = counts(tocsin)
    changed = CLEAN.replace("Blue Watch,Firefighter;Hazmat Tech,yes", "Hazmat,hazmat,no").replace(
        "ntfy://ntfy.example.org/ada,", ","
    )
    check = dry_run(client, changed + "Alan Turing,,,,,,,,,,\n")
    page = check.get_data(as_text=True)
    assert 'id="created">1<' in page and 'id="updated">2<' in page
    assert do_import(client, staged(check)).status_code == 302
    after = counts(tocsin)
    assert after[0] == before[0] + 1  # Alan only
    ada = fire_responders(tocsin)["Ada Lovelace"]
    assert (ada.team.name, ada.skills, ada.on_duty) == ("Hazmat", ["hazmat"], False)
    assert [p.channel for p in ada.contact_points] == ["sms", "email", "voice"]
    assert after[1] == before[1] - 1  # Ada's push address went


def test_columns_left_out_keep_their_values(client, tocsin):
    login(client, "fire-coordinator")
    import_file(client, CLEAN)
    assert import_file(client, "name,on_duty\nAda Lovelace,no\n").status_code == 302
    ada = fire_responders(tocsin)["Ada Lovelace"]
    assert ada.on_duty is False
    assert (ada.team.name, ada.skills, ada.lat) == (
        "Blue Watch",
        ["firefighter", "hazmat_tech"],
        51.45,
    )
    assert len(ada.contact_points) == 4


def test_an_ambiguous_name_on_the_roster_is_refused(client, tocsin):
    login(client, "admin")
    with tocsin.db.write() as s:
        fire = s.scalar(select(Agency.id).where(Agency.slug == "fire"))
        s.add_all([Responder(agency_id=fire, name="Twin", skills=[]) for _ in range(2)])
    response = dry_run(client, "name,on_duty\nTwin,no\n")
    assert response.status_code == 400
    assert "2 responders of Fire and Rescue are named 'Twin'" in bad_lines(response)[2]


def test_the_import_checks_again_and_refuses_a_changed_roster(client, tocsin):
    """A team deleted between the dry run and Import: nothing is imported."""
    login(client, "fire-coordinator")
    with tocsin.db.write() as s:
        fire = s.scalar(select(Agency.id).where(Agency.slug == "fire"))
        s.add(Team(agency_id=fire, name="Temporary"))
    check = dry_run(client, "name,team\nTemp Person,Temporary\n")
    assert check.status_code == 200
    with tocsin.db.write() as s:
        s.delete(s.scalar(select(Team).where(Team.name == "Temporary")))
    before = counts(tocsin)
    response = do_import(client, staged(check))
    assert response.status_code == 400
    assert "Unknown team 'Temporary'" in bad_lines(response)[2]
    assert counts(tocsin) == before


def test_a_coordinator_imports_only_into_their_own_agency(client, tocsin):
    login(client, "fire-coordinator")
    check = dry_run(client, CLEAN)
    fire_token = staged(check)
    police, admin = client.application.test_client(), client.application.test_client()
    login(police, "police-coordinator")
    login(admin, "admin")
    before = counts(tocsin)
    # the police coordinator can neither check nor import into fire, nor use fire's check
    assert dry_run(police, CLEAN, "fire").status_code == 404
    assert do_import(police, fire_token, "fire").status_code == 404
    assert police.get("/rosters/fire/import").status_code == 404
    moved = do_import(police, fire_token, "police")
    assert moved.status_code == 400 and "check the file again" in moved.get_data(as_text=True)
    # nor may an admin replay the fire coordinator's check, or a forged one
    assert do_import(admin, fire_token, "fire").status_code == 400
    assert do_import(admin, fire_token[:-2] + "xx", "fire").status_code == 400
    assert counts(tocsin) == before


def test_the_template_csv_is_a_clean_file(client, tocsin):
    login(client, "fire-coordinator")
    template = client.get("/rosters/fire/import/template.csv")
    assert template.status_code == 200
    assert template.mimetype == "text/csv"
    assert "attachment" in template.headers["Content-Disposition"]
    content = template.get_data(as_text=True)
    assert content.splitlines()[0] == HEADER
    check = dry_run(client, content)
    assert check.status_code == 200 and 'id="created">1<' in check.get_data(as_text=True)


def test_ten_thousand_rows_import_in_one_go(client, tocsin):
    login(client, "fire-coordinator")
    before = counts(tocsin)
    teams = ("Blue Watch", "Hazmat")
    rows = [
        f"Person {i:05d},{teams[i % 2]},firefighter;hazmat,{'yes' if i % 3 else 'no'},en,"
        f"51.{i:04d},-2.{i:04d},+4477009{i:05d},,p{i}@fire.example.org,"
        for i in range(10_000)
    ]
    content = HEADER + "\n" + "\n".join(rows) + "\n"
    check = dry_run(client, content)
    assert check.status_code == 200
    assert 'id="created">10000<' in check.get_data(as_text=True)
    assert do_import(client, staged(check)).status_code == 302
    after = counts(tocsin)
    assert (after[0] - before[0], after[1] - before[1]) == (10_000, 20_000)
    s = tocsin.db.session
    last = s.scalar(select(Responder).where(Responder.name == "Person 09999"))
    assert (last.team.name, last.on_duty, last.lat) == ("Hazmat", False, 51.9999)
    assert [(p.channel, p.address) for p in last.contact_points] == [
        ("sms", "+447700909999"),
        ("email", "p9999@fire.example.org"),
    ]
    off = s.scalar(
        select(func.count()).where(Responder.name.like("Person %"), Responder.on_duty.is_(False))
    )
    assert off == len(range(0, 10_000, 3))
    tocsin.db.remove()
