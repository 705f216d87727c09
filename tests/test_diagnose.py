"""``explain`` says, for a text in which no trace was found, which language came closest."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import Bot
from triagebot.stack.diagnose import closest_miss, no_trace_reason

# .NET frames whose exception line was cut off by the reporter (the parser needs one).
HEADLESS = """Here is what the log says:
   at Acme.Billing.InvoiceService.Close(Invoice invoice)
   at Acme.Billing.InvoiceController.Post(Int32 id)
"""
# Go frames without their "panic:" line and goroutine header (the reporter copied two frames).
GO_HEADLESS = """main.loadConfig(0x0)
\t/home/user/tool/config.go:41 +0x1d
main.main()
\t/home/user/tool/main.go:12 +0x25
"""
JAVA_HEADLESS = """see below
\tat com.acme.shop.OrderService.close(OrderService.java:12)
\tat com.acme.shop.OrderController.post(OrderController.java:40)
\tat java.base/java.lang.Thread.run(Thread.java:833)
"""


def test_the_language_with_most_frame_lines_is_named() -> None:
    dotnet = closest_miss(HEADLESS)
    java = closest_miss(JAVA_HEADLESS)
    assert dotnet is not None and (dotnet.language, dotnet.frame_lines) == ("dotnet", 2)
    assert java is not None and (java.language, java.frame_lines) == ("java", 3)
    go = closest_miss(GO_HEADLESS)
    assert go is not None and (go.language, go.frame_lines) == ("go", 2)
    assert "no exception line" in go.why


def test_prose_has_no_closest_language() -> None:
    assert closest_miss("The app crashed at noon.\nPlease help.\n") is None
    assert no_trace_reason("hello") == "no line looks like a frame of any language"


def test_explain_prints_it(tmp_path: Path) -> None:
    mail = tmp_path / "headless.eml"
    head = b"From: a@b.example\nSubject: crash\nMessage-ID: <m1@b>\n\n"
    mail.write_bytes(head + GO_HEADLESS.encode())
    result = Bot(tmp_path).run("explain", "--json", str(mail))
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout.splitlines()[-1])
    assert record["kind"] == "other"
    assert record["no_trace"].startswith("closest: go (2 frame-like lines)")
