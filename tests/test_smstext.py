"""SMS text: GSM-7 / UCS-2 detection, segment counting, normalising, fitting an alert."""

from __future__ import annotations

import random

import pytest

from notifier.smstext import REPLY_CODES, encoding, fit, length, normalise, segments

LINK = "https://tocsin.example/r/eyJhbGciOiJIUzI1NiJ9.MTIz.abc-DEF_ghi"
# GSM 03.38 default alphabet, row by row as the standard prints it (0x1B, ESC, left out).
GSM_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
EXTENSION = "\f^{}\\[~]|€"


# Encoding


def test_it_treats_the_whole_gsm_alphabet_as_gsm7():
    assert len(GSM_TABLE) == 127
    assert encoding(GSM_TABLE) == "GSM-7"
    assert length(GSM_TABLE) == 127


def test_it_counts_extension_characters_twice():
    assert encoding(EXTENSION) == "GSM-7"
    assert length(EXTENSION) == 20
    assert length("Cost: 5€ [approx]") == 20


@pytest.mark.parametrize(
    "text",
    ["`backtick`", "smart ’quote’", "en – dash", "ellipsis…", "ç", "á", "Привет", "火事", "🔥"],
)
def test_it_needs_ucs2_for_anything_outside_the_alphabet(text):
    assert encoding(text) == "UCS-2"


def test_it_counts_ucs2_in_utf16_units():
    assert length("Привет") == 6
    assert length("🔥🔥") == 4  # each emoji is a surrogate pair


# Segments


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("a" * 459, 3),
        ("a" * 460, 4),
        ("€" * 80, 1),  # 160 septets
        ("€" * 81, 2),  # 162 septets
        ("ж" * 70, 1),
        ("ж" * 71, 2),
        ("ж" * 134, 2),
        ("ж" * 135, 3),
        ("a" * 159 + "ж", 3),  # one Cyrillic letter turns 160 characters into UCS-2
        ("🔥" * 35, 1),  # 70 units
        ("🔥" * 36, 2),
    ],
)
def test_it_counts_segments(text, expected):
    assert segments(text) == expected


def test_it_never_splits_an_escape_sequence_across_parts():
    # 306 septets would be 2 parts of 153, but the € cannot straddle parts 1 and 2.
    text = "a" * 152 + "€" + "a" * 152
    assert length(text) == 306
    assert segments(text) == 3


def test_it_never_splits_a_surrogate_pair_across_parts():
    text = "ж" * 66 + "🔥" + "ж" * 66
    assert length(text) == 134
    assert segments(text) == 3


def test_it_never_counts_fewer_segments_for_longer_text():
    rng = random.Random(7)
    alphabet = "abc €{ж🔥"
    for _ in range(50):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
        counts = [segments(text[:n]) for n in range(len(text) + 1)]
        assert counts == sorted(counts)


# Normalising


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("‘single’ “double” „low“ «guillemets»", '\'single\' "double" "low" "guillemets"'),
        ("north – south — east ‐ west − 2", "north - south - east - west - 2"),
        ("wait…", "wait..."),
        ("no\u00a0break\u202fnarrow\u2009thin\u3000wide", "no break narrow thin wide"),
        ("zero\u200bwidth\u00adsoft\ufeff", "zerowidthsoft"),
        ("line\u2028break", "line\nbreak"),
        ("• item · dot", "* item * dot"),
        ("`cmd` ´", "'cmd' '"),
        ("3×4 → ½ ≤ ¾ №5", "3x4 -> 1/2 <= 3/4 No.5"),
    ],
)
def test_it_replaces_common_characters_by_gsm_ones(raw, expected):
    assert normalise(raw) == expected
    assert encoding(normalise(raw)) == "GSM-7"


@pytest.mark.parametrize("text", ["Привет", "火事です", "🔥 fire", "£5 Ærø é"])
def test_it_keeps_what_has_no_gsm_equivalent(text):
    assert normalise(text) == text


def test_it_saves_segments_by_normalising_a_pasted_alert():
    pasted = "Evacuate the “north” estate – now… Meet at St Mary’s"
    assert (encoding(pasted), segments(pasted)) == ("UCS-2", 1)
    assert encoding(normalise(pasted)) == "GSM-7"
    long = pasted * 3
    assert segments(long) == 3
    assert segments(normalise(long)) == 2


# Fitting an alert


def test_it_composes_a_short_alert_untouched():
    text = fit("CRITICAL chemical: Fire at the docks", "Evacuate the north gate.", LINK)
    assert text == (
        "Tocsin CRITICAL chemical: Fire at the docks. Evacuate the north gate. "
        f"Reply 1 ACK, 2 EN ROUTE, 3 UNAVAILABLE. {LINK}"
    )
    assert segments(text) == 2


def test_it_adds_no_second_full_stop_after_a_headline_that_ends_a_sentence():
    assert fit("Flood warning!", "", LINK).startswith("Tocsin Flood warning! Reply 1 ACK")
    assert fit("Flood warning.", "Go", LINK).startswith("Tocsin Flood warning. Go Reply")


def test_it_collapses_whitespace_and_normalises():
    text = fit("  Fire  ", "Leave\n\nby the “east”\tgate…", LINK)
    assert text.startswith('Tocsin Fire. Leave by the "east" gate... Reply')
    assert encoding(text) == "GSM-7"


def test_it_trims_a_long_body_at_a_word_with_an_ellipsis():
    body = " ".join(f"word{i}" for i in range(200))
    text = fit("Fire", body, LINK)
    assert segments(text) == 3
    assert text.endswith(f"... {REPLY_CODES} {LINK}")
    kept = text.removeprefix("Tocsin Fire. ").split("... Reply")[0]
    assert body.startswith(kept)
    assert body[len(kept)] == " "  # cut between words
    # It uses the room it has: at most a word (and the ellipsis) short of full.
    assert length(text) > 3 * 153 - len("word199") - 4


def test_it_cuts_inside_a_word_only_when_the_word_is_too_long():
    text = fit("Fire", "x" * 1000, LINK)
    assert segments(text) == 3
    assert length(text) >= 3 * 153 - 3
    assert "x..." in text


def test_it_trims_a_ucs2_body_within_ucs2_segments():
    body = "Пожар в порту, эвакуируйтесь немедленно. " * 20
    text = fit("Пожар", body, LINK)
    assert encoding(text) == "UCS-2"
    assert segments(text) == 3
    assert REPLY_CODES in text and text.endswith(LINK)


def test_it_drops_to_gsm_when_the_only_ucs2_character_is_trimmed_away():
    text = fit("Fire", "a " * 300 + "Привет", LINK)
    assert encoding(text) == "GSM-7"
    assert segments(text) == 3


@pytest.mark.parametrize("max_segments", [1, 2, 3, 5])
def test_it_respects_max_segments(max_segments):
    text = fit("Fire", "Evacuate now please. " * 50, LINK, max_segments=max_segments)
    assert segments(text) == max_segments
    assert text.endswith(f"{REPLY_CODES} {LINK}")


def test_it_trims_the_headline_when_even_it_does_not_fit():
    text = fit("H" * 500, "body", LINK, max_segments=2)
    assert segments(text) == 2
    assert text.startswith("Tocsin HHH")
    assert "body" not in text
    assert text.endswith(f"... {REPLY_CODES} {LINK}")


def test_it_never_drops_the_link_even_when_it_alone_is_too_long():
    link = "https://tocsin.example/r/" + "t" * 400
    text = fit("Fire", "Evacuate", link, max_segments=2)
    assert text.endswith(f"{REPLY_CODES} {link}")
    assert segments(text) > 2


def test_it_fits_random_alerts_and_keeps_codes_and_link():
    rng = random.Random(2024)
    alphabet = "abcdefgh XYZ 0123 .,!? €[] ’“”–… \u00a0\n ж 🔥"
    for _ in range(300):
        headline = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        body = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 900)))
        max_segments = rng.randint(1, 4)
        text = fit(headline, body, LINK, max_segments=max_segments)
        assert text.startswith("Tocsin")
        assert text.endswith(f"{REPLY_CODES} {LINK}")
        assert segments(text) <= max_segments
        untrimmed = fit(headline, body, LINK, max_segments=100)
        if segments(untrimmed) <= max_segments:
            assert text == untrimmed
        else:  # trimmed visibly, or no room even for "..."
            assert "..." in text or text == fit(headline, "", LINK, max_segments=100)
