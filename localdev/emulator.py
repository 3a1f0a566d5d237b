"""moto server, as `make run` and the e2e tests start it, with one fix: a DynamoDB Query of the
table (not of an index) reads only its own partition.

moto 5.2.5 answers every Query by listing and sorting *all* items of the table, then keeping the
partition asked for: a Query costs O(table), and while a large import writes, a Query iterating
the table meets a dict changing size and answers 500. AWS reads the partition. This patch gives
moto the partition's items (already sorted, and for a `begins_with` only those with the prefix;
moto checks every condition again) when the query names no index; index queries, scans and
everything else are moto's own. Semantics are unchanged, only the cost.

Run: `python -m localdev.emulator -H 127.0.0.1 -p 4566` (the arguments of moto.server).
"""

from __future__ import annotations

import sys
import threading
from typing import Any

_partition = threading.local()  # the hash key a Query of this thread reads, while it runs


def patch_moto_query() -> None:
    from moto.dynamodb.models.table import Table

    read_all = Table.all_items
    query = Table.query

    def all_items(self: Any) -> list[Any]:
        wanted = getattr(_partition, "key", None)
        if wanted is None or id(getattr(_partition, "table", None)) != id(self):
            return read_all(self)
        partition = self.items.get(wanted)
        if partition is None:
            return []
        if not self.range_key_attr:
            return [partition]
        items = list(partition.values())
        prefix = getattr(_partition, "prefix", None)
        if prefix is not None:  # begins_with: moto checks it again; this only skips a full sort
            items = [item for item in items if str(item.range_key.cast_value).startswith(prefix)]
        # Sorted by the plain value (fast), so that moto's own sort meets an ordered list.
        return sorted(items, key=lambda item: item.range_key.cast_value)

    def partition_query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        if index_name or hash_key is None:
            return query(self, hash_key, *args, **kwargs)
        comparison: Any = args[0] if len(args) > 1 else None
        values: Any = args[1] if len(args) > 1 else None
        begins_with = comparison == "BEGINS_WITH" and values and isinstance(values[0].cast_value, str)
        _partition.key, _partition.table = hash_key, self
        _partition.prefix = values[0].cast_value if begins_with else None
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            _partition.key = _partition.table = _partition.prefix = None

    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = partition_query  # type: ignore[method-assign]


def main() -> None:
    patch_moto_query()
    from moto.server import main as moto_main

    moto_main(sys.argv[1:])


if __name__ == "__main__":
    main()
