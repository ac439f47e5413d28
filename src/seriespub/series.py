"""A series folder: where its files live, found by walking up from the current directory."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from seriespub.config import (
    CONFIG_NAME,
    Secrets,
    Settings,
    load_settings,
    parse_settings,
    secrets_for,
)
from seriespub.errors import ConfigError, InputError, SeriesNotFound
from seriespub.newfiles import create_new
from seriespub.previouskeys import MIN_SECRET_BYTES, PREVIOUS_ENV, previous_secrets
from seriespub.providers import SPECS
from seriespub.statefiles import fsync_folder, os_hint, os_words, private_dir
from seriespub.textfiles import is_utf8, toml_string, yaml_string

STATE_DIR = ".seriespub"


@dataclass
class Series:
    root: Path
    settings: Settings

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def drafts_dir(self) -> Path:
        return self.root / "drafts"

    @property
    def subscribers_path(self) -> Path:
        return self.root / "subscribers.csv"

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def ledger_path(self) -> Path:
        return self.state_dir / "ledger.db"

    @property
    def outbox_dir(self) -> Path:
        return self.state_dir / "outbox"

    @property
    def template_path(self) -> Path | None:
        # Anything by that name is the author's template: a dangling symlink or a folder is
        # reported when rendering, never passed over for the default design.
        path = self.root / "templates" / "email.mjml"
        return path if os.path.lexists(path) else None

    @cached_property
    def secrets(self) -> Secrets:
        return secrets_for(self.root)

    def unsubscribe_secret(self, *, create: bool = True) -> bytes:
        """SERIESPUB_SECRET, else a key generated once into .seriespub/secret (mode 0600).

        A key under MIN_SECRET_BYTES is refused: tokens made with it could be forged.
        `create=False` is for what only looks (a dry run, `preview`, `check`): with no key
        yet it writes nothing and returns a throwaway key, random and held by this object
        only, so links made with it match no key a real send will ever use.
        """
        given = self.secrets.get("SERIESPUB_SECRET")
        if given is not None:
            return _strong(given.reveal().encode(), "SERIESPUB_SECRET")
        path = self.key_path
        if not create and not path.exists():
            return self._throwaway_key
        doing = "write"
        try:
            if not path.exists():
                _create_key(path)
            doing = "read"
            key = path.read_bytes().strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot {doing} the unsubscribe key: {exc.strerror}",
                where=str(path),
                hint="free some space (or fix the folder's permissions) and "
                "run again, or set SERIESPUB_SECRET; " + _NEW_KEY,
            ) from None
        return _strong(key, str(path))

    def previous_unsubscribe_secrets(self) -> list[bytes]:
        """Keys replaced on purpose whose tokens still verify (`seriespub.previouskeys`):
        SERIESPUB_SECRET_PREVIOUS, then .seriespub/secret.previous. Never make a token."""
        given = self.secrets.get(PREVIOUS_ENV)
        return previous_secrets(self.state_dir, given.reveal() if given else None)

    @property
    def key_path(self) -> Path:
        """Where the generated unsubscribe key lives (when SERIESPUB_SECRET is not set)."""
        return self.state_dir / "secret"

    def has_unsubscribe_key(self) -> bool:
        """SERIESPUB_SECRET is set or the key file exists: links made now are the real ones."""
        return self.secrets.get("SERIESPUB_SECRET") is not None or self.key_path.exists()

    def throwaway_key_note(self, whose: str) -> str | None:
        """With no key yet, what to tell the author about `whose` links ("the preview's"),
        made with the throwaway key; None when there is a key."""
        if self.has_unsubscribe_key():
            return None
        return (
            f"no unsubscribe key yet ({STATE_DIR}/secret): {whose} unsubscribe links use a "
            "throwaway key; the first real send creates it"
        )

    @cached_property
    def _throwaway_key(self) -> bytes:
        return os.urandom(32).hex().encode()


_NEW_KEY = 'generate a key with: python -c "import secrets; print(secrets.token_hex(32))"'


def _strong(key: bytes, where: str) -> bytes:
    if len(key) < MIN_SECRET_BYTES:
        fix = (
            "set it to a longer key"
            if where == "SERIESPUB_SECRET"
            else "delete the file to have a new key generated (unsubscribe links already sent "
            "stop working), or put a key in it or in SERIESPUB_SECRET"
        )
        raise ConfigError(
            f"the unsubscribe key has {len(key)} bytes; it must have at "
            f"least {MIN_SECRET_BYTES} bytes",
            where=where,
            hint=f"{fix}; {_NEW_KEY}",
        )
    return key


def _create_key(path: Path) -> None:
    """Write a new random key to `path` whole or not at all.

    The key goes to a temp file in the same folder, is fsynced, then hard-linked into place:
    a link never replaces, so when two first runs race, both use the key that won.
    """
    import tempfile  # here: only the first send writes a key; reading commands never need it

    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=".secret-", dir=path.parent)  # mode 0600
    try:
        try:
            _write_all(fd, os.urandom(32).hex().encode())  # as secrets.token_hex(32)
            os.fsync(fd)
        finally:
            os.close(fd)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
        fsync_folder(path.parent)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def find_series(start: Path | None = None, explicit: Path | None = None) -> Series:
    """The series at `explicit`, or the nearest folder above `start` with seriespub.toml."""
    if explicit is not None:
        root = explicit.resolve()
        if root.name == CONFIG_NAME and root.is_file():
            root = root.parent  # the config file itself: its folder is the series
        elif root.exists() and not root.is_dir():
            raise SeriesNotFound(f"{explicit}: a file; --series takes the series folder")
        elif not root.exists():
            raise SeriesNotFound(
                f"{explicit}: no such folder",
                hint=f"create a series there with: seriespub init {explicit}",
            )
        if not os.path.lexists(root / CONFIG_NAME):
            raise SeriesNotFound(
                f"{root}: no {CONFIG_NAME} here", hint=f"create one with: seriespub init {explicit}"
            )
        return Series(root, load_settings(root / CONFIG_NAME))
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        # Any entry by that name ends the walk: one that cannot be read (a folder, a broken
        # link) is reported, never passed over for an enclosing series.
        if os.path.lexists(folder / CONFIG_NAME):
            return Series(folder, load_settings(folder / CONFIG_NAME))
    raise SeriesNotFound(
        f"no {CONFIG_NAME} in {here} or any folder above it",
        hint="run it inside a series folder, pass --series DIR, "
        "or create one with: seriespub init DIR",
    )


CONFIG_TEMPLATE = """[series]
title = {title}
from = {sender}
# reply_to = "you@example.com"
# unsubscribe_url = "https://example.com/unsubscribe?token={{token}}"

[delivery]
provider = "outbox"   # {providers}

# [schedule]
# first_release = 2027-01-05T09:00:00
# timezone = "Europe/London"
# every_weeks = 1
"""

FIRST_DRAFT = """---
title: {title}
status: draft
preheader: "What this series is about"
---

Hello {{{{ name | default("there") }}}},

In the coming weeks I will be writing about…
"""


IGNORED = (f"{STATE_DIR}/", ".env")


def init_series(folder: Path, title: str, sender: str) -> list[Path]:
    """Create a new series folder; refuses to overwrite anything that exists.

    An existing `.gitignore` (`init .` in a repository) is kept and gets only the lines it
    lacks; the paths returned are those created or changed. All or nothing: when a write
    fails part-way (a full disk) or Ctrl-C stops it, every file and folder this call made is
    removed again and `.gitignore` cut back to what it was, so the next `init` starts afresh.
    Each file is written whole (`seriespub.newfiles`): even SIGKILL leaves none half written.
    """
    if folder.exists() and not folder.is_dir():
        raise InputError("is a file, not a folder; give a folder for the new series", path=folder)
    for value, what in ((title, "title"), (sender, "from address")):
        if not is_utf8(value):
            raise InputError(f"the {what} {value!r} is not UTF-8 text")
    config = CONFIG_TEMPLATE.format(
        title=toml_string(title), sender=toml_string(sender), providers=" | ".join(SPECS)
    )
    parse_settings(config, folder / CONFIG_NAME)  # what every later command will load
    files = {
        folder / CONFIG_NAME: config,
        folder / "subscribers.csv": "email,name,status,subscribed_at\n",
        folder / "drafts" / "01-welcome.md": FIRST_DRAFT.format(
            title=yaml_string(f"Welcome to {title}")
        ),
    }
    existing = [p for p in files if os.path.lexists(p)]
    if existing:
        raise InputError("already exists; nothing was changed", path=existing[0])
    ignore = folder / ".gitignore"
    ignore_size = ignore.stat().st_size if ignore.is_file() else None
    made: list[Path] = []  # in the order made, to be removed newest first on failure
    writing = folder
    try:
        _make_folders(folder / "drafts", made)
        for writing, text in files.items():
            _write_new(writing, text, made)
        writing = ignore
        if ignore_size is None:
            made.append(ignore)
        changed = _ignore_state(ignore)
    except BaseException as exc:  # Ctrl-C, or SIGTERM made an exception by the CLI, too
        _undo(made, ignore, ignore_size)
        if not isinstance(exc, OSError):
            raise
        where = exc.filename or writing
        raise InputError(
            f"cannot create the series: {os_words(exc)}; nothing was left behind",
            path=where,
            hint=os_hint(exc, where),
        ) from None
    return [*files, *changed]


def _make_folders(path: Path, made: list[Path]) -> None:
    """`mkdir -p path`, noting each folder made."""
    for missing in reversed([p for p in (path, *path.parents) if not os.path.lexists(p)]):
        missing.mkdir()
        made.append(missing)


def _write_new(path: Path, text: str, made: list[Path]) -> None:
    """Write a file that must not exist yet, whole, noted as made once it is there."""
    create_new(path, text)
    made.append(path)


def _undo(made: list[Path], ignore: Path, ignore_size: int | None) -> None:
    """Remove what a failed init made, newest first, and cut `.gitignore` back to its size:
    never anything that was there before (a folder someone filled meanwhile stays)."""
    if ignore_size is not None:
        with contextlib.suppress(OSError):
            os.truncate(ignore, ignore_size)
    for path in reversed(made):
        with contextlib.suppress(OSError):
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink(missing_ok=True)


def _ignore_state(path: Path) -> list[Path]:
    """Make `.gitignore` list the state folder and `.env`; [path] if it was changed."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    present = {line.strip().lstrip("/") for line in text.splitlines()}
    missing = [line for line in IGNORED if line not in present and line.rstrip("/") not in present]
    if not missing:
        return []
    prefix = "\n" if text and not text.endswith("\n") else ""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(prefix + "".join(f"{line}\n" for line in missing))
    return [path]
