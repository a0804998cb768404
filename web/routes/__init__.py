"""The dashboard's routes, one APIRouter per resource (web/app.py includes them, in
`ROUTERS`): auth (login, setup, language, logout), overview, findings, measures, wifi,
devices, probes, exports, settings (users, test alert, system), api (JSON, with response
models); web/rental.py and web/routes_compliance.py are routers too. What they share (the
per-app context, the session and admin dependencies, the page renderer) is web/routes/deps.py.
This package imports nothing itself, so a route module importing deps makes no cycle."""
