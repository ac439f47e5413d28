"""A real Postfix on 127.0.0.1 for the tests: its own config, queue and mailboxes.

    with running_postfix() as postfix:
        postfix.port          # SMTP: STARTTLS offered, AUTH only after STARTTLS
        postfix.tls_port      # implicit TLS (smtps, wrapper mode), AUTH offered
        postfix.ca.ca_cert    # the private CA that signed the server's certificate
        postfix.wait_for("ann", 1)   # ann@seriespub.test's mbox, once it holds one message

Each of `mailboxes` (local parts) @seriespub.test is a mailbox, delivered by Postfix's own
virtual(8) agent to an mbox file; any other address is refused (550 5.1.1). One SASL login
exists: `USER` / `PASSWORD` (Cyrus SASL, sasldb2). No network is trusted (`mynetworks` is
empty): mail for anyone else is refused with "Relay access denied" unless logged in, as a
submission server does.

Guarantees:
- nothing leaves 127.0.0.1: the listeners bind 127.0.0.1 only; relayhost, mydestination and
  relay_domains are empty; no smtp/lmtp client service is defined in master.cf and the
  default and relay transports are `error`, so nothing can be relayed or bounced outward;
- the instance lives in a fresh folder (config, queue, data, logs, mailboxes) that is not
  /etc/postfix or /var/spool/postfix, and is stopped at exit: `postfix stop`, then SIGKILL
  for any process still running with its config (found by MAIL_CONFIG, by pid), then the
  folder is removed.

The folder is made with `tempfile.mkdtemp`, not under pytest's `tmp_path`: Postfix's daemons
drop root for the `postfix` and `nobody` users, who cannot enter pytest's 0700 base folder.
"""

from __future__ import annotations

import mailbox
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from fakes.smtp import PrivateCa, free_port, make_private_ca

DOMAIN = "seriespub.test"
USER = "mailer"
PASSWORD = "s3cret-pw"
POSTFIX = "/usr/sbin/postfix"
SASLPASSWD = "/usr/sbin/saslpasswd2"
NOBODY = 65534
MAILBOXES = ("ann", "bob", "cy", "dee", "eve", "fay", "gus", "hal", "ivy", "jo")


def unavailable() -> str | None:
    """Why Postfix cannot run here, or None."""
    for tool in (POSTFIX, SASLPASSWD):
        if not os.access(tool, os.X_OK):
            return f"{tool} is not installed (apt-get install postfix sasl2-bin)"
    if os.geteuid() != 0:
        return "Postfix needs root to start its own instance"
    return None


@dataclass(frozen=True)
class Postfix:
    folder: Path
    port: int
    tls_port: int
    ca: PrivateCa

    @property
    def config(self) -> Path:
        return self.folder / "etc"

    def mbox_path(self, local_part: str) -> Path:
        return self.folder / "mail" / local_part

    def messages(self, local_part: str) -> list[mailbox.mboxMessage]:
        path = self.mbox_path(local_part)
        if not path.exists():
            return []
        box = mailbox.mbox(str(path), create=False)
        try:
            return list(box)
        finally:
            box.close()

    def wait_for(
        self,
        local_part: str,
        count: int,
        timeout: float = 20.0,
    ) -> list[mailbox.mboxMessage]:
        """The mailbox's messages once it holds `count` (delivery is asynchronous)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.messages(local_part)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def log(self, holding: str = "", timeout: float = 10.0) -> str:
        """The mail log; with `holding`, once it holds that text (or at `timeout`): Postfix
        logs through postlogd, so a line can land after the client already has its reply."""
        path = self.folder / "log" / "maillog"
        deadline = time.monotonic() + timeout
        while True:
            text = path.read_text(errors="replace") if path.exists() else ""
            if holding in text or time.monotonic() > deadline:
                return text
            time.sleep(0.05)


MAIN_CF = """\
compatibility_level = 3.6
config_directory = {d}/etc
queue_directory = {d}/spool
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = {d}/log/maillog
maillog_file_prefixes = {d}
myhostname = mail.{domain}
mydomain = {domain}
myorigin = {domain}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks =
mydestination =
relay_domains =
relayhost =
default_transport = error:this test server delivers nowhere else
relay_transport = error:this test server relays nowhere
local_transport = error:no local delivery
alias_maps =
alias_database =
smtputf8_enable = no
biff = no
virtual_mailbox_domains = {domain}
virtual_mailbox_base = {d}/mail
virtual_mailbox_maps = texthash:{d}/etc/mailboxes
virtual_uid_maps = static:{nobody}
virtual_gid_maps = static:{nobody}
virtual_minimum_uid = 100
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
smtpd_tls_cert_file = {d}/etc/server.pem
smtpd_tls_key_file = {d}/etc/server.key
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = {d}/etc/sasl
smtpd_sasl_local_domain = {domain}
smtpd_sasl_authenticated_header = yes
"""

MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
127.0.0.1:{tls_port} inet n - n - - smtpd
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
virtual   unix  - n n -  - virtual
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
"""

SASL_CONF = """\
pwcheck_method: auxprop
auxprop_plugin: sasldb
mech_list: PLAIN LOGIN
sasldb_path: {d}/etc/sasldb2
"""


@contextmanager
def running_postfix(mailboxes: Iterable[str] = MAILBOXES) -> Iterator[Postfix]:
    """Configure and start a Postfix instance; stop it and remove its folder on exit."""
    folder = Path(tempfile.mkdtemp(prefix="seriespub-postfix-"))
    folder.chmod(0o755)
    try:
        postfix = _configure(folder, mailboxes)
        try:
            _postfix(postfix, "start")  # returns once master listens (master -w)
            yield postfix
        finally:
            _stop(postfix)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _configure(folder: Path, mailboxes: Iterable[str]) -> Postfix:
    etc = folder / "etc"
    for name in ("etc", "spool", "data", "log", "mail"):
        (folder / name).mkdir(mode=0o755)
    os.chown(folder / "mail", NOBODY, NOBODY)
    postfix_user = pwd.getpwnam("postfix")
    os.chown(folder / "data", postfix_user.pw_uid, postfix_user.pw_gid)
    postfix = Postfix(folder, free_port(), free_port(), make_private_ca(folder / "ca"))
    shutil.copy(postfix.ca.server_cert, etc / "server.pem")
    shutil.copy(postfix.ca.server_key, etc / "server.key")
    (etc / "server.key").chmod(0o600)
    values = {
        "d": folder,
        "domain": DOMAIN,
        "nobody": NOBODY,
        "port": postfix.port,
        "tls_port": postfix.tls_port,
    }
    (etc / "main.cf").write_text(MAIN_CF.format(**values))
    (etc / "master.cf").write_text(MASTER_CF.format(**values))
    (etc / "sasl").mkdir()  # Debian's Postfix reads $config_directory/sasl/smtpd.conf
    (etc / "sasl" / "smtpd.conf").write_text(SASL_CONF.format(**values))
    (etc / "mailboxes").write_text("".join(f"{name}@{DOMAIN} {name}\n" for name in mailboxes))
    _add_login(etc / "sasldb2")
    return postfix


def _add_login(sasldb: Path) -> None:
    subprocess.run(
        [SASLPASSWD, "-f", str(sasldb), "-c", "-p", "-u", DOMAIN, USER],
        input=PASSWORD.encode(),
        check=True,
        capture_output=True,
        timeout=30,
    )
    sasldb.chmod(0o644)  # smtpd reads it as the postfix user


def _postfix(postfix: Postfix, command: str) -> None:
    result = subprocess.run(
        [POSTFIX, "-c", str(postfix.config), command], capture_output=True, text=True, timeout=60
    )
    if result.returncode != 0:
        raise RuntimeError(f"postfix {command} failed: {result.stderr.strip()}\n{postfix.log()}")


def _stop(postfix: Postfix) -> None:
    subprocess.run(
        [POSTFIX, "-c", str(postfix.config), "stop"], capture_output=True, timeout=60, check=False
    )
    deadline = time.monotonic() + 10
    while _instance_pids(postfix) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in _instance_pids(postfix):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _instance_pids(postfix: Postfix) -> list[int]:
    """Processes of this instance: master passes its config to children as MAIL_CONFIG."""
    marker = f"MAIL_CONFIG={postfix.config}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            pids.append(int(entry.name))
    return pids
