"""A background job as it is kept and shown (`GET /admin/jobs/{id}`): its kind, status, progress
and the checkpoint its next step starts from; shared by the layers that store, run and show jobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

FINISHED = ("succeeded", "failed")


@dataclass(frozen=True)
class Job:
    id: str
    domain: str
    kind: str
    status: str  # queued | running | succeeded | failed
    done: int
    total: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    checkpoint: str = ""  # where the next step starts ("" = the beginning)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED
