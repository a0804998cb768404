"""Response models of the JSON API (/api/): what web/openapi.json describes. Rows whose columns
vary with the data (findings in a list, access points, devices, probe runs) are objects; the
documents' top level is named and typed. Extra keys pass through (`extra="allow"`): the models
describe, they do not cut."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Row = dict[str, Any]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow")


class Health(BaseModel):
    status: str = Field(description='"ok" while the service answers')


class Overview(_Doc):
    estimate: Row = Field(description="the compliance estimate (score, confidence)")
    grades: Row
    axes: list[Row]
    actions: list[Row] = Field(description="what to do first")
    trend: list[Row] = Field(description="open findings per day")
    summary: dict[str, Row] = Field(description="the estimate in a sentence, per language")
    categories: list[Row]
    open: dict[str, int] = Field(description="open findings per severity")
    changes: list[Row] = Field(description="finding changes of the last 24 hours")
    agent: Row | None = Field(description="the agent's last heartbeat")
    probe: Row | None = Field(description="the last probe cycle")
    reminders: list[Row]
    todo: list[Row]


class FindingList(_Doc):
    total: int
    findings: list[Row]


class Finding(_Doc):
    id: int
    rule: str
    measure: str
    severity: str
    subject: str
    status: str
    title_ja: str
    title_en: str
    first_seen: float
    last_seen: float
    count: int
    evidence: Row
    history: list[Row] = Field(default_factory=list, description="status changes, oldest first")


class StatusChange(BaseModel):
    status: str = Field(pattern="^(acknowledged|resolved)$")
    note: str = Field(default="", max_length=500)


class StatusChanged(BaseModel):
    id: int
    status: str


class Compliance(_Doc):
    framework: str
    date: str
    measures: list[Row]
    axes: list[Row]
    grades: Row
    estimate: Row
    reminders: list[Row]


class AccessPoints(_Doc):
    access_points: list[Row]


class Devices(_Doc):
    total: int
    devices: list[Row]


class Probes(_Doc):
    runs: list[Row]
    scope: list[str]


class Exports(_Doc):
    exports: list[Row]


class System(_Doc):
    cpu_percent: float
    temperatures: dict[str, float]
    memory: Row
    disk: Row
    load: list[float]
    uptime_s: float
    interfaces: list[Row]


class Status(_Doc):
    facility: Row
    agent: Row | None
    counts: Row
    open_findings: Row


class Command(BaseModel):
    """A request the dashboard made of the agent, and what came of it."""
    id: int
    kind: str = Field(description="probe_now, test_alert, survey_start, survey_stop, "
                                  "run_export")
    state: str = Field(description="pending, running, done or failed")
    requested_by: str
    requested_at: float
    started_at: float | None
    finished_at: float | None
    args: Row
    outcome: Row


class Commands(BaseModel):
    commands: list[Command]


class StatusError(BaseModel):
    error: str
