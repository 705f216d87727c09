"""A real, throw-away Dovecot IMAP server for tests and benchmarks.

Runs unprivileged (Dovecot refuses uid 0 for mail processes) in its own process group on
127.0.0.1, with its config, users file and Maildirs under one temp folder. Users are added by
writing a one-line passwd-file per user (a shared file would be re-read only when its
mtime changes, which misses users added within the same second), so every test gets a fresh
mailbox without a restart.
"""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from imapclient import IMAPClient

from tests.servers import HOST, free_port
from triagebot.mail.maildir import deliver

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
_IS_ROOT = os.geteuid() == 0
# Dovecot will not run mail processes as root: as root, drop to nobody; else run as we are.
_USER = pwd.getpwnam("nobody") if _IS_ROOT else pwd.getpwuid(os.getuid())
_GROUP = grp.getgrnam("nogroup") if _IS_ROOT else grp.getgrgid(os.getgid())


def _config(root: Path, port: int, tls_port: int, tls: tuple[Path, Path] | None, extra: str) -> str:
    ssl = f"ssl = yes\nssl_cert = <{tls[0]}\nssl_key = <{tls[1]}\n" if tls else "ssl = no\n"
    return f"""
protocols = imap
listen = {HOST}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
default_login_user = {_USER.pw_name}
default_internal_user = {_USER.pw_name}
default_internal_group = {_GROUP.gr_name}
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2
mail_location = maildir:~/Maildir
mail_fsync = never
{ssl}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = {tls_port}
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users/%u
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users/%u
  default_fields = home={root}/home/%u
}}
protocol imap {{
  mail_max_userip_connections = 50
}}
{extra}
"""


@dataclass
class Mailbox:
    """One user of a running server; ``password`` also works as an XOAUTH2 token."""

    server: DovecotServer
    username: str
    password: str

    @property
    def maildir(self) -> Path:
        return self.server.root / "home" / self.username / "Maildir"

    @contextmanager
    def client(self) -> Iterator[IMAPClient]:
        """A logged-in plain connection, closed on exit."""
        client = IMAPClient(HOST, self.server.port, ssl=False, timeout=10)
        try:
            client.login(self.username, self.password)
            yield client
        finally:
            try:
                client.logout()
            except Exception:  # the server may be gone in restart tests
                client.shutdown()

    def append(self, messages: Iterable[bytes], folder: str = "INBOX") -> None:
        """Deliver over IMAP (MULTIAPPEND), as a mail server would."""
        with self.client() as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            client.multiappend(folder, list(messages))

    def seed(self, messages: Iterable[bytes]) -> int:
        """Bulk-deliver by writing straight into ``Maildir/new`` (fast for big mailboxes)."""
        new = self.maildir / "new"
        for sub in ("tmp", "new", "cur"):
            (self.maildir / sub).mkdir(parents=True, exist_ok=True)
        count = 0
        for raw in messages:
            deliver(self.maildir, raw, fsync=False)
            count += 1
        if _IS_ROOT:
            for path in (self.maildir.parent, self.maildir, *self.maildir.iterdir()):
                os.chown(path, _USER.pw_uid, _GROUP.gr_gid)
            for entry in os.scandir(new):
                with suppress(FileNotFoundError):  # a running reader took it
                    os.chown(entry.path, _USER.pw_uid, _GROUP.gr_gid)
        return count

    def uids(self, folder: str = "INBOX") -> list[int]:
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            return sorted(client.search("ALL"))

    def contents(self, folder: str = "INBOX") -> dict[int, tuple[bytes, frozenset[bytes]]]:
        """UID -> (raw message, flags) of every mail in ``folder``, read without marking it."""
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            data = client.fetch(uids, ["BODY.PEEK[]", "FLAGS"]) if uids else {}
            return {uid: (d[b"BODY[]"], frozenset(d[b"FLAGS"])) for uid, d in data.items()}

    def folders(self) -> set[str]:
        with self.client() as client:
            return {name for _flags, _delim, name in client.list_folders()}


@dataclass
class DovecotServer:
    """One Dovecot master; ``restart()`` keeps the port, data and users."""

    root: Path
    port: int = field(default_factory=free_port)
    tls_port: int = 0
    tls: tuple[Path, Path] | None = None
    _proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(
        cls, *, tls: tuple[bytes, bytes] | None = None, extra_config: str = ""
    ) -> DovecotServer:
        """Lay out a temp folder traversable by the unprivileged user and start the server.

        ``tls`` is (certificate chain PEM, private key PEM); it enables STARTTLS on ``port``
        and implicit TLS on ``tls_port``.
        """
        root = Path(tempfile.mkdtemp(prefix="dovecot-", dir="/tmp"))
        root.chmod(0o755)
        for sub in ("run", "state", "home", "users"):
            (root / sub).mkdir()
        cert_files = None
        if tls:
            cert_files = (root / "cert.pem", root / "key.pem")
            for path, pem in zip(cert_files, tls, strict=True):
                path.write_bytes(pem)
        server = cls(root, tls_port=free_port() if tls else 0, tls=cert_files)
        for path in (root, *root.iterdir()):
            os.chown(path, _USER.pw_uid, _GROUP.gr_gid)
        (root / "dovecot.conf").write_text(
            _config(root, server.port, server.tls_port, cert_files, extra_config)
        )
        server.start()
        return server

    def start(self) -> None:
        cmd = [DOVECOT, "-F", "-c", str(self.root / "dovecot.conf")]
        if _IS_ROOT:
            cmd = [
                "setpriv",
                f"--reuid={_USER.pw_uid}",
                f"--regid={_GROUP.gr_gid}",
                "--clear-groups",
                "--",
                *cmd,
            ]
        self._proc = subprocess.Popen(cmd, start_new_session=True, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode() if self._proc.stderr else ""
                raise RuntimeError(f"dovecot exited at start: {err}{self.log()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"dovecot did not answer on port {self.port}: {self.log()}")

    def stop(self) -> None:
        """Kill the whole process group, lingering per-client processes included."""
        if self._proc is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc.wait(10)
        if self._proc.stderr:
            self._proc.stderr.close()
        self._proc = None

    def restart(self, downtime: float = 0.0) -> None:
        self.stop()
        time.sleep(downtime)
        self.start()

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def add_user(self, username: str | None = None) -> Mailbox:
        """A new user with an empty mailbox; Dovecot reads its passwd-file at the next login."""
        username = username or f"u{secrets.token_hex(6)}"
        password = secrets.token_urlsafe(12)
        (self.root / "users" / username).write_text(f"{username}:{{PLAIN}}{password}::::::\n")
        return Mailbox(self, username, password)
