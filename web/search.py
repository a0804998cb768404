"""The dashboard's search box (#15): findings, access points, devices, stations and host names
holding every word typed, each linked to its page. The store's full-text index does the work
(appliance/store/search.py); the text typed is data, never query syntax, and what is shown comes
back through the autoescaped templates."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from appliance.store import search as fts
from web.routes.deps import SessionDep, WebDep

router = APIRouter()


@router.get("/search", include_in_schema=False)
def search_page(request: Request, w: WebDep, s: SessionDep) -> Response:
    # read from the query string ourselves: any text gets this page, never a 422
    q = request.query_params.get("q", "")
    hits: list[fts.Hit] = []
    error, status = "", 200
    if q.strip():
        try:
            fts.terms_of(q)
        except fts.SearchError as exc:
            error, status = str(exc), 400
        else:
            try:
                hits = w.store().read_with(lambda c: fts.search(c, q, fts.DEFAULT_LIMIT))
            except fts.SearchError as exc:
                error, status = str(exc), 503
    r = w.page(request, "search.html", s, q=q, hits=hits, error=error, searched=bool(
        q.strip()) and not error, limit=fts.DEFAULT_LIMIT, config=w.config)
    r.status_code = status
    return r
