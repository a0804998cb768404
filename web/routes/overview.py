"""The overview: the compliance estimate, what to do first, recent changes, the agent."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from appliance.compliance import todo_list
from web import data
from web.routes.deps import SessionDep, Web, WebDep

router = APIRouter()


async def overview_doc(w: Web) -> dict[str, Any]:
    # the compliance evaluation (every `compliance_ttl_s` at most) runs in a worker thread;
    # the rest are index lookups, done in the event loop
    doc = await asyncio.to_thread(w.compliance_doc)
    since = time.time() - 86400
    counts = {**dict.fromkeys(data.SEVERITIES, 0), **w.counts_for("active", "", "")}
    changes, agent, probe, actions, trend = w.store().read_with(lambda c: (
        data.changes_since(c, since), data.agent_state(c), data.last_probe(c),
        data.top_actions(c, doc, w.catalog),
        data.open_trend(c, time.time(), w.config.web.timezone, sum(counts.values()))))
    return {"estimate": doc["estimate"], "grades": doc["grades"], "axes": doc["axes"],
            "actions": actions,
            "trend": trend, "summary": {lg: data.estimate_sentence(doc, lg, w.catalog)
                                        for lg in ("ja", "en")},
            "categories": data.categories(doc, w.catalog), "open": counts,
            "changes": changes, "agent": agent, "probe": probe, "reminders":
            doc["reminders"], "todo": todo_list(doc, 30)}


@router.get("/", include_in_schema=False)
async def overview(request: Request, w: WebDep, s: SessionDep) -> Response:
    return w.page(request, "overview.html", s, o=await overview_doc(w),
                  facility=w.config.facility)
