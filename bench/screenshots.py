"""Screenshots of the mails people read: both digests and a candidate mail of a busy
installation, at a desktop width (1200 px) and a phone's (400 px), taken by headless
Chromium (Debian's ``chromium``) from the HTML triagebot sends.

The store is filled as the browser tests fill it (``tests/showcase.py``: hundreds of filed
defects and candidates). Prints, per mail, the HTML's size as sent (``cid:`` images, not
counted: they travel as their own parts), its images' sizes, and each screenshot's size
and height, so they can be quoted.

    python bench/screenshots.py [--out screenshots] [--filed 300] [--candidates 200]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # runnable from a checkout without installing

from live import configure_logging  # noqa: E402

from tests.browser import screenshot  # noqa: E402
from tests.showcase import busy_config, populate, write_mails  # noqa: E402
from triagebot.store import Store  # noqa: E402

WIDTHS = (1200, 400)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "screenshots")
    parser.add_argument("--filed", type=int, default=300)
    parser.add_argument("--candidates", type=int, default=200)
    args = parser.parse_args()
    configure_logging("warning", sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        config = busy_config(folder)
        store = Store(config.store.url)
        try:
            store.migrate()
            populate(store, filed=args.filed, candidates=args.candidates)
            mails = write_mails(config, store, folder)
        finally:
            store.close()
        print(f"{'mail':<16} {'HTML bytes':>10} {'images':>16}  screenshots")
        for mail in mails:
            images = sorted(folder.glob(f"{mail.name}-*.png"))
            image_bytes = sum(p.stat().st_size for p in images)
            shots = []
            for width in WIDTHS:
                png = args.out / f"{mail.name}-{width}.png"
                shown = screenshot(mail.html, width, png)
                state = "scrolls sideways" if shown.scrolls_sideways else "fits"
                shots.append(
                    f"{png.name} {png.stat().st_size:,} B {width}x{shown.height} {state}"
                )
            shutil.copy(mail.html, args.out / mail.html.name)
            for image in images:
                shutil.copy(image, args.out / image.name)
            print(
                f"{mail.name:<16} {mail.html_bytes:>10,} {len(images):>3} = {image_bytes:>8,} B"
                f"  {'; '.join(shots)}"
            )
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
