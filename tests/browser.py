"""Mails as a browser lays them out: headless Chromium (Debian's ``chromium``) loads a mail's
HTML in a frame of a given width, which is that mail's viewport, as on a phone or a desktop
mail client. A frame, not the window: headless Chromium keeps windows at least 500 px wide.

The frame's page reports the mail's layout into the DOM (``--dump-dom``); a screenshot is
taken of a window exactly as large as the laid-out mail.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CHROMIUM", "Layout", "layout", "screenshot"]

CHROMIUM = shutil.which("chromium")
_FLAGS = (
    "--headless",
    "--no-sandbox",  # tests may run as root in a container
    "--disable-gpu",
    "--hide-scrollbars",
    "--allow-file-access-from-files",  # the frame page reads the mail's layout
    "--no-first-run",
    "--disable-extensions",
)
_FRAME = """<!DOCTYPE html>
<html><head><meta charset="utf-8"></head>
<body style="margin:0;background:#ffffff;">
<iframe id="mail" src="{src}"
 style="display:block;border:0;width:{width}px;height:{height}px;"></iframe>
<script>
window.addEventListener("load", function () {{
  var frame = document.getElementById("mail");
  var root = frame.contentDocument.documentElement;
  document.body.setAttribute("data-layout", JSON.stringify({{
    viewport: frame.contentWindow.innerWidth,
    scroll: root.scrollWidth,
    height: root.scrollHeight,
    broken: Array.prototype.filter.call(
      frame.contentDocument.images, function (img) {{ return !img.naturalWidth; }}
    ).length
  }}));
}});
</script>
</body></html>
"""
_LAYOUT = re.compile(r'data-layout="([^"]*)"')
_TIMEOUT = 60


@dataclass(frozen=True, slots=True)
class Layout:
    """How wide the mail's viewport is, how wide its content, how tall (CSS pixels), and
    how many of its images did not load."""

    viewport: int
    scroll: int
    height: int
    broken_images: int

    @property
    def scrolls_sideways(self) -> bool:
        return self.scroll > self.viewport


def _frame(html: Path, width: int, height: int) -> Path:
    page = html.with_name(f"{html.stem}.frame-{width}.html")
    page.write_text(_FRAME.format(src=html.name, width=width, height=height), encoding="utf-8")
    return page


def _chromium(*args: str) -> str:
    if CHROMIUM is None:
        raise RuntimeError("chromium is not installed (make system installs it)")
    done = subprocess.run(
        [CHROMIUM, *_FLAGS, *args],
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
        check=True,
    )
    return done.stdout


def layout(html: Path, width: int) -> Layout:
    """The layout of the mail ``html`` (a file: its images next to it) ``width`` px wide."""
    page = _frame(html, width, 100)
    dom = _chromium("--window-size=1400,900", "--dump-dom", page.as_uri())
    match = _LAYOUT.search(dom)
    if match is None:
        raise RuntimeError(f"chromium reported no layout for {html}")
    found = json.loads(match[1].replace("&quot;", '"'))
    return Layout(found["viewport"], found["scroll"], found["height"], found["broken"])


def screenshot(html: Path, width: int, png: Path) -> Layout:
    """A PNG of the whole mail at ``width`` px; returns its layout."""
    measured = layout(html, width)
    page = _frame(html, width, measured.height)
    size = f"--window-size={width},{measured.height}"
    _chromium(size, f"--screenshot={png}", page.as_uri())
    return measured
