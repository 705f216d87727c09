"""A real, throw-away PostgreSQL server for tests (Debian's ``postgresql`` package).

PostgreSQL refuses to run as root, so as root ``initdb`` and ``postgres`` run as the
``postgres`` user (``setpriv``), with the cluster in a temp folder that user owns. The server
listens on 127.0.0.1 only, on a free high port, with its Unix socket in the temp folder and
durability switched off (fsync, synchronous commit, full-page writes) unless ``durable``: the
data is thrown away at teardown, when its whole process group is killed.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from tests.servers import HOST, free_port

SUPERUSER = "postgres"
DATABASE = "postgres"  # every test gets a schema of its own in it (see ``database``)
_IS_ROOT = os.geteuid() == 0
# The cluster's files belong to whoever runs the server; as root that must not be root.
_USER = pwd.getpwnam("postgres" if _IS_ROOT else pwd.getpwuid(os.getuid()).pw_name)
_SETTINGS = {
    "listen_addresses": HOST,
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",  # several replicas, each with its own pool, per test
    "shared_buffers": "32MB",
    "logging_collector": "off",
}


def find_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<major>/bin`` that has ``initdb`` and ``postgres``."""
    found = [
        d / "bin"
        for d in Path("/usr/lib/postgresql").glob("*")
        if (d / "bin" / "initdb").exists() and (d / "bin" / "postgres").exists()
    ]
    return max(found, key=lambda b: int(b.parent.name), default=None)


def _as_owner(cmd: list[str]) -> list[str]:
    if not _IS_ROOT:
        return cmd
    return [
        "setpriv",
        f"--reuid={_USER.pw_uid}",
        f"--regid={_USER.pw_gid}",
        "--clear-groups",
        "--",
        *cmd,
    ]


@dataclass
class PostgresServer:
    """One postmaster; ``database()`` hands out a fresh, empty database per call."""

    root: Path
    bindir: Path
    port: int
    durable: bool = False  # fsync, synchronous commit and full-page writes on, as in production
    _proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(cls, bindir: Path, *, durable: bool = False) -> PostgresServer:
        """``initdb`` a new cluster in a temp folder and start the server on it."""
        root = Path(tempfile.mkdtemp(prefix="postgres-", dir="/tmp"))
        root.chmod(0o755)
        os.chown(root, _USER.pw_uid, _USER.pw_gid)
        server = cls(root, bindir, free_port(), durable)
        subprocess.run(
            _as_owner(
                [
                    str(bindir / "initdb"),
                    "--pgdata",
                    str(server.data),
                    "--username",
                    SUPERUSER,
                    "--auth",
                    "trust",
                    "--encoding",
                    "UTF8",
                    "--locale",
                    "C",
                    "--no-sync",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=root,  # the unprivileged user may not read the caller's working directory
        )
        server.start()
        return server

    @property
    def data(self) -> Path:
        return self.root / "data"

    def start(self) -> None:
        settings = {**_SETTINGS, "port": str(self.port), "unix_socket_directories": str(self.root)}
        if self.durable:
            settings.update(fsync="on", synchronous_commit="on", full_page_writes="on")
        cmd = [str(self.bindir / "postgres"), "-D", str(self.data)]
        for name, value in settings.items():
            cmd += ["-c", f"{name}={value}"]
        log = (self.root / "postgres.log").open("ab")
        self._proc = subprocess.Popen(
            _as_owner(cmd), start_new_session=True, stdout=log, stderr=log, cwd=self.root
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"postgres exited at start: {self.log()}")
            try:
                with psycopg.connect(self._dsn("postgres"), connect_timeout=1):
                    return
            except psycopg.OperationalError:
                time.sleep(0.05)
        raise RuntimeError(f"postgres did not answer on port {self.port}: {self.log()}")

    def stop(self) -> None:
        """Immediate shutdown (SIGQUIT: the postmaster ends and reaps its backends), then kill
        whatever is left of the process group."""
        if self._proc is None:
            return
        self._proc.send_signal(signal.SIGQUIT)
        with suppress(subprocess.TimeoutExpired):
            self._proc.wait(5)
        with suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc.wait(10)
        self._proc = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "postgres.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _dsn(self, database: str) -> str:
        return f"host={HOST} port={self.port} user={SUPERUSER} dbname={database}"

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of ``database`` (psycopg 3 driver), as ``[store] url`` takes it."""
        return f"postgresql+psycopg://{SUPERUSER}@{HOST}:{self.port}/{database}"

    def database(self) -> str:
        """A new, empty namespace (a schema first on the search path); returns its URL.

        A schema costs well under a millisecond where ``CREATE DATABASE`` costs 300 ms, and
        every table, sequence and type the store creates lands in it, unseen by other tests.
        """
        name = f"t_{secrets.token_hex(6)}"
        with psycopg.connect(self._dsn(DATABASE), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
        return f"{self.url(DATABASE)}?options=-csearch_path%3D{name}"
