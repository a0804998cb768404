"""Wi-Fi: access points, the signal chart, Wi-Fi findings, and leakage surveys (3-③), which
the agent starts and stops when asked."""

from __future__ import annotations

import time

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from appliance.store.commands import CommandKind
from web import charts, data
from web import commands as asks
from web.routes.deps import AdminDep, SessionDep, WebDep

router = APIRouter()


@router.get("/wifi", include_in_schema=False)
def wifi_page(request: Request, w: WebDep, s: SessionDep) -> Response:
    config = w.config
    aps, wf, sv, cmd = w.store().read_with(lambda c: (
        data.access_points(c, config), data.wifi_findings(c), data.surveys(c),
        asks.latest(c, CommandKind.SURVEY_START, CommandKind.SURVEY_STOP)))
    fac = [a for a in aps if a["facility"]][:8]
    # the last day of readings: now for a live radio, the capture's day for an ingest
    latest = w.store().read_with(lambda c: data.latest_rssi(c, [a["bssid"] for a in fac]))
    end = time.time() if latest is None or latest > time.time() - 3600 else latest + 60
    since = end - 86400
    series = w.store().read_with(lambda c: {a["bssid"]: data.rssi_series(c, a["bssid"], since)
                                            for a in fac})
    chart = charts.rssi_svg(series, {a["bssid"]: a["ssid"] for a in fac}, since, end)
    window = None if end >= time.time() - 60 else (since, end)
    return w.page(request, "wifi.html", s, aps=aps, findings=wf, surveys=sv, chart=chart,
                  cmd=cmd, has_series=any(series.values()),
                  has_ssids=bool(config.facility.ssids), window=window)


@router.post("/wifi/surveys", include_in_schema=False)
def survey_action(w: WebDep, s: AdminDep, csrf: str = Form(""),
                  action: str = Form(..., pattern="^(start|stop)$"),
                  label: str = Form("", max_length=100),
                  location: str = Form("outside", pattern="^(outside|inside)$"),
                  seconds: float = Form(0, ge=0, le=86400)) -> Response:
    """The agent starts or stops the survey (a command it drains within a second)."""
    w.check_csrf(s, csrf, None)
    if action == "start":
        if not label.strip():
            raise HTTPException(400, "a survey needs a label")
        asks.ask(w.store(), CommandKind.SURVEY_START, {
            "label": label.strip(), "location": location, "seconds": seconds or None},
            s.username)
    else:
        asks.ask(w.store(), CommandKind.SURVEY_STOP, {}, s.username)
    return RedirectResponse("/wifi", status_code=303)
