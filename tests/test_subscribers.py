"""subscribers.csv: validation, import, and atomic rewrites that never lose data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seriespub import subscribers
from seriespub.errors import InputError
from seriespub.importer import import_csv
from seriespub.models import SubscriberStatus

HEADER = "email,name,status,subscribed_at\n"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


def test_stream_skips_and_reports_invalid_rows(tmp_path: Path) -> None:
    path = write(tmp_path / "s.csv", HEADER + "a@example.com,A,active,\nnot-an-address,B,active,\n"
                 "c@example.com,C,bogus,\n")
    problems: list[subscribers.RowProblem] = []
    rows = list(subscribers.iter_subscribers(path, problems))
    assert [r.email for r in rows] == ["a@example.com"]
    assert [(p.line, p.message) for p in problems] == [
        (3, "invalid address 'not-an-address'"), (4, "unknown status 'bogus' for c@example.com")]


def test_a_file_without_an_email_column_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "s.csv", "address,name\na@example.com,A\n")
    with pytest.raises(InputError, match=r"s.csv:1: no 'email' column"):
        list(subscribers.iter_subscribers(path))


def test_import_maps_headers_bom_and_semicolons(tmp_path: Path) -> None:
    target = write(tmp_path / "subscribers.csv", HEADER + "old@example.com,Old,active,2026-01-01\n"
                   "gone@example.com,Gone,unsubscribed,2026-01-01\n")
    source = write(tmp_path / "export.csv",
                   "\ufeffEmail Address;First Name;Last Name;Company\n"
                   "New@Example.com;Nia;Long;ACME\n"
                   "GONE@example.com;Gone;Again;X\n"
                   "old@example.com;Old;One;Y\n"
                   "new@example.com;Nia;Dup;Z\n"
                   "broken;Bad;Row;Q\n")
    report = import_csv(target, source)
    assert (report.added, report.kept_unsubscribed, report.already_present,
            report.duplicates) == (1, 1, 1, 1)
    assert [(p.line, p.message) for p in report.skipped] == [(6, "invalid address 'broken'")]
    rows = {r.key: r for r in subscribers.iter_subscribers(target)}
    assert rows["new@example.com"].name == "Nia Long"
    assert rows["new@example.com"].fields["company"] == "ACME"
    assert rows["new@example.com"].fields["first_name"] == "Nia"
    assert rows["gone@example.com"].status is SubscriberStatus.UNSUBSCRIBED


def test_import_of_a_file_with_no_address_column_changes_nothing(tmp_path: Path) -> None:
    target = write(tmp_path / "subscribers.csv", HEADER + "a@example.com,A,active,\n")
    before = target.read_bytes()
    source = write(tmp_path / "bad.csv", "Name,Phone\nA,123\n")
    with pytest.raises(InputError, match="no address column"):
        import_csv(target, source)
    assert target.read_bytes() == before


def test_a_crash_during_rewrite_leaves_the_file_whole(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    target = write(tmp_path / "subscribers.csv", HEADER + "a@example.com,A,active,\n")
    before = target.read_bytes()

    def crash(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        subscribers.add(target, "b@example.com", "B")
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".seriespub", "subscribers.csv"]
    assert [p.name for p in (tmp_path / ".seriespub").iterdir()] == ["subscribers.lock"]


def test_rewrites_refuse_to_drop_rows_they_cannot_read(tmp_path: Path) -> None:
    target = write(tmp_path / "subscribers.csv", HEADER + "a@example.com,A,active,\nbad,B,,\n")
    before = target.read_bytes()
    with pytest.raises(InputError, match=r"subscribers.csv:3: invalid address"):
        subscribers.add(target, "c@example.com")
    assert target.read_bytes() == before


def test_update_statuses_is_case_insensitive_and_keeps_extra_columns(tmp_path: Path) -> None:
    target = write(tmp_path / "subscribers.csv",
                   "email,name,status,subscribed_at,city\nA@Example.com,A,active,,Leeds\n")
    assert subscribers.update_statuses(target, {"a@example.com": SubscriberStatus.BOUNCED}) == 1
    assert target.read_bytes() == (b"email,name,status,subscribed_at,city\n"
                                   b"A@Example.com,A,bounced,,Leeds\n")


def test_remove_marks_unsubscribed_and_forget_deletes(tmp_path: Path) -> None:
    target = write(tmp_path / "subscribers.csv", HEADER + "a@example.com,A,active,\n"
                   "b@example.com,B,active,\n")
    subscribers.remove(target, "A@example.com")
    subscribers.remove(target, "b@example.com", forget=True)
    rows = list(subscribers.iter_subscribers(target))
    assert [(r.email, r.status.value) for r in rows] == [("a@example.com", "unsubscribed")]


def test_import_keeps_quoted_line_breaks_in_extra_columns(tmp_path: Path) -> None:
    target = write(tmp_path / "subscribers.csv", HEADER)
    source = write(tmp_path / "export.csv",
                   'Email,Notes\na@example.com,"line one\nline two"\nb@example.com,x\n')
    report = import_csv(target, source)
    assert report.added == 2 and not report.skipped
    rows = {r.email: r.fields["notes"] for r in subscribers.iter_subscribers(target)}
    assert rows == {"a@example.com": "line one\nline two", "b@example.com": "x"}
