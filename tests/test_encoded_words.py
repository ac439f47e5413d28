"""RFC 2047 encoded words as parsers that join a run of them read them.

GMime (notmuch, Geary, Balsa) decodes a run of adjacent B words of one charset as one base64
stream, and drops everything after a word that ends in `=` padding: a Subject
`=?utf-8?b?…nKw=?= =?utf-8?b?6Kqe…?=` reads as its first word alone. RFC 2047 wants each word
decoded on its own, so the header was right, but a reader of notmuch saw half a subject
(tests/test_mime_parsers.py shows it with GMime itself). So a padded B word ends its run:
the last word of a header, or one followed by a Q word. The words still decode, each on its
own, to the text, never split a character, and stay within the length `headers` promises.
"""

from __future__ import annotations

import base64
import email.header
import itertools
import re

import pytest

from seriespub import headers

WORD = re.compile(r"=\?utf-8\?([bq])\?([^?]*)\?=")
TEXTS = [
    "Part 1: 🚀 Café Ölçü — naïve leadership across systems, 日本語のテキスト and emoji "
    "👩‍👩‍👧‍👦 at the end of a long subject",
    "חלק 1: מנהיגות בין מערכות — قيادة عبر الأنظمة، ما قالته الفرق 🚀 (a long right-to-left "
    "subject that folds)",
    "a" + "日本語" * 40,  # one byte, then three-byte characters only: no padding-free cut
    "aé" * 60,  # residues 1, 0, 1, 0… and "aa" + "é" shifts them
    "aa" + "é" * 80,
    "🚀" * 50,
    "Лидерство в системах: " * 6,
    "x",
    "ü",
]


def words(text: str) -> list[tuple[str, str]]:
    found = []
    for word in headers.encoded_words(text):
        match = WORD.fullmatch(word)
        assert match, word
        found.append((match[1], match[2]))
    return found


@pytest.mark.parametrize("text", TEXTS)
def test_a_padded_b_word_ends_its_run(text: str) -> None:
    found = words(text)
    for (kind, payload), (after, _) in itertools.pairwise(found):
        assert not (kind == "b" and payload.endswith("=") and after == "b"), found


@pytest.mark.parametrize("text", TEXTS)
def test_each_word_decodes_on_its_own_to_whole_characters(text: str) -> None:
    decoded = []
    for kind, payload in words(text):
        raw = (
            base64.b64decode(payload)
            if kind == "b"
            else email.header.decode_header(f"=?utf-8?q?{payload}?=")[0][0]
        )
        assert isinstance(raw, bytes)
        decoded.append(raw.decode("utf-8"))  # a split character would raise here
    assert "".join(decoded) == text


@pytest.mark.parametrize("text", TEXTS)
def test_words_stay_short(text: str) -> None:
    assert all(len(w) <= headers.ENCODED_WORD for w in headers.encoded_words(text))


@pytest.mark.parametrize("text", TEXTS)
def test_the_whole_run_decodes_as_one_stream(text: str) -> None:
    """What GMime does: each run of B words joined into one base64 stream, then decoded."""
    out, stream = b"", ""
    for kind, payload in [*words(text), ("q", "")]:
        if kind == "b":
            stream += payload
            continue
        if stream:
            out += base64.b64decode(stream)  # padding inside the stream would fail here
            stream = ""
        out += email.header.decode_header(f"=?utf-8?q?{payload}?=")[0][0] if payload else b""
    assert out.decode("utf-8") == text
