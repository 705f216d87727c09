"""An upgraded signature algorithm files no known bug again (DESIGN.md "Signature"): the
pipeline signs with the older registered versions too, and the store links each new-version
signature to the defect its report's old signature points to. The second version exists only
in this test (``v2``: fewer in-app frames count)."""

from __future__ import annotations

import pytest

from tests.factories import variant
from tests.helpers import RULES, samples
from triagebot.config import config_from_dict
from triagebot.daemon import handle_batch
from triagebot.mail.source import Incoming
from triagebot.pipeline import Pipeline
from triagebot.stack.signature import SIGNATURE_VERSIONS, SignatureVersion, older_versions
from triagebot.store import Store


@pytest.fixture
def v2(monkeypatch: pytest.MonkeyPatch) -> str:
    """Register a second algorithm for this test only: at most one in-app frame counts."""
    v1 = SIGNATURE_VERSIONS["v1"]
    monkeypatch.setitem(
        SIGNATURE_VERSIONS, "v2", SignatureVersion("v2", v1.library_file, max_app_frames=1)
    )
    return "v2"


def pipeline(version: str) -> Pipeline:
    config = config_from_dict({"rules": {"path": str(RULES)}, "signature": {"version": version}})
    return Pipeline.from_config(config)


def test_older_versions_are_those_registered_before(v2: str) -> None:
    """v2 is signed with v1 too; v1 (and an unknown version) with nothing else."""
    assert older_versions(v2) == ("v1",)
    assert older_versions("v1") == ()
    assert pipeline("v1").older_signers == ()


def test_upgrade_links_instead_of_filing_again(store: Store, v2: str) -> None:
    """The same reports under v2 give new signatures but no new defect; counts go on and
    each defect lists both signatures."""
    mails = samples()
    handle_batch(pipeline("v1"), store, "test", [Incoming(n, raw) for n, raw in mails])
    before = {d.id: d for d in store.defects()}
    assert before and all(len(d.signatures) == 1 for d in before.values())

    upgraded = pipeline(v2)
    again = [Incoming(f"again-{i}", variant(raw, i)) for i, (_, raw) in enumerate(mails)]
    analysed = [upgraded.analyse(m.raw) for m in again]
    signed = [o for o in analysed if o.signature is not None]
    assert {o.signature.version for o in signed} == {v2}  # type: ignore[union-attr]
    assert all([p.version for p in o.previous] == ["v1"] for o in signed)
    handle_batch(upgraded, store, "test", again)

    after = {d.id: d for d in store.defects()}
    assert after.keys() == before.keys()
    for defect_id, old in before.items():
        new = after[defect_id]
        assert new.occurrences == 2 * old.occurrences
        assert new.signatures[0] == old.signatures[0]
        assert len(new.signatures) == 2
    v1_sigs = {s for d in before.values() for s in d.signatures}
    v2_sigs = {o.signature.value for o in signed}  # type: ignore[union-attr]
    assert v2_sigs.isdisjoint(v1_sigs)
    since = min(d.first_seen for d in before.values())
    for defect in after.values():  # counts by the new signature include the old occurrences
        assert store.count(defect.signatures[1], since) == defect.occurrences
