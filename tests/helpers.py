"""Shared helpers for the end-to-end tests: config files, Maildirs, and the CLI as a subprocess.

The daemon is always exercised as a real process (``python -m triagebot.cli``) with JSON logs on
stderr, so the tests see exactly what an operator sees: exit codes, stdout and log events.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from triagebot.config import SmtpConfig, TrackerConfig, config_from_dict

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
RULES = REPO / "rules"
#: Not a mail at all (no header block); plain bytes so IMAP APPEND accepts it too.
GARBAGE = b"just some bytes, no headers at all\r\n\xff\xfe\r\n"

Sections = Mapping[str, Mapping[str, Any]]
T = TypeVar("T")


def toml(sections: Sections) -> str:
    """Render TOML sections (strings, numbers, booleans, lists; nested tables inline)."""
    lines: list[str] = []
    for name, table in sections.items():
        lines += [f"[{name}]", *_pairs(table), ""]
    return "\n".join(lines)


def _pairs(table: Mapping[str, Any]) -> list[str]:
    return [f"{key} = {_value(value)}" for key, value in table.items()]


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(_pairs(value)) + " }"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def imap_mailbox(port: int, username: str, password_env: str, **extra: Any) -> dict[str, Any]:
    """A ``[mailbox]`` section for a plain-text IMAP server on 127.0.0.1 (Dovecot in tests)."""
    return {
        "kind": "imap",
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "username": username,
        "password_env": password_env,
        **extra,
    }


def jira_tracker(url: str, token_env: str, **extra: Any) -> dict[str, Any]:
    """A ``[tracker]`` section for the fake Jira's account, filing into project OPS."""
    jira = {"url": url, "username": "bot@example.com", "token_env": token_env, "project": "OPS"}
    return {"kind": "jira", "jira": {**jira, **extra}}


def jira_config(url: str, folder: Path) -> TrackerConfig:
    """``[tracker]`` for Jira at ``url``, its token in a file under ``folder`` (for code that
    reads the settings, such as the digest's issue links, without a server)."""
    token = folder / "jira-token"
    token.write_text("api-token", encoding="utf-8")
    table = {"url": url, "username": "bot@example.com", "token_file": str(token), "project": "OPS"}
    return config_from_dict({"tracker": {"kind": "jira", "jira": table}}).tracker


def smtp_starttls(config: SmtpConfig, password_env: str) -> dict[str, Any]:
    """An ``[smtp]`` section for the test SMTP server described by ``config`` (STARTTLS)."""
    return {
        "host": config.host,
        "port": config.port,
        "security": "starttls",
        "username": config.username,
        "password_env": password_env,
        "from_address": config.from_address,
        "ca_file": str(config.ca_file),
    }


def write_rules(directory: Path, rules: Iterable[Mapping[str, Any]]) -> Path:
    """A rules folder with one file holding ``rules`` (each a ``[[rule]]`` table)."""
    directory.mkdir(parents=True, exist_ok=True)
    body = "\n".join("\n".join(["[[rule]]", *_pairs(rule), ""]) for rule in rules)
    (directory / "50-test.toml").write_text(body, encoding="utf-8")
    return directory


@dataclass
class Result:
    """A finished CLI run: exit code, stdout, and the JSON log events from stderr."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def events(self) -> list[dict[str, Any]]:
        return parse_events(self.stderr)

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == event]


def parse_events(text: str) -> list[dict[str, Any]]:
    """JSON log lines; anything else (a traceback) is kept as ``{"raw": line}``."""
    events: list[dict[str, Any]] = []
    for line in text.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            events.append({"raw": line})
    return events


@dataclass
class Bot:
    """One deployment under ``home``: its config file, Maildir and environment."""

    home: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def config(self) -> Path:
        return self.home / "triagebot.toml"

    @property
    def maildir(self) -> Path:
        return self.home / "var" / "mail"

    @property
    def db(self) -> Path:
        return self.home / "var" / "triagebot.db"

    def configure(self, sections: Sections) -> Path:
        """Write the config; JSON logs and the shipped rules unless ``sections`` says otherwise.
        The default Maildir is made too, as an installation has it (``check-config`` only
        looks at it)."""
        merged: dict[str, dict[str, Any]] = {
            "logging": {"format": "json", "level": "info"},
            "rules": {"path": str(RULES)},
        }
        for name, table in sections.items():
            merged.setdefault(name, {}).update(table)
        self.config.write_text(toml(merged), encoding="utf-8")
        seed_maildir(self.maildir, [])
        return self.config

    def _argv(self, args: Iterable[str]) -> list[str]:
        """Without a config file the CLI runs on its embedded defaults (relative to ``home``)."""
        config = ["-c", str(self.config)] if self.config.exists() else []
        return [sys.executable, "-m", "triagebot.cli", *config, *args]

    def _environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGEBOT_")}
        env["PYTHONPATH"] = str(REPO)
        env.update(self.env)
        return env

    def run(self, *args: str, timeout: float = 60.0) -> Result:
        done = subprocess.run(
            self._argv(args),
            cwd=self.home,
            env=self._environ(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def once(self) -> Result:
        """``run --once``, which must succeed."""
        result = self.run("run", "--once")
        assert result.returncode == 0, result.stderr
        return result

    def defects(self) -> list[dict[str, Any]]:
        result = self.run("defects", "--json")
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()]

    def start(self, log: Path) -> Daemon:
        """The long-running service; its stderr goes to ``log`` (a file: no pipe to drain)."""
        with log.open("wb") as sink:
            proc = subprocess.Popen(
                self._argv(["run"]), cwd=self.home, env=self._environ(), stderr=sink
            )
        return Daemon(proc, log)


@dataclass
class Daemon:
    """A running ``triagebot run`` process and its log file."""

    proc: subprocess.Popen[bytes]
    log: Path

    def events(self) -> list[dict[str, Any]]:
        return parse_events(self.log.read_text(encoding="utf-8", errors="replace"))

    def wait_for_event(self, event: str, timeout: float = 15.0) -> dict[str, Any]:
        found = wait_until(
            lambda: next((e for e in self.events() if e.get("event") == event), None), timeout
        )
        assert found is not None, f"no {event} within {timeout}s:\n{self.log.read_text()}"
        return found

    def terminate(self, timeout: float = 15.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def wait_until(probe: Callable[[], T | None], timeout: float, step: float = 0.02) -> T | None:
    """Poll ``probe`` until it returns something truthy, or None after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(step)


#: How far ``seed_maildir`` backdates its files: older than any ``[mailbox].min_age`` in tests.
SEEDED_AGE = 3600.0


def seed_maildir(maildir: Path, mails: Iterable[tuple[str, bytes]]) -> list[str]:
    """Put named mails into ``maildir/new`` (via ``tmp/``, as a delivery agent would), dated
    ``SEEDED_AGE`` ago so the service reads them at once instead of waiting out ``min_age``."""
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    written = time.time() - SEEDED_AGE
    names = []
    for name, raw in mails:
        (maildir / "tmp" / name).write_bytes(raw)
        os.utime(maildir / "tmp" / name, (written, written))
        os.rename(maildir / "tmp" / name, maildir / "new" / name)
        names.append(name)
    return names


def samples() -> list[tuple[str, bytes]]:
    """The shipped sample reports, by file name."""
    return [(p.name, p.read_bytes()) for p in sorted(SAMPLES.glob("*.eml"))]


def sample_group(name: str) -> str:
    """``client-case-load-nullref-02.eml`` → ``client-case-load-nullref``: one bug per group."""
    return name.removesuffix(".eml").rsplit("-", 1)[0]


def listing(folder: Path) -> list[str]:
    """Mail file names in a Maildir sub-folder, without the ``:2,S`` info suffix."""
    if not folder.is_dir():
        return []
    return sorted(e.name.split(":2,", 1)[0] for e in os.scandir(folder))


def copy_rules(target: Path) -> Path:
    shutil.copytree(RULES, target)
    return target
