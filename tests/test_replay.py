"""The dry-run replay contract (DESIGN.md): inputs, one JSON line per message, in order."""

from __future__ import annotations

import json
import mailbox
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from triagebot.pipeline import Pipeline
from triagebot.replay import CHUNK, iter_paths, process_all

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "samples").glob("*.eml"))
#: DESIGN.md's fields, in its order; extras follow them.
ORDERED_KEYS = (
    "message_id",
    "kind",
    "signature",
    "title",
    "exception_type",
    "language",
    "frames",
    "rule",
    "action",
)
KEYS = set(ORDERED_KEYS)


def run_replay(*args: str) -> tuple[list[dict[str, object]], str]:
    done = subprocess.run(
        [sys.executable, "-m", "triagebot.cli", "replay", "--dry-run", *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return [json.loads(line) for line in done.stdout.splitlines()], done.stderr


@pytest.fixture
def maildir(tmp_path: Path) -> Path:
    box = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True)
    for index, sample in enumerate(SAMPLES):
        shutil.copy(sample, box / ("new" if index % 2 else "cur") / f"{index:03d}.eml")
    return box


class TestContract:
    def test_eml_files_give_one_json_object_each_in_order(self) -> None:
        records, stderr = run_replay("--json", *map(str, SAMPLES))
        assert len(records) == len(SAMPLES)
        assert all(set(r) >= KEYS for r in records)
        assert all(r["kind"] == "error_report" and r["action"] == "candidate" for r in records)
        assert len({r["signature"] for r in records}) == 5
        assert '"event": "replay.done"' in stderr  # logs go to stderr, not stdout

    def test_json_keys_follow_the_design_order_with_extras_after(self) -> None:
        records, _ = run_replay("--json", str(SAMPLES[0]))
        (record,) = records
        keys = list(record)
        assert tuple(keys[: len(ORDERED_KEYS)]) == ORDERED_KEYS
        assert keys[len(ORDERED_KEYS) :] == ["signature_version", "reason", "metadata"]

    def test_maildir_mbox_and_garbage_in_one_run(self, maildir: Path, tmp_path: Path) -> None:
        """A bad message never stops the run and still gets its line."""
        mbox_path = tmp_path / "reports.mbox"
        box = mailbox.mbox(mbox_path)
        for sample in SAMPLES[:3]:
            box.add(sample.read_bytes())
        box.close()
        garbage = tmp_path / "garbage.eml"
        garbage.write_bytes(b"\x00\xff\xfe garbage without headers")
        records, _ = run_replay("--json", str(maildir), str(mbox_path), str(garbage))
        assert len(records) == len(SAMPLES) + 3 + 1
        assert records[-1]["kind"] == "invalid"
        assert str(records[-1]["message_id"]).startswith("sha256:")
        assert records[-1]["signature"] is None
        assert [r["signature"] for r in records[-4:-1]] == [
            r["signature"] for r in run_replay("--json", *map(str, SAMPLES[:3]))[0]
        ]

    def test_summary_lists_groups(self) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "triagebot.cli", "replay", "--dry-run", "samples"],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        assert done.stdout.startswith("12 messages (12 error_report); 5 distinct signatures")
        assert "NullReferenceException in CaseViewModel.LoadAsync" in done.stdout

    def test_without_dry_run_refuses(self) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "triagebot.cli", "replay", "samples"],
            check=False,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert done.returncode == 2
        assert "--dry-run" in done.stderr


class TestParallel:
    def test_worker_processes_keep_input_order(self) -> None:
        """Several chunks through two workers give exactly the single-process output."""
        raws = [p.read_bytes() for p in SAMPLES]
        messages = [
            (
                f"m{i}",
                raws[i % len(raws)].replace(b"Message-ID: <", f"Message-ID: <{i}.".encode(), 1),
            )
            for i in range(CHUNK * 3 + 7)
        ]
        pipeline = Pipeline.default()
        single = [(n, line.json) for n, line in process_all(pipeline, messages, jobs=1)]
        parallel = [(n, line.json) for n, line in process_all(pipeline, messages, jobs=2)]
        assert parallel == single
        assert len(single) == CHUNK * 3 + 7
        prefixes = [str(json.loads(j)["message_id"]).split(".", 1)[0] for _, j in single]
        assert prefixes == [str(i) for i in range(CHUNK * 3 + 7)]

    def test_iter_paths_reads_maildir_new_then_cur(self, maildir: Path) -> None:
        names = [Path(name).parent.name for name, _ in iter_paths([maildir])]
        assert names == sorted(names, key=lambda n: n != "new")
        assert len(names) == len(SAMPLES)
