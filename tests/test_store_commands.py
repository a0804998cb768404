"""The commands table: the dashboard's requests wait for the agent; one open request per kind."""

from __future__ import annotations

from pathlib import Path

from appliance.store import Store
from appliance.store import commands as cmds

PROBE = cmds.CommandKind.PROBE_NOW


def test_request_claim_finish(tmp_path: Path) -> None:
    with Store(tmp_path / "og.db") as st:
        cid, new = st.write(lambda c: cmds.request(c, PROBE, {}, "admin", 1.0))
        assert new
        again, new2 = st.write(lambda c: cmds.request(c, PROBE, {}, "bob", 2.0))
        assert (again, new2) == (cid, False)
        other, _ = st.write(lambda c: cmds.request(c, cmds.CommandKind.TEST_ALERT,
                                                   {"lang": "ja"}, "admin", 3.0))
        assert other != cid
        first = st.write(lambda c: cmds.claim_next(c, 4.0))
        assert first is not None and first.id == cid and first.state == cmds.CommandState.RUNNING
        # while it runs, a new request of the same kind joins it
        assert st.write(lambda c: cmds.request(c, PROBE, {}, "x", 5.0))[0] == cid
        st.write(lambda c: cmds.finish(c, cid, True, {"cycle": 7}, 6.0))
        done = st.read_with(lambda c: cmds.get(c, cid))
        assert done is not None and done.state == cmds.CommandState.DONE
        assert done.outcome == {"cycle": 7} and done.finished_at == 6.0
        nxt = st.write(lambda c: cmds.claim_next(c, 7.0))
        assert nxt is not None and nxt.kind == cmds.CommandKind.TEST_ALERT
        assert nxt.args == {"lang": "ja"}
        # a probe asked after the first finished is a new request
        assert st.write(lambda c: cmds.request(c, PROBE, {}, "x", 8.0))[1]
        assert st.write(lambda c: cmds.abandon_running(c, 9.0)) == 1
        failed = st.read_with(lambda c: cmds.get(c, nxt.id))
        assert failed is not None and failed.state == cmds.CommandState.FAILED
        assert "stopped" in failed.outcome["error"]
        kinds = [r.kind for r in st.read_with(lambda c: cmds.recent(c))]
        assert kinds[0] == cmds.CommandKind.PROBE_NOW and len(kinds) == 3
