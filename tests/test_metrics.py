"""``[metrics]``: the service's Prometheus metrics and ``/healthz``, scraped over HTTP from the
real daemon (in this process for ``run --once``, as a process for the running service), and
``/healthz`` naming the part that fails: a stopped Dovecot, a stopped PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from tests.clocks import ManualClock
from tests.fakejira import FakeJira
from tests.helpers import (
    GARBAGE,
    REPO,
    Bot,
    imap_mailbox,
    jira_tracker,
    samples,
    seed_maildir,
    wait_until,
    write_rules,
)
from tests.servers import free_port
from tests.servers.dovecot import DOVECOT, DovecotServer
from tests.servers.postgres import PostgresServer, find_bindir
from triagebot.config import config_from_dict
from triagebot.daemon import Daemon
from triagebot.metrics import Metrics, quarantine_reason

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
AT = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
JIRA_TOKEN = "api-token"  # the fake Jira's test account
#: The two invoice bugs (4 mails) are filed; the other 3 bugs (8 mails) stay candidates.
FILE_INVOICES = {
    "name": "file-invoice-totals",
    "exception_type": ["KeyError", "NullPointerException"],
    "action": "file",
}


def scrape(port: int) -> Samples:
    """Every sample ``/metrics`` serves, read with the Prometheus text parser."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def health(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_run_once_serves_counts_that_match_what_was_processed(tmp_path: Path) -> None:
    """12 samples and one mail that is not a mail, in batches of 5: every count on
    ``/metrics`` matches, and the run ends with one summary line."""
    maildir = tmp_path / "mail"
    seed_maildir(maildir, [*samples(), ("zz-garbage", GARBAGE)])
    port = free_port()
    config = config_from_dict(
        {
            "mailbox": {"path": str(maildir), "batch_size": 5},
            "store": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
            "rules": {"path": str(write_rules(tmp_path / "rules", [FILE_INVOICES]))},
            "service": {"workers": 0},
            "metrics": {"listen": f"127.0.0.1:{port}"},
        }
    )
    daemon = Daemon.from_config(config, ManualClock(AT))
    with daemon.serving(), capture_logs() as events:
        asyncio.run(daemon.run(once=True))
        found = scrape(port)

    assert value(found, "triagebot_messages_total", kind="error_report", outcome="file") == 4
    assert value(found, "triagebot_messages_total", kind="error_report", outcome="candidate") == 8
    assert value(found, "triagebot_messages_total", kind="invalid", outcome="quarantined") == 1
    assert total(found, "triagebot_messages_total") == 13
    assert value(found, "triagebot_quarantined_total", reason="invalid") == 1
    assert value(found, "triagebot_processing_seconds_count") == 3  # 5 + 5 + 3
    assert value(found, "triagebot_backlog_messages", source="maildir") == 0
    assert value(found, "triagebot_source_connected", source="maildir") == 1
    assert value(found, "triagebot_tracker_requests_total", op="create", status="ok") == 2
    assert total(found, "triagebot_effects_failed_total") == 0
    assert value(found, "triagebot_outbox_pending", lane="outbox-tracker") == 0
    assert value(found, "triagebot_outbox_pending", lane="outbox-mail") == 0
    stamp = AT.timestamp()
    assert value(found, "triagebot_last_success_timestamp_seconds", component="intake") == stamp
    assert value(found, "triagebot_last_success_timestamp_seconds", component="outbox-tracker")
    (summary,) = [e for e in events if e["event"] == "run.summary"]
    assert summary["messages"] == 13
    assert summary["outcomes"] == {"file": 4, "candidate": 8, "quarantined": 1}
    assert (summary["defects_new"], summary["defects_updated"]) == (5, 0)
    assert summary["effects_pending"] == {"outbox-tracker": 0, "outbox-mail": 0}


def test_tracker_failures_are_counted_by_lane_and_status(
    tmp_path: Path, fake_jira: FakeJira, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jira answers 503 to everything: the create fails, is counted as unavailable calls and
    one failed effect of the tracker lane, and stays pending (the summary says so too)."""
    maildir = tmp_path / "mail"
    seed_maildir(maildir, samples()[-2:])  # one invoice bug, filed at once
    port = free_port()
    monkeypatch.setenv("TB_JIRA_TOKEN", JIRA_TOKEN)
    config = config_from_dict(
        {
            "mailbox": {"path": str(maildir)},
            "store": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
            "rules": {"path": str(write_rules(tmp_path / "rules", [FILE_INVOICES]))},
            "service": {"workers": 0},
            "metrics": {"listen": f"127.0.0.1:{port}"},
            "tracker": {
                **jira_tracker(fake_jira.url, "TB_JIRA_TOKEN", timeout=5, deadline=0.5),
                "sync_interval": 0,
            },
        }
    )
    fake_jira.fail(".*", 503, times=10_000)
    daemon = Daemon.from_config(config, ManualClock(AT))
    with daemon.serving(), capture_logs() as events:
        asyncio.run(daemon.run(once=True))
        found = scrape(port)

    assert value(found, "triagebot_effects_failed_total", lane="outbox-tracker") == 1
    failed_calls = sum(
        v
        for (n, labels), v in found.items()
        if n == "triagebot_tracker_requests_total" and ("status", "unavailable") in labels
    )
    assert failed_calls >= 1
    assert value(found, "triagebot_outbox_pending", lane="outbox-tracker") == 1
    assert (
        value(found, "triagebot_last_success_timestamp_seconds", component="outbox-tracker") is None
    )
    (summary,) = [e for e in events if e["event"] == "run.summary"]
    assert summary["effects_pending"]["outbox-tracker"] == 1


def test_quarantine_reasons_fall_into_a_few_classes() -> None:
    """Whatever the reason's text, its label is one of four: bounded series."""
    reasons = {
        "no mail headers": "invalid",
        "empty message": "invalid",
        "analysis timeout after 5.0 s": "analysis",
        "analysis crashed: exit code -9": "analysis",
        "store refused it: IntegrityError('...')": "store_refused",
        "parser error: UnicodeDecodeError": "parser_error",
        "internal error: ValueError('x')": "parser_error",
    }
    assert {reason: quarantine_reason(reason) for reason in reasons} == reasons


class TestRunningService:
    def test_counts_grow_as_mail_arrives_and_health_is_ok(self, tmp_path: Path) -> None:
        """The service as a process: the samples, then three more, each counted once."""
        port = free_port()
        bot = Bot(tmp_path)
        bot.configure({"metrics": {"listen": f"127.0.0.1:{port}"}, "service": {"workers": 0}})
        seed_maildir(bot.maildir, samples())
        daemon = bot.start(tmp_path / "daemon.log")
        try:
            assert wait_until(lambda: _messages(port) == 12, 30, 0.1), daemon.log.read_text()
            assert health(port) == (200, "ok\n")
            seed_maildir(bot.maildir, [(f"again-{n}", raw) for n, raw in samples()[:3]])
            assert wait_until(lambda: _messages(port) == 15, 30, 0.1), daemon.log.read_text()
            found = scrape(port)
            assert value(found, "triagebot_source_connected", source="maildir") == 1
            assert value(found, "triagebot_backlog_messages", source="maildir") == 0
            assert daemon.terminate() == 0
        finally:
            daemon.kill()

    def test_health_names_a_stopped_imap_server(self, tmp_path: Path) -> None:
        """Dovecot stops: ``/healthz`` answers 503 naming the IMAP source, and the source is
        reported disconnected; once it is back, 200 again."""
        if not Path(DOVECOT).exists():
            pytest.skip(f"dovecot binary not found at {DOVECOT}")
        server = DovecotServer.create()
        try:
            mailbox = server.add_user()
            mailbox.seed([raw for _, raw in samples()[:2]])
            port = free_port()
            bot = Bot(tmp_path, env={"TB_IMAP_PASSWORD": mailbox.password})
            bot.configure(
                {
                    "mailbox": imap_mailbox(
                        server.port, mailbox.username, "TB_IMAP_PASSWORD", poll_interval=0.2
                    ),
                    "metrics": {"listen": f"127.0.0.1:{port}"},
                    "service": {"workers": 0},
                }
            )
            daemon = bot.start(tmp_path / "daemon.log")
            try:
                assert wait_until(lambda: _messages(port) == 2, 30, 0.1), daemon.log.read_text()
                assert health(port) == (200, "ok\n")
                server.stop()
                down = wait_until(lambda: _unhealthy(port), 30, 0.1)
                assert down is not None, daemon.log.read_text()
                assert down.startswith("source imap: "), down
                assert value(scrape(port), "triagebot_source_connected", source="imap") == 0
                server.start()
                assert wait_until(lambda: health(port)[0] == 200, 60, 0.2), daemon.log.read_text()
                assert daemon.terminate() == 0
            finally:
                daemon.kill()
        finally:
            server.destroy()


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL of this test's own, to be stopped under the service."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin")
    server = PostgresServer.create(bindir)
    yield server
    server.destroy()


def test_health_names_a_stopped_store(tmp_path: Path, own_postgres: PostgresServer) -> None:
    """PostgreSQL stops under the running service: ``/healthz`` answers 503 naming the
    store; once it is back, 200 again."""
    port = free_port()
    bot = Bot(tmp_path)
    bot.configure(
        {
            "store": {"url": own_postgres.database()},
            "metrics": {"listen": f"127.0.0.1:{port}"},
            "service": {"workers": 0},
        }
    )
    seed_maildir(bot.maildir, samples()[:2])
    daemon = bot.start(tmp_path / "daemon.log")
    try:
        assert wait_until(lambda: _messages(port) == 2, 30, 0.1), daemon.log.read_text()
        assert health(port) == (200, "ok\n")
        own_postgres.stop()
        down = wait_until(lambda: _unhealthy(port), 30, 0.1)
        assert down is not None, daemon.log.read_text()
        assert down.startswith("store: "), down
        own_postgres.start()
        assert wait_until(lambda: health(port)[0] == 200, 30, 0.2), daemon.log.read_text()
        assert daemon.terminate() == 0
    finally:
        daemon.kill()


def _messages(port: int) -> float | None:
    try:
        return total(scrape(port), "triagebot_messages_total")
    except OSError:  # not listening yet
        return None


def _unhealthy(port: int) -> str | None:
    status, body = health(port)
    return body if status == 503 else None


def test_a_wrong_listen_address_switches_metrics_off_and_the_rest_runs(tmp_path: Path) -> None:
    """``[metrics] listen`` names its problem; the service files without metrics, and
    ``check-config`` fails naming the key."""
    for listen, problem in [
        ("9464", "is not HOST:PORT"),
        ("127.0.0.1:99999", "is not HOST:PORT"),
        ("bad host!:9464", "not a host name or IP address"),
    ]:
        config = config_from_dict({"metrics": {"listen": listen}})
        assert config.metrics is None
        ((section, error),) = config.broken
        assert section == "metrics" and error.startswith("[metrics].listen: ") and problem in error
    assert config_from_dict({"metrics": {}}).metrics is not None  # the default address
    bot = Bot(tmp_path)
    bot.configure({"metrics": {"listen": "localhost"}, "service": {"workers": 0}})
    seed_maildir(bot.maildir, samples()[:2])
    result = bot.once()
    (disabled,) = result.named("config.section_disabled")
    assert disabled["section"] == "metrics" and "[metrics].listen" in disabled["error"]
    assert result.named("metrics.started") == []
    assert result.named("run.summary")[0]["messages"] == 2
    check = bot.run("check-config")
    assert check.returncode == 1
    assert any(line.startswith("metrics    error") for line in check.stdout.splitlines())
    port = free_port()
    bot.configure({"metrics": {"listen": f"127.0.0.1:{port}"}})
    check = bot.run("check-config")
    assert f"metrics    enabled   http://127.0.0.1:{port}/metrics free" in check.stdout


def test_the_grafana_dashboard_queries_only_metrics_that_exist() -> None:
    """``contrib/grafana/triagebot.json`` parses, has panels with queries, and every
    ``triagebot_*`` series it names is one the service serves (a renamed metric fails here)."""
    dashboard = json.loads((REPO / "contrib" / "grafana" / "triagebot.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    queried = {name for expr in exprs for name in re.findall(r"\btriagebot_\w+", expr)}
    families = list(Metrics(ManualClock(AT)).registry.collect())
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}
    served = {f.name + s for f in families for s in suffixes.get(f.type, [""])}
    assert len(exprs) >= 9
    assert queried <= served, queried - served
    unshown = [f.name for f in families if not any(q.startswith(f.name) for q in queried)]
    assert unshown == []
