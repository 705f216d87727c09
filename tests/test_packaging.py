"""The wheel is the software users install: built from the repository, installed into a fresh
virtual environment with no source tree around, it runs the service from an empty folder
(shipped templates and default rules included), mails the helpdesk a candidate and serves its
metrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest_smtp import SMTP_PASSWORD
from tests.helpers import (
    REPO,
    SAMPLES,
    parse_events,
    seed_maildir,
    smtp_starttls,
    toml,
    wait_until,
)
from tests.servers import free_port
from tests.servers.smtp import SmtpServer
from tests.test_metrics import Samples, health, scrape, total, value
from triagebot.config import SmtpConfig

REPORT = SAMPLES / "client-case-load-nullref-01.eml"
HELPDESK = "alice@example.test"
#: Prints where the package, its templates and its rules are imported from.
PROBE = (
    "import json, triagebot, triagebot.shipped as s;"
    "print(json.dumps([triagebot.__file__, str(s.TEMPLATE_DIR), str(s.RULES_DIR)]))"
)


def _venv(path: Path) -> Path:
    """A fresh virtual environment that sees the dependencies this test runs with: the system's
    site-packages, and those of the environment running the tests (``make test`` uses its own
    ``.venv``) as plain path entries, so their ``.pth`` files (an editable install of this
    checkout) are not read."""
    _run([sys.executable, "-m", "venv", "--system-site-packages", str(path)], cwd=path.parent)
    inner = Path(
        sysconfig.get_paths(vars={"base": str(path), "platbase": str(path)})["purelib"]
    )
    outer = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (inner / "outer-environment.pth").write_text("".join(f"{d}\n" for d in sorted(outer)))
    return path


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"{argv}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment holding the wheel built from the repository; its dependencies
    come from the system's site-packages, so nothing is downloaded."""
    work = tmp_path_factory.mktemp("wheel")
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    _run([*build, "--no-index", "-w", str(work / "dist"), str(REPO)], cwd=work)
    (wheel,) = (work / "dist").glob("triagebot-*.whl")
    _venv(work / "venv")
    pip = [str(work / "venv" / "bin" / "python"), "-m", "pip", "install", "-q"]
    _run([*pip, "--no-deps", "--no-index", str(wheel)], cwd=work)
    return work / "venv"


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without anything that would lead Python to the source tree."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "TRIAGEBOT_"))}
    return {**env, **extra}


def test_the_installed_package_is_the_wheel(venv: Path, tmp_path: Path) -> None:
    """The venv imports triagebot, its templates and its rules from its own site-packages."""
    out = _run([str(venv / "bin" / "python"), "-c", PROBE], cwd=tmp_path, env=clean_env())

    for path in json.loads(out):
        assert Path(path).is_relative_to(venv), path
        assert not Path(path).is_relative_to(REPO), path
    shipped = Path(json.loads(out)[1])
    assert {p.name for p in shipped.glob("*.j2")} == {
        p.name for p in (REPO / "templates").glob("*.j2")
    }


def test_service_from_an_empty_folder_mails_a_candidate(
    venv: Path, tmp_path: Path, smtp_server: SmtpServer, smtp_config: SmtpConfig
) -> None:
    """``run --once`` with a config naming only SMTP and the helpdesk: the default Maildir
    beside the config is read, the shipped rules decide, the shipped template renders."""
    home = tmp_path / "empty"
    home.mkdir()
    config = home / "triagebot.toml"
    config.write_text(
        toml(
            {
                "logging": {"format": "json"},
                "smtp": smtp_starttls(smtp_config, "TB_SMTP"),
                "helpdesk": {
                    "recipients": [HELPDESK],
                    "allowed_senders": [HELPDESK],
                    "reply_address": "helpdesk@example.test",
                    "token_secret_env": "TB_TOKEN_SECRET",
                },
            }
        ),
        encoding="utf-8",
    )
    seed_maildir(home / "var" / "mail", [(REPORT.name, REPORT.read_bytes())])
    env = clean_env(TB_SMTP=SMTP_PASSWORD, TB_TOKEN_SECRET="packaging-test-secret-0042")
    cwd = tmp_path / "elsewhere"  # not the config's folder: paths follow the config file
    cwd.mkdir()

    done = subprocess.run(
        [str(venv / "bin" / "triagebot"), "-c", str(config), "run", "--once"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert not any("raw" in e for e in parse_events(done.stderr)), done.stderr
    (sent,) = [r for r in smtp_server.messages if r.message["X-Triagebot"] == "candidate"]
    assert sent.rcpt_tos == (HELPDESK,)
    assert "NullReferenceException" in str(sent.message["Subject"])
    assert (home / "var" / "triagebot.db").is_file()
    assert list(cwd.iterdir()) == []


def test_an_editable_install_finds_the_checkout_folders(tmp_path: Path) -> None:
    """``pip install -e .``: the package runs from the checkout, and so do its templates and
    rules (the top-level folders, which the wheel copies)."""
    venv = _venv(tmp_path / "venv")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps"]
    _run([*pip, "--no-build-isolation", "--no-index", "-e", str(REPO)], cwd=tmp_path)

    out = _run([str(venv / "bin" / "python"), "-c", PROBE], cwd=tmp_path, env=clean_env())

    assert json.loads(out)[1:] == [str(REPO / "templates"), str(REPO / "rules")]


def test_the_installed_service_serves_metrics_and_health(venv: Path, tmp_path: Path) -> None:
    """``run`` from an empty folder with ``[metrics] listen`` on a free loopback port: the
    installed wheel's ``/metrics`` counts the sample it read, and ``/healthz`` answers 200."""
    home = tmp_path / "empty"
    home.mkdir()
    port = free_port()
    config = home / "triagebot.toml"
    sections = {"logging": {"format": "json"}, "metrics": {"listen": f"127.0.0.1:{port}"}}
    config.write_text(toml(sections), encoding="utf-8")
    seed_maildir(home / "var" / "mail", [(REPORT.name, REPORT.read_bytes())])
    with (tmp_path / "service.log").open("wb") as log:
        proc = subprocess.Popen(
            [str(venv / "bin" / "triagebot"), "-c", str(config), "run"],
            cwd=home,
            env=clean_env(),
            stderr=log,
        )
    try:
        found = wait_until(lambda: _counted(port), timeout=30, step=0.2)
        status, body = health(port)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)

    assert found is not None, (tmp_path / "service.log").read_text()
    assert value(found, "triagebot_messages_total", kind="error_report", outcome="candidate") == 1
    assert value(found, "triagebot_source_connected", source="maildir") == 1
    assert value(found, "triagebot_backlog_messages", source="maildir") == 0
    assert (status, body.strip()) == (200, "ok")
    assert code == 0


def _counted(port: int) -> Samples | None:
    """The served samples once the service has recorded its first mail; None before."""
    try:
        found = scrape(port)
    except OSError:  # not listening yet
        return None
    return found if total(found, "triagebot_messages_total") else None
