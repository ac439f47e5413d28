"""A real Dovecot IMAP server on 127.0.0.1 for the tests: its own config and maildir.

    with running_dovecot() as dovecot:
        dovecot.port          # IMAP: STARTTLS offered, plaintext login allowed (tests only)
        dovecot.tls_port      # implicit TLS (imaps)
        dovecot.ca.ca_cert    # the private CA that signed the server's certificate
        dovecot.append(raw, flags=r"(\\Seen)")   # put a message in INBOX

One user exists: `USER` / `PASSWORD` (a passwd-file), mail in Maildir under the instance's
folder, owned by `nobody`. Guarantees: the listeners bind 127.0.0.1 only; the instance lives
in a fresh folder (`tempfile.mkdtemp`: Dovecot's login processes drop root and cannot enter
pytest's 0700 base folder) with its own base_dir, state and log, and is stopped at exit
(`doveadm stop`, then SIGKILL of the master by its pid file), then the folder is removed.
"""

from __future__ import annotations

import imaplib
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from fakes.smtp import PrivateCa, free_port, make_private_ca

DOVECOT = "/usr/sbin/dovecot"
USER = "author@seriespub.test"
PASSWORD = "imap-pw-9f3"
NOBODY = 65534

CONFIG = """\
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/log/dovecot.log
info_log_path = {d}/log/dovecot.log
protocols = imap
listen = 127.0.0.1
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
first_valid_uid = 1
disable_plaintext_auth = no
auth_mechanisms = plain login
ssl = yes
ssl_cert = <{d}/etc/server.pem
ssl_key = <{d}/etc/server.key
mail_location = maildir:{d}/mail/%u
mail_uid = {nobody}
mail_gid = {nobody}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/etc/passwd
}}
userdb {{
  driver = static
  args = uid={nobody} gid={nobody} home={d}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


def unavailable() -> str | None:
    """Why Dovecot cannot run here, or None."""
    if not os.access(DOVECOT, os.X_OK):
        return f"{DOVECOT} is not installed (apt-get install dovecot-imapd)"
    if os.geteuid() != 0:
        return "Dovecot needs root to start its own instance"
    return None


@dataclass(frozen=True)
class Dovecot:
    folder: Path
    port: int
    tls_port: int
    ca: PrivateCa

    def connect(self) -> imaplib.IMAP4:
        conn = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        conn.login(USER, PASSWORD)
        return conn

    def append(self, raw: bytes, folder: str = "INBOX", flags: str = "") -> None:
        conn = self.connect()
        try:
            typ, data = conn.append(folder, flags or None, None, raw)
            assert typ == "OK", data
        finally:
            conn.logout()

    def folder_flags(self, folder: str = "INBOX") -> list[tuple[bytes, bytes]]:
        """(Message-ID header, FLAGS) of each message in `folder`, read without \\Seen."""
        conn = self.connect()
        try:
            typ, count = conn.select(f'"{folder}"', readonly=True)
            if typ != "OK" or count[0] == b"0":
                return []
            typ, data = conn.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            found = []
            for item in data:
                if isinstance(item, tuple):
                    flags = item[0].split(b"FLAGS (")[1].split(b")")[0]
                    found.append((item[1].strip(), flags))
            return found
        finally:
            conn.logout()

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca.ca_cert))


@contextmanager
def running_dovecot() -> Iterator[Dovecot]:
    """Configure and start Dovecot; stop it and remove its folder on exit."""
    folder = Path(tempfile.mkdtemp(prefix="seriespub-dovecot-"))
    folder.chmod(0o755)
    try:
        dovecot = _configure(folder)
        config = str(folder / "etc" / "dovecot.conf")
        # The daemon keeps inherited pipes open: its output goes to a file instead.
        with open(folder / "log" / "start.log", "wb") as output:
            code = subprocess.run(
                [DOVECOT, "-c", config],
                stdout=output,
                stderr=output,
                stdin=subprocess.DEVNULL,
                timeout=30,
            ).returncode
        if code != 0:
            raise RuntimeError(
                f"dovecot failed to start: {_log(folder, 'start.log')}{_log(folder)}"
            )
        try:
            _wait_listening(dovecot)
            yield dovecot
        finally:
            _stop(folder, config)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _configure(folder: Path) -> Dovecot:
    for name in ("etc", "run", "state", "log", "mail"):
        (folder / name).mkdir(mode=0o755)
    os.chown(folder / "mail", NOBODY, NOBODY)
    dovecot = Dovecot(folder, free_port(), free_port(), make_private_ca(folder / "ca"))
    etc = folder / "etc"
    shutil.copy(dovecot.ca.server_cert, etc / "server.pem")
    shutil.copy(dovecot.ca.server_key, etc / "server.key")
    (etc / "server.key").chmod(0o600)
    (etc / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    (etc / "dovecot.conf").write_text(
        CONFIG.format(d=folder, nobody=NOBODY, port=dovecot.port, tls_port=dovecot.tls_port)
    )
    return dovecot


def _wait_listening(dovecot: Dovecot, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            dovecot.connect().logout()
            return
        except (OSError, imaplib.IMAP4.error):
            if time.monotonic() > deadline:
                raise RuntimeError(f"dovecot did not answer: {_log(dovecot.folder)}") from None
            time.sleep(0.05)


def _stop(folder: Path, config: str) -> None:
    pid_file = folder / "run" / "master.pid"
    pid = int(pid_file.read_text().strip()) if pid_file.exists() else None
    subprocess.run(
        ["/usr/bin/doveadm", "-c", config, "stop"], capture_output=True, timeout=30, check=False
    )
    deadline = time.monotonic() + 10
    while pid is not None and _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid is not None and _alive(pid):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return (
        Path(f"/proc/{pid}").exists()
        and b"zombie" not in Path(f"/proc/{pid}/status").read_bytes().lower()
    )


def _log(folder: Path, name: str = "dovecot.log") -> str:
    path = folder / "log" / name
    return path.read_text(errors="replace") if path.exists() else ""
