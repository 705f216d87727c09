"""How triagebot's mails look in a real browser, and how big they get on a busy installation.

Headless Chromium (Debian's ``chromium``, installed by ``make system``) lays out the two
digests and a candidate mail at a desktop width (1200 px) and a phone's (400 px); nothing may
be wider than the phone's screen. The store holds hundreds of defects and candidates, so
the size limit (Gmail clips HTML beyond about 102 KB) is measured where it matters.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser import layout
from tests.showcase import MAILS, Mail, busy_config, populate, write_mails
from triagebot import charts
from triagebot.store import Store

FILED, CANDIDATES = 300, 200
PHONE, DESKTOP = 400, 1200
CLIPPED_AT = 100_000  # bytes of HTML; Gmail clips a mail's HTML at about 102 KB


@pytest.fixture(scope="module")
def mails(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Mail]:
    folder = tmp_path_factory.mktemp("mails")
    config = busy_config(folder)
    store = Store(config.store.url)
    try:
        store.migrate()
        populate(store, filed=FILED, candidates=CANDIDATES)
        return {m.name: m for m in write_mails(config, store, folder)}
    finally:
        store.close()


def csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def test_busy_digests_stay_under_the_clipping_size_with_capped_lists(
    mails: dict[str, Mail],
) -> None:
    """Every defect is in the CSV; the HTML lists the first of each section and says how
    many more the CSV has."""
    assert set(mails) == set(MAILS)
    for mail in mails.values():
        assert mail.html_bytes < CLIPPED_AT, mail
    dev = mails["dev-digest"].html.read_text(encoding="utf-8")
    helpdesk = mails["helpdesk-digest"].html.read_text(encoding="utf-8")
    dev_rows = csv_rows(mails["dev-digest"].html.with_suffix(".csv"))
    helpdesk_rows = csv_rows(mails["helpdesk-digest"].html.with_suffix(".csv"))
    assert len(dev_rows) == FILED + CANDIDATES  # all were reported in the period
    assert len(helpdesk_rows) == CANDIDATES
    more = [int(n) for n in re.findall(r"and (\d+) more in the attached CSV", dev)]
    shown = len(re.findall(r"border-top:1px solid #d0d7de;padding:8px 0;", dev))
    listed = [
        int(n)
        for n in re.findall(r">(?:Regressions|Newly filed issues|Growing fastest) \((\d+)\)<", dev)
    ]
    assert sum(listed) == FILED  # each filed defect once; candidates only counted
    assert shown + sum(more) == FILED
    assert more  # the lists were capped
    assert f"Candidates waiting for the helpdesk: <b>{CANDIDATES}</b>" in dev
    (rest,) = re.findall(r"and (\d+) more in the attached CSV", helpdesk)
    assert helpdesk.count(">confirm</a>") + int(rest) == CANDIDATES


@pytest.mark.parametrize("name", MAILS)
def test_mails_read_on_a_phone_without_sideways_scrolling(
    mails: dict[str, Mail], name: str
) -> None:
    """Laid out by Chromium at 1200 and 400 px: nothing wider than the screen, every
    image (chart, sparklines) shown."""
    html = mails[name].html
    desktop, phone = layout(html, DESKTOP), layout(html, PHONE)
    assert (desktop.viewport, phone.viewport) == (DESKTOP, PHONE)
    assert not desktop.scrolls_sideways, desktop
    assert not phone.scrolls_sideways, phone
    assert phone.broken_images == desktop.broken_images == 0
    assert phone.height > desktop.height  # it did reflow, not scale down


def test_the_browser_check_catches_a_fixed_width_mail(tmp_path: Path) -> None:
    """The layout of the previous release (a 720 px table) scrolls sideways on a phone."""
    fixed = tmp_path / "fixed.html"
    fixed.write_text(
        '<!DOCTYPE html><html><body><table width="100%"><tr><td align="center">'
        '<table width="720"><tr><td>KeyError in invoice.compute_totals</td></tr></table>'
        "</td></tr></table></body></html>",
        encoding="utf-8",
    )
    assert not layout(fixed, DESKTOP).scrolls_sideways
    phone = layout(fixed, PHONE)
    assert phone.scrolls_sideways
    assert phone.scroll > 720


def test_charts_are_pngs_drawn_the_same_every_time() -> None:
    counts = [0, 3, 1, 7, 2]
    spark = charts.sparkline(counts)
    assert spark.startswith(b"\x89PNG") and spark == charts.sparkline(counts)
    assert spark != charts.sparkline([7, 2, 1, 3, 0])
    width, height = int.from_bytes(spark[16:20], "big"), int.from_bytes(spark[20:24], "big")
    assert (width, height) == (charts.SPARK_SIZE[0] * 2, charts.SPARK_SIZE[1] * 2)


def test_matplotlib_is_loaded_only_to_draw_a_chart() -> None:
    """The service imports the digest module at start; only a digest that is drawn pays."""
    code = (
        "import sys, triagebot.digest, triagebot.daemon\n"
        "before = 'matplotlib' in sys.modules\n"
        "from triagebot import charts\n"
        "charts.sparkline([1, 2])\n"
        "print(before, 'matplotlib' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ["False", "True"]
