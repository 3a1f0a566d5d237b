"""A unit of work for DynamoDB: collect the operations of one change, name the error each
condition stands for, commit them as one TransactWriteItems (all or nothing)."""

from __future__ import annotations

from typing import Any

from chalicelib.core.errors import AppError, Conflict
from chalicelib.repositories.dynamo import ConditionFailed, Table


class Transaction:
    def __init__(self, table: Table) -> None:
        self._table = table
        self._operations: list[dict[str, Any]] = []
        self._errors: dict[int, AppError] = {}

    def add(self, *operations: dict[str, Any], on_condition_failed: AppError | None = None) -> None:
        for operation in operations:
            if on_condition_failed is not None:
                self._errors[len(self._operations)] = on_condition_failed
            self._operations.append(operation)

    def __len__(self) -> int:
        return len(self._operations)

    def commit(self) -> None:
        if not self._operations:
            return
        try:
            self._table.transact(self._operations)
        except ConditionFailed as failure:
            for index in failure.failed:
                if index in self._errors:
                    raise self._errors[index] from None
            raise Conflict(
                "Someone changed this at the same moment; read it again and retry.", "concurrent_change"
            ) from None
