"""OfficeGuard shared core: config, guideline catalog, store, findings, CLI."""

__version__ = "0.1.0"
