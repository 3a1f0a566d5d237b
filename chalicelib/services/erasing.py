"""The paging and checkpoint routine of the jobs that erase data: a user's deletion
(services/user_deletion.py) and a domain's (services/domain_purge.py).

A job is a list of phases. A step runs phases in order until its budget of deleted items is
spent, each phase reading one page at a time (PAGE items, one Query) from the cursor it saved;
the Eraser (repositories/erasure.py) batches the deletes, 25 a BatchWriteItem and 1 000 objects
a DeleteObjects, and is flushed before the checkpoint is saved. A phase answers True once it has
nothing left; it must delete only what its reads still show, so that a step delivered twice
deletes nothing twice."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chalicelib.core.config import get_settings
from chalicelib.repositories.dynamo import Item
from chalicelib.repositories.erasure import Eraser
from chalicelib.repositories.integrations import IntegrationRepository
from chalicelib.repositories.jobs import Job
from chalicelib.services.integrations import hook_secret
from chalicelib.services.jobs import StepOutcome

PAGE = 1000  # items read a Query (well under DynamoDB's 1 MB page for these items)


@dataclass
class Progress:
    """Where a step is: the phase, a Query cursor within it, what else the phase keeps between
    steps (`state`), and the budget left."""

    phase: int
    cursor: dict[str, Any] | None
    budget: int
    state: dict[str, Any] = field(default_factory=dict)
    deleted: int = 0  # table items
    objects: int = 0  # S3 objects (beside those an item named)
    units: int = 0  # the job's own unit of progress, when it is not items (a domain's partitions)

    @property
    def page_size(self) -> int:
        """Items to read next: a full page, or what the budget has left."""
        return min(PAGE, max(self.budget, 1))

    def spend(self, count: int) -> None:
        self.deleted += count
        self.budget -= count

    def spend_objects(self, count: int) -> None:
        self.objects += count
        self.budget -= count

    def next_phase(self) -> None:
        self.phase, self.cursor, self.state = self.phase + 1, None, {}


Phase = Callable[[Job, Eraser, Progress], bool]


def run_step(job: Job, phases: Sequence[Phase], eraser: Eraser, count_units: bool = False) -> StepOutcome:
    """One step of an erasing job: phases from the job's checkpoint until the budget of
    `delete_step_items` deletes is spent, then the checkpoint of where it stopped. The job's
    progress counts items deleted, or with `count_units` the units its phases count."""
    saved: dict[str, Any] = json.loads(job.checkpoint) if job.checkpoint else {"phase": 0, "cursor": None}
    progress = Progress(
        saved["phase"],
        saved["cursor"],
        get_settings().delete_step_items,
        saved.get("state") or {},
    )
    while progress.phase < len(phases) and progress.budget > 0:
        if phases[progress.phase](job, eraser, progress):
            progress.next_phase()
    eraser.flush()
    finished = progress.phase == len(phases)
    saving: dict[str, Any] = {"phase": progress.phase, "cursor": progress.cursor}
    if progress.state:
        saving["state"] = progress.state
    result = {"deleted_items": int(job.result.get("deleted_items", 0)) + progress.deleted}
    if progress.objects or "deleted_objects" in job.result:
        result["deleted_objects"] = int(job.result.get("deleted_objects", 0)) + progress.objects
    done = progress.units if count_units else progress.deleted
    return StepOutcome(
        done=done, checkpoint=json.dumps(saving, sort_keys=True), finished=finished, result=result
    )


def erase_pages(
    eraser: Eraser, progress: Progress, partition: str, index: str | None, erase: Callable[[Item], int]
) -> bool:
    """One page of a partition or index from the step's cursor, each item through `erase`
    (which answers how many items it deleted); True once the partition is exhausted."""
    page = eraser.page(partition, progress.page_size, progress.cursor, index=index)
    for item in page.items:
        progress.spend(erase(item))
    progress.cursor = page.cursor
    return page.cursor is None


def delete(eraser: Eraser, item: Item) -> int:
    eraser.delete_item(item)
    return 1


def all_items(eraser: Eraser, partition: str, index: str | None = None) -> list[Item]:
    items: list[Item] = []
    cursor = None
    while True:
        page = eraser.page(partition, PAGE, cursor, index=index)
        items += page.items
        if page.cursor is None:
            return items
        cursor = page.cursor


def integration_lookups(item: Item) -> list[tuple[str, str]]:
    """The items above the tenants that an integration item owns: its webhook lookup and its
    Slack channel's (they name no domain, so only the integration leads to them)."""
    if item.get("type") != "integration":
        return []
    return IntegrationRepository.lookup_keys(item, hook_secret(IntegrationRepository.from_item(item)))
