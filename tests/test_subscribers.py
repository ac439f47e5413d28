"""subscribers.csv: validation, import, and atomic rewrites that never lose data."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from seriespub import listlock, listsnapshot, subscribers
from seriespub.errors import InputError
from seriespub.importer import Dating, import_csv
from seriespub.models import SubscriberStatus
from seriespub.statefiles import StateError

HEADER = "email,name,status,subscribed_at\n"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


def test_stream_skips_and_reports_invalid_rows(tmp_path: Path) -> None:
    path = write(
        tmp_path / "s.csv",
        HEADER + "a@example.com,A,active,\nnot-an-address,B,active,\nc@example.com,C,bogus,\n",
    )
    problems: list[subscribers.RowProblem] = []
    rows = list(subscribers.iter_subscribers(path, problems))
    assert [r.email for r in rows] == ["a@example.com"]
    assert [(p.line, p.message) for p in problems] == [
        (3, "invalid address 'not-an-address': no local part and '@'"),
        (4, "unknown status 'bogus' for c@example.com"),
    ]


def test_an_unchecked_read_of_a_sound_file_gives_what_a_checked_one_does(
    tmp_path: Path,
) -> None:
    # A send's second pass over its own snapshot skips the checks its plan made: the same
    # readers, fields and statuses, quoted line breaks, semicolons and a BOM included.
    path = write(
        tmp_path / "s.csv",
        "\ufeffemail;name;status;subscribed_at;city\n"
        "a@example.com;A;active;2026-01-01;Oslo\n"
        ' B@Example.com ;" Bee ";Active;;"Two\nLines"\n'
        "c@example.com;C;unsubscribed;;\n"
        "d@example.com;;;;\n",
    )
    checked = list(subscribers.active(path))
    assert [s.email for s in checked] == ["a@example.com", "B@Example.com", "d@example.com"]
    assert list(subscribers.active(path, checked=False)) == checked


def test_an_unchecked_read_still_refuses_a_status_it_does_not_know(tmp_path: Path) -> None:
    # Not a file a checked pass passed after all: that row is checked, and reported.
    path = write(tmp_path / "s.csv", HEADER + "a@example.com,A,bogus,\nb@example.com,B,,\n")
    problems: list[subscribers.RowProblem] = []
    readers = list(subscribers.active(path, problems, checked=False))
    assert [r.email for r in readers] == ["b@example.com"]
    assert [(p.line, p.message) for p in problems] == [
        (2, "unknown status 'bogus' for a@example.com")
    ]


def test_a_file_without_an_email_column_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "s.csv", "address,name\na@example.com,A\n")
    with pytest.raises(InputError, match=r"s.csv:1: no 'email' column"):
        list(subscribers.iter_subscribers(path))


def test_import_maps_headers_bom_and_semicolons(tmp_path: Path) -> None:
    target = write(
        tmp_path / "subscribers.csv",
        HEADER + "old@example.com,Old,active,2026-01-01\n"
        "gone@example.com,Gone,unsubscribed,2026-01-01\n",
    )
    source = write(
        tmp_path / "export.csv",
        "\ufeffEmail Address;First Name;Last Name;Company\n"
        "New@Example.com;Nia;Long;ACME\n"
        "GONE@example.com;Gone;Again;X\n"
        "old@example.com;Old;One;Y\n"
        "new@example.com;Nia;Dup;Z\n"
        "broken;Bad;Row;Q\n",
    )
    report = import_csv(target, source)
    assert (report.added, report.kept_unsubscribed, report.already_present, report.duplicates) == (
        1,
        1,
        1,
        1,
    )
    assert [(p.line, p.message) for p in report.skipped] == [
        (6, "invalid address 'broken': no local part and '@'")
    ]
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


def test_a_crash_during_rewrite_leaves_the_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = write(tmp_path / "subscribers.csv", HEADER + "a@example.com,A,active,\n")
    before = target.read_bytes()

    def crash(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(StateError, match=r"subscribers\.csv: cannot write: disk full"):
        subscribers.remove(target, "a@example.com")
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
    target = write(
        tmp_path / "subscribers.csv",
        "email,name,status,subscribed_at,city\nA@Example.com,A,active,,Leeds\n",
    )
    assert subscribers.update_statuses(target, {"a@example.com": SubscriberStatus.BOUNCED}) == 1
    assert target.read_bytes() == (
        b"email,name,status,subscribed_at,city\nA@Example.com,A,bounced,,Leeds\n"
    )


def test_remove_marks_unsubscribed_and_forget_deletes(tmp_path: Path) -> None:
    target = write(
        tmp_path / "subscribers.csv", HEADER + "a@example.com,A,active,\nb@example.com,B,active,\n"
    )
    subscribers.remove(target, "A@example.com")
    subscribers.remove(target, "b@example.com", forget=True)
    rows = list(subscribers.iter_subscribers(target))
    assert [(r.email, r.status.value) for r in rows] == [("a@example.com", "unsubscribed")]


def test_import_keeps_quoted_line_breaks_in_extra_columns(tmp_path: Path) -> None:
    target = write(tmp_path / "subscribers.csv", HEADER)
    source = write(
        tmp_path / "export.csv",
        'Email,Notes\na@example.com,"line one\nline two"\nb@example.com,x\n',
    )
    report = import_csv(target, source)
    assert report.added == 2 and not report.skipped
    rows = {r.email: r.fields["notes"] for r in subscribers.iter_subscribers(target)}
    assert rows == {"a@example.com": "line one\nline two", "b@example.com": "x"}


# -- the lock, the snapshot, and what a file may hold ----------------------------------------

HOLDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from seriespub.subscribers import locked

    with locked(Path(sys.argv[1])):
        print("locked", flush=True)
        sys.stdin.readline()          # hold until the test says so
""")


def test_a_busy_list_waits_then_names_who_holds_it(tmp_path: Path) -> None:
    target = write(tmp_path / "subscribers.csv", HEADER + "a@example.com,A,active,\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(target)],
        text=True,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        started = time.monotonic()
        with (
            pytest.raises(InputError, match=rf"pid {holder.pid}.*nothing was changed"),
            listlock.locked(target, timeout=0.3),
        ):
            pass
        assert 0.3 <= time.monotonic() - started < 3
        assert holder.stdin is not None
        holder.stdin.close()  # the holder lets go: we get it
        with listlock.locked(target, timeout=10):
            subscribers.add(target, "b@example.com")  # re-entrant within a process
    finally:
        holder.kill()
        holder.__exit__(None, None, None)  # waits and closes its pipes
    assert [s.email for s in subscribers.iter_subscribers(target)] == [
        "a@example.com",
        "b@example.com",
    ]


def test_status_write_back_keeps_rows_it_cannot_read(tmp_path: Path) -> None:
    text = (
        HEADER
        + "a@example.com,A,active,\n"
        + 'nl@example.com,"New\nLine",active,\n'
        + "cat@example,C,actve,\n"
    )
    target = write(tmp_path / "subscribers.csv", text)
    assert subscribers.update_statuses(target, {"A@example.com": SubscriberStatus.BOUNCED}) == 1
    assert target.read_text() == text.replace("a@example.com,A,active", "a@example.com,A,bounced")


def test_duplicate_columns_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "s.csv", "email,name,status,Email\na@example.com,A,active,b@x.org\n")
    with pytest.raises(InputError, match=r"s.csv:1: column 'email' appears more than once"):
        list(subscribers.iter_subscribers(path))
    target = write(tmp_path / "subscribers.csv", HEADER)
    source = write(tmp_path / "export.csv", "Email,Name,Full Name\na@example.com,A,Ann A\n")
    with pytest.raises(InputError, match="columns 'Name' and 'Full Name' both mean 'name'"):
        import_csv(target, source)
    assert target.read_text() == HEADER


def test_a_line_without_end_is_refused_not_read_whole(tmp_path: Path) -> None:
    path = write(tmp_path / "s.csv", HEADER + "a@example.com,A,active,\n" + "b" * 200_000)
    with pytest.raises(InputError, match=r"s.csv:3: a line longer than 65,536 characters"):
        list(subscribers.iter_subscribers(path))
    header_only = write(tmp_path / "h.csv", "email," * 100_000)
    with pytest.raises(InputError, match=r"h.csv:1: a line longer"):
        import_csv(write(tmp_path / "subscribers.csv", HEADER), header_only)


def test_snapshot_is_a_private_copy(tmp_path: Path) -> None:
    target = write(tmp_path / "subscribers.csv", HEADER + "a@example.com,A,active,\n")
    os.utime(target, (time.time() - 5, time.time() - 5))
    copy = listsnapshot.snapshot(target)
    assert copy == tmp_path / ".seriespub" / "snapshot.csv"
    assert copy.read_bytes() == target.read_bytes()
    assert oct(copy.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in copy.parent.iterdir() if p.name.startswith(".snapshot")] == []


def test_snapshot_of_an_emptied_file_retries_then_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listsnapshot, "SNAPSHOT_ATTEMPTS", 3)
    target = write(tmp_path / "subscribers.csv", "")
    with pytest.raises(InputError, match=r"subscribers.csv: the file is empty \(tried 3 times\)"):
        listsnapshot.snapshot(target)


def test_snapshot_waits_for_an_editor_to_finish_saving(tmp_path: Path) -> None:
    """Truncate, then write in pieces for a while: the copy is taken only once it is whole."""
    target = write(tmp_path / "subscribers.csv", "")
    whole = (HEADER + "".join(f"r{i}@example.com,R,active,\n" for i in range(200))).encode()

    def save_slowly() -> None:
        with open(target, "r+b") as handle:
            for start in range(0, len(whole), 500):
                handle.write(whole[start : start + 500])
                handle.flush()
                time.sleep(0.05)

    editor = threading.Thread(target=save_slowly)
    editor.start()
    try:
        copy = listsnapshot.snapshot(target)
    finally:
        editor.join()
    assert copy.read_bytes() == whole


@pytest.mark.parametrize("name", ["Ann\x00Lee", "Ann\x1bLee", "Ann\u2028Lee", "Ann\nLee"])
def test_control_characters_in_a_name_are_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / "subscribers.csv"
    path.write_text(
        f'email,name,status\nok@example.com,Ok,active\nbad@example.com,"{name}",active\n',
        encoding="utf-8",
    )
    problems: list[subscribers.RowProblem] = []
    rows = list(subscribers.iter_subscribers(path, problems))
    assert [r.email for r in rows] == ["ok@example.com"]
    assert "bad@example.com" in problems[0].message
    with pytest.raises(InputError, match="name"):
        subscribers.add(path, "new@example.com", name)


# -- add appends, remove rewrites only when it must (issue 13) -------------------------------


def test_add_appends_one_line_without_rewriting_the_file(tmp_path: Path) -> None:
    target = write(
        tmp_path / "subscribers.csv",
        "email;city;name;status;subscribed_at\r\na@example.com;Leeds;A;active;\r\n",
    )
    inode, before = target.stat().st_ino, target.read_bytes()
    subscribers.add(target, "b@example.com", "B; Jr", dt.date(2026, 1, 2))
    assert target.stat().st_ino == inode  # same file: appended, not replaced
    assert target.read_bytes() == before + b'b@example.com;;"B; Jr";active;2026-01-02\r\n'
    with pytest.raises(InputError, match="already in the list"):
        subscribers.add(target, "B@Example.com")


def test_add_to_a_file_without_a_final_line_break_rewrites_it_whole(tmp_path: Path) -> None:
    target = write(tmp_path / "subscribers.csv", "email,name\na@example.com,A")
    subscribers.add(target, "b@example.com", "B", dt.date(2026, 1, 2))
    assert target.read_text() == (  # the missing columns are added, empty for a
        HEADER + "a@example.com,A,,\nb@example.com,B,active,2026-01-02\n"
    )


def test_a_short_append_is_cut_back_and_nothing_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = write(tmp_path / "subscribers.csv", HEADER + "a@example.com,A,active,\n")
    before = target.read_bytes()
    real_write = os.write

    def half(fd: int, data: bytes) -> int:  # a disk that fills mid-line
        return real_write(fd, bytes(data)[: len(data) // 2])

    monkeypatch.setattr(os, "write", half)
    with pytest.raises(StateError, match=r"subscribers\.csv: cannot write: the disk is full"):
        subscribers.add(target, "b@example.com", "B")
    assert target.read_bytes() == before


def test_an_editor_save_between_scan_and_append_is_seen_and_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = write(tmp_path / "subscribers.csv", HEADER + "a@example.com,A,active,\n")
    real_scan = subscribers.scan_file
    saves: list[int] = []

    def scan_then_editor_saves(path: Path, keys: set[str]) -> subscribers.Scan:
        scan = real_scan(path, keys)
        if not saves:  # an editor replaces the file once
            saves.append(1)
            fresh = tmp_path / "editor.csv"
            fresh.write_text(HEADER + "a@example.com,A,active,\nc@example.com,C,active,\n")
            os.replace(fresh, path)
        return scan

    monkeypatch.setattr(subscribers, "scan_file", scan_then_editor_saves)
    subscribers.add(target, "b@example.com", "B", dt.date(2026, 1, 2))
    assert [s.email for s in subscribers.iter_subscribers(target)] == [
        "a@example.com",
        "c@example.com",
        "b@example.com",
    ]


def test_remove_of_an_absent_or_already_unsubscribed_address_rewrites_nothing(
    tmp_path: Path,
) -> None:
    target = write(tmp_path / "subscribers.csv", HEADER + "a@example.com,A,unsubscribed,\n")
    inode = target.stat().st_ino
    with pytest.raises(InputError, match="not in the list"):
        subscribers.remove(target, "z@example.com")
    subscribers.remove(target, "A@example.com")
    assert target.stat().st_ino == inode
    subscribers.remove(target, "a@example.com", forget=True)
    assert target.stat().st_ino != inode and target.read_text() == HEADER


def test_import_appends_new_readers_and_rewrites_only_for_new_columns(tmp_path: Path) -> None:
    target = write(tmp_path / "subscribers.csv", HEADER + "a@example.com,A,unsubscribed,\n")
    inode = target.stat().st_ino
    source = write(tmp_path / "export.csv", "Email\nA@example.com\nb@example.com\nB@example.com\n")
    report = import_csv(target, source, Dating(dt.date(2026, 1, 2)))
    assert (report.added, report.kept_unsubscribed, report.duplicates) == (1, 1, 1)
    assert target.stat().st_ino == inode
    assert target.read_text().endswith("b@example.com,,active,2026-01-02\n")
    source = write(tmp_path / "export.csv", "Email,City\nc@example.com,Leeds\n")
    assert import_csv(target, source, Dating(dt.date(2026, 1, 2))).added == 1
    rows = {s.email: (s.status.value, s.fields) for s in subscribers.iter_subscribers(target)}
    assert rows == {
        "a@example.com": ("unsubscribed", {"city": ""}),
        "b@example.com": ("active", {"city": ""}),
        "c@example.com": ("active", {"city": "Leeds"}),
    }


def test_duplicate_addresses_are_found_exactly_with_a_bitmap_that_collides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [f"r{i}@example.com,R,active,\n" for i in range(300)]
    rows += [
        "R7@Example.com,Again,active,\n",
        "r9@example.com,Again,bounced,\n",
        "r9@EXAMPLE.com,Third,active,\n",
    ]
    target = write(tmp_path / "subscribers.csv", HEADER + "".join(rows))
    monkeypatch.setattr(subscribers, "DUPLICATE_BITS", 64)  # most rows collide
    assert subscribers.duplicate_addresses(target) == {"r7@example.com": 2, "r9@example.com": 3}
    monkeypatch.setattr(subscribers, "DUPLICATE_BITS", 1 << 26)
    assert subscribers.duplicate_addresses(target) == {"r7@example.com": 2, "r9@example.com": 3}


def test_a_repeat_counts_as_the_checks_read_it_whatever_the_bitmap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A repeat on a row the checks refuse is no repeat; one in another case or with spaces
    # around it is. The second pass reads the address raw and checks only candidates' rows.
    rows = [f"r{i}@example.com,R,active,\n" for i in range(300)]
    rows += [
        "r5@example.com,Bad\x01Name,active,\n",  # a control character in the name
        "r6@example.com,R,nonsense,\n",  # an unknown status
        "r6@example.com@,R,active,\n",  # not an address
        " R8@example.COM ,Again,unsubscribed,\n",
        "\n",
        "r8@example.com\n",  # no other cell: active
    ]
    target = write(tmp_path / "subscribers.csv", HEADER + "".join(rows))
    for bits in (64, 1 << 26):  # most rows collide; almost none do
        monkeypatch.setattr(subscribers, "DUPLICATE_BITS", bits)
        assert subscribers.duplicate_addresses(target) == {"r8@example.com": 3}


def test_where_key_reads_the_rows_iter_subscribers_reads_for_those_keys(tmp_path: Path) -> None:
    text = (
        "Name,EMAIL,Status,City\n"
        "Ann,ann@example.com,active,Leeds\n"
        "Bad\x01,bo@example.com,active,York\n"  # refused by the checks: not read
        'Bo,"  BO@Example.com ",unsubscribed,"Hull, East"\n'
        "\n"
        "Cy,cy@example.com,nonsense,\n"  # an unknown status: refused
        "Cy,cy@example.com\n"  # short row: active, no city
        "Di,di@example.com,active,Ely\n"
        "Ann again,ANN@example.com,bounced,\n"
    )
    target = write(tmp_path / "subscribers.csv", text)
    wanted = {"ann@example.com", "bo@example.com", "cy@example.com", "nobody@example.com"}
    expected = [s for s in subscribers.iter_subscribers(target) if s.key in wanted]
    assert [s.email for s in expected] == [
        "ann@example.com",
        "BO@Example.com",
        "cy@example.com",
        "ANN@example.com",
    ]
    assert list(subscribers.where_key(target, wanted.__contains__)) == expected
    assert list(subscribers.where_key(target, lambda key: False)) == []


def test_the_snapshot_reports_the_signature_it_copied(tmp_path: Path) -> None:
    target = write(tmp_path / "subscribers.csv", HEADER + "a@example.com,A,active,\n")
    os.utime(target, (time.time() - 5, time.time() - 5))  # not "being written"
    copy, copied = listsnapshot.snapshot_of(target)
    assert copy.read_bytes() == target.read_bytes()
    assert copied == subscribers.signature(target)
    subscribers.add(target, "b@example.com")
    assert subscribers.signature(target) != copied
