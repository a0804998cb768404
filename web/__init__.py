"""OfficeGuard web: the facility manager's dashboard and JSON API."""
