"""The guideline's measures: the list by category and one measure with its checks (attesting
with evidence is web/routes_compliance.py)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from web import data
from web.routes.deps import SessionDep, WebDep

router = APIRouter()


@router.get("/measures/{mid}", include_in_schema=False)
def measure_page(request: Request, mid: str, w: WebDep, s: SessionDep,
                 error: str = Query("", max_length=500), attested: int = 0) -> Response:
    doc = w.compliance_doc()
    m = next((x for x in doc["measures"] if x["measure"] == mid), None)
    if m is None:
        raise HTTPException(404)
    spec = w.catalog.measure(mid)
    return w.page(request, "measure.html", s, m=m, estimate=doc["estimate"], error=error,
                  attested=attested, unidentified=spec.unidentified,
                  may_be_na=bool(spec.not_applicable),
                  attest_checks=[c for c in m["checks"] if c["kind"] == "attest"])


@router.get("/measures", include_in_schema=False)
def measures_page(request: Request, w: WebDep, s: SessionDep) -> Response:
    doc = w.compliance_doc()
    return w.page(request, "measures.html", s, doc=doc, cats=data.categories(doc, w.catalog))
