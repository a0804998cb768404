"""The web service, as a factory: `create_app(config)`.

Until the dashboard lands this serves only a health check and a status summary with counts
(no addresses, no MACs), and binds to loopback by default: there is no login yet, so nothing
personal may be served.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from appliance.config import Config
from appliance.status import StatusError, status_summary


def create_app(config: Config) -> FastAPI:
    app = FastAPI(title="OfficeGuard", version="0.1.0", docs_url=None, redoc_url=None)
    app.state.config = config

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/status", response_model=None)
    def api_status() -> Any:
        try:
            doc = status_summary(config)
        except StatusError as exc:
            return JSONResponse({"error": str(exc)}, status_code=503)
        return {
            "facility": doc["facility"],
            "agent": {k: doc["agent"].get(k) for k in ("running", "heartbeat_at", "sensors")}
            if doc["agent"] else None,
            "counts": doc["counts"],
            "open_findings": doc["open_findings"],
        }

    return app
