"""The dashboard's search box (#15): findings, access points, devices, stations and host names
holding every word typed, each linked to its page. The store's full-text index does the work
(appliance/store/search.py); the text typed is data, never query syntax, and what is shown comes
back through the autoescaped templates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI, Request, Response

from appliance.config import Config
from appliance.store import search as fts
from web import security as sec


def register(app: FastAPI, config: Config, store: Callable[[], Any],
             page: Callable[..., Response], session: Any) -> None:
    @app.get("/search", include_in_schema=False)
    def search_page(request: Request, s: sec.Session = Depends(session)) -> Response:  # noqa: B008
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
                    hits = store().read_with(lambda c: fts.search(c, q, fts.DEFAULT_LIMIT))
                except fts.SearchError as exc:
                    error, status = str(exc), 503
        r = page(request, "search.html", s, q=q, hits=hits, error=error, searched=bool(
            q.strip()) and not error, limit=fts.DEFAULT_LIMIT, config=config)
        r.status_code = status
        return r
