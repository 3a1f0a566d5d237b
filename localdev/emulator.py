"""moto server as `make run`, the e2e tests and bench/import_bench.py start it, with moto 5.2.5's
costs that grow with the table (or quadratically with an item) made per item, as they are in AWS:

- Query reads its partition (an index Query: the items of the index key asked), and of a sorted
  partition only the stretch moto's walk looks at (patch_queries);
- TransactWriteItems backs up, for its rollback, the items it writes, not its tables
  (patch_transactions);
- an item's size is summed once when it is built, not once per attribute (patch_item_size_check);
- what is alive is frozen out of Python's full collections every few seconds (freeze_heap_often).

Every answer stays moto's own: tests/integration/test_emulator.py compares them with unpatched
moto. Unfixed, a large import takes minutes per thousand rows and calls pass the app's 10 s read
timeout.

A second set of patches (patch_dynamodb_checks) makes moto refuse what DynamoDB refuses and moto
lets through, with DynamoDB's error code and message: a Query's ExclusiveStartKey outside its key
condition, and key values over DynamoDB's sizes in every call that names a key. `make run`, the
e2e tests and tests/conftest.py's in-process moto (aws_env) all apply them, so the test suite
fails where AWS would answer a ValidationException (a 500 of ours).

A third (patch_atomic_requests) runs each DynamoDB request under one lock: moto has none, so
under concurrent requests two conditional Puts of one key could both succeed, as DynamoDB never
lets them.

A fourth (patch_s3_events) completes moto's S3 event notifications as S3 sends them: moto 5.2.5's
records (moto/s3/notifications.py `_get_s3_event`) carry the object's key, size and eTag only.
S3 adds `sequencer` to every ObjectCreated/ObjectRemoved record (an opaque hex string; of two
events of one key, the later has the greater, compared as strings of the same length) and
`versionId` where the bucket's versioning is Enabled. The imports (API.md §7) tell a new object
from a second delivery of one event by them, so `make run`, the e2e tests and aws_env all apply
it: here the sequencer is a 16-hex-digit, zero-padded count of microseconds that never repeats
or goes back in this process (two PUTs in one microsecond still get growing values), one per
event, shared by every notification of it; the versionId is moto's own of the key it stored.

A fifth (patch_presigned_urls) checks presigned S3 requests as S3 does (localdev/presigned.py):
moto takes a presigned URL whatever its signature, S3 refuses (403, its XML error) an expired one
and a request without the headers the URL signs, or with other values: an upload of another
Content-Type or Content-Length, or without the `x-amz-tagging` a HIPAA domain's URL signs.

Run: `python -m localdev.emulator -H 127.0.0.1 -p 4566` (the arguments of moto.server);
`python -m moto.server` is the same emulator unpatched.
"""

from __future__ import annotations

import bisect
import copy
import gc
import inspect
import itertools
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

SetAttribute = Callable[[Any, str, Any], None]

ITEM_SIZE_LIMIT = 405_000  # moto's LimitedSizeDict (AWS says 400 KB; moto measured 409-410)
HEAP_FREEZE_SECONDS = 5.0


def patch_moto(set_attribute: SetAttribute = setattr) -> None:
    """Applies the three patches (tests pass monkeypatch.setattr, which undoes them)."""
    patch_item_size_check(set_attribute)
    patch_transactions(set_attribute)
    patch_queries(set_attribute)


# --- item size -----------------------------------------------------------------------------------


def patch_item_size_check(set_attribute: SetAttribute = setattr) -> None:
    """moto's Item.__init__ stores each attribute through LimitedSizeDict.__setitem__, which sums
    the sizes of all the attributes already there: building an item is quadratic in its attribute
    count. Here Item.__init__ keeps the running sum of the same sizes and raises the same
    ItemSizeTooLarge at the same attribute (sizes are never negative, so a prefix over the limit is
    the first one moto sees over it). __setitem__ itself stays moto's: UpdateItem's SET of a
    top-level attribute goes through it and is checked as before, against sizes summed afresh
    (a running size on the dict would go stale, as a nested SET changes a value in place)."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    def __init__(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        self.attrs = LimitedSizeDict()
        size = 0
        for key, value in attrs.items():
            attribute = DynamoType(value)
            size += bytesize(str(key)) + attribute.size()  # as LimitedSizeDict measures them
            if size > ITEM_SIZE_LIMIT:
                raise ItemSizeTooLarge
            dict.__setitem__(self.attrs, key, attribute)

    set_attribute(Item, "__init__", __init__)


# --- transactions --------------------------------------------------------------------------------


def patch_transactions(set_attribute: SetAttribute = setattr) -> None:
    """moto's TransactWriteItems deep-copies each table it names, once per operation, so that it
    can put the copies back when it fails: O(operations x table) for every transaction. Here its
    backend's `copy` leaves a Table as it is, and the items the operations may write (and the
    tables' stream records) are backed up instead, and put back where moto would put the tables
    back: on a TransactionCanceledException and on the validation errors raised inside its loop.
    A failed transaction leaves every item as it was, as before."""
    import moto.dynamodb.models as backend_module
    from moto.dynamodb.exceptions import (
        MockValidationException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    transact = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        backup = _TransactionBackup(self.tables, transact_items)
        try:
            transact(self, transact_items)
        except (TransactionCanceledException, MockValidationException) as error:
            if not isinstance(error, TransactWriteSingleOpException):  # moto raises it unrolled
                backup.restore()
            raise

    set_attribute(backend_module, "copy", _TablesNotCopied(Table))
    set_attribute(DynamoDBBackend, "transact_write_items", transact_write_items)


class _TablesNotCopied:
    """The `copy` module as moto's DynamoDB backend sees it: a deep copy of a Table is the table."""

    def __init__(self, table_class: type) -> None:
        self._table_class = table_class

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, self._table_class) else copy.deepcopy(value, memo)


class _TransactionBackup:
    """The items a TransactWriteItems may write (None: absent) and its tables' stream records, as
    they were before it."""

    def __init__(self, tables: dict[str, Any], operations: Iterable[Any]) -> None:
        self.items: list[tuple[Any, Any, Any, Any]] = []
        self.streams: dict[int, tuple[Any, list[Any]]] = {}
        for operation in operations:
            self._save(tables, operation)

    def _save(self, tables: dict[str, Any], operation: Any) -> None:
        try:
            ((kind, body),) = operation.items()
            table = tables.get(body["TableName"]) if kind != "ConditionCheck" else None
            key = _item_key(table, body["Item" if kind == "Put" else "Key"]) if table else None
        except Exception:  # an operation moto refuses before it writes anything
            return
        if table is None or key is None:
            return
        hash_key, range_key = key
        self.items.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
        if table.stream_shard is not None and id(table) not in self.streams:
            self.streams[id(table)] = (table.stream_shard, list(table.stream_shard.items))

    def restore(self) -> None:
        for table, hash_key, range_key, item in reversed(self.items):
            if range_key is None:
                _put_back(table.items, hash_key, item)
            else:
                _put_back(table.items[hash_key], range_key, item)
        for shard, records in self.streams.values():
            shard.items = records


def _item_key(table: Any, attributes: dict[str, Any]) -> tuple[Any, Any] | None:
    """(hash key, sort key or None) of the item these attributes name; None if they name none."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    if table.hash_key_attr not in attributes:
        return None
    if table.range_key_attr is None:
        return DynamoType(attributes[table.hash_key_attr]), None
    if table.range_key_attr not in attributes:
        return None
    return DynamoType(attributes[table.hash_key_attr]), DynamoType(attributes[table.range_key_attr])


def _put_back(items: dict[Any, Any], key: Any, item: Any) -> None:
    if item is None:
        items.pop(key, None)
    else:
        items[key] = item


# --- queries -------------------------------------------------------------------------------------


def patch_queries(set_attribute: SetAttribute = setattr) -> None:
    """moto answers a Query from `Table.all_items` (every item of the table, sorted), keeps the
    key asked and walks them from the first: O(table log table) per Query, and a page after an
    ExclusiveStartKey walks its partition up to the key. Here, while a Query runs, `all_items`
    gives only the items moto's walk looks at, in its order:
    - on the table: of its partition (sort keys kept in order until one is added or removed), by
      bisection, those after the ExclusiveStartKey within the key condition (Limit + 1 at most),
      and past the condition the first (after a full page moto gives a LastEvaluatedKey on it)
      or, when one more item could take the page past 1 MB, all; the whole partition where that
      is not certain (a QueryFilter, a sort key neither S nor N, an ExclusiveStartKey of another
      partition...);
    - on an index: the items of the index hash key asked, in all_items' order.
    moto checks, sorts, pages, filters and projects them itself; what is left out is what its walk
    would pass over without effect: the same answers."""
    from moto.dynamodb.models.table import Table

    table_init, table_query, all_items = Table.__init__, Table.query, Table.all_items
    query_arguments = inspect.signature(table_query)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        table_init(self, *args, **kwargs)
        self.items.default_factory = _Partition

    def items_of_this_query(self: Any) -> list[Any]:
        if getattr(_query, "table", None) is self:
            return _query.items  # type: ignore[no-any-return]
        return all_items(self)

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        given = query_arguments.bind(self, *args, **kwargs).arguments
        if given.get("index_name"):
            items = _index_items(self, given.get("hash_key_conditions") or [])
        else:
            items = _partition_items(self, given)
        if items is None:
            return table_query(self, *args, **kwargs)
        _query.table, _query.items = self, items
        try:
            return table_query(self, *args, **kwargs)
        finally:
            _query.table = _query.items = None

    set_attribute(Table, "__init__", __init__)
    set_attribute(Table, "all_items", items_of_this_query)
    set_attribute(Table, "query", query)


_query = threading.local()  # the table a Query of this thread reads, and the items it gets
_versions = itertools.count(1)


class _Partition(dict[Any, Any]):
    """A partition of a table with a sort key (sort key -> item), which keeps its sort keys in
    order until one is added or removed. A change takes a new version after it is made, and the
    order is read with the version taken before it: a concurrent change makes it stale, not
    wrong."""

    _version = 0
    _ordered: tuple[int, list[Any], list[Any]] | None = None

    def _changed(self) -> None:
        self._version = next(_versions)

    def __setitem__(self, key: Any, value: Any) -> None:
        added = key not in self
        super().__setitem__(key, value)
        if added:
            self._changed()

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(key)
        self._changed()

    def pop(self, *args: Any) -> Any:
        try:
            return super().pop(*args)
        finally:
            self._changed()

    def popitem(self) -> tuple[Any, Any]:
        try:
            return super().popitem()
        finally:
            self._changed()

    def clear(self) -> None:
        super().clear()
        self._changed()

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self._changed()

    def setdefault(self, key: Any, default: Any = None) -> Any:
        try:
            return super().setdefault(key, default)
        finally:
            self._changed()

    def ordered(self) -> tuple[list[Any], list[Any]]:
        version, ordered = self._version, self._ordered
        if ordered is None or ordered[0] != version:
            ordered = (version, *_in_order(self))
            self._ordered = ordered
        return ordered[1], ordered[2]


def _in_order(partition: dict[Any, Any]) -> tuple[list[Any], list[Any]]:
    """The partition's sort values in moto's order (DynamoType compares its cast_value), and their
    keys."""
    keys = list(partition)  # in one step: no write of another thread comes in between
    keys.sort(key=lambda key: key.cast_value)
    return [key.cast_value for key in keys], keys


def _partition_items(table: Any, given: dict[str, Any]) -> list[Any] | None:
    """What moto's walk of a table Query looks at, in order; None: moto's own (no hash key)."""
    from moto.dynamodb.models.dynamo_type import Item

    hash_key = given.get("hash_key")
    if hash_key is None:
        return None
    partition = table.items.get(hash_key)
    if table.range_key_attr is None:
        return [partition] if isinstance(partition, Item) else []
    if not isinstance(partition, dict):
        return []
    values, keys = partition.ordered() if isinstance(partition, _Partition) else _in_order(partition)
    stretches = _walked_stretches(table, values, given, partition, keys)
    if stretches is None:
        stretches = [(0, len(keys))]
    found = (partition.get(key) for start, stop in stretches for key in keys[start:stop])
    return [item for item in found if item is not None]  # None: deleted since


def _walked_stretches(
    table: Any, values: list[Any], given: dict[str, Any], partition: dict[Any, Any], keys: list[Any]
) -> list[tuple[int, int]] | None:
    """The index ranges of the sorted partition that moto's walk looks at, ascending; None when
    not certain. [low, high) is the key condition's; the walk starts after the ExclusiveStartKey."""
    key_type = table.range_key_type
    forward = given.get("scan_index_forward", True)
    limit = given.get("limit")
    if given.get("filter_kwargs") or key_type not in ("S", "N") or not isinstance(forward, bool):
        return None
    if limit is not None and (type(limit) is not int or limit < 1):
        return None
    condition = _key_condition_range(values, given.get("range_comparison"), given.get("range_objs"), key_type)
    start = _start_value(table, given["hash_key"], given.get("exclusive_start_key"))
    if condition is None or start is _NOT_CERTAIN:
        return None
    low, high = condition
    if forward:
        first = low if start is None else max(low, bisect.bisect_right(values, start))
        stop = high if limit is None else min(high, first + limit + 1)
        walked = (first, max(first, stop))
        if stop < high:  # Limit + 1 items within the condition: moto stops among them
            return [walked]
        past = max(high, first)
        return [walked, (past, min(len(values), past + _items_past(partition, keys, walked)))]
    end = high if start is None else min(high, bisect.bisect_left(values, start))
    begin = low if limit is None else max(low, end - limit - 1)
    walked = (min(begin, end), end)
    if begin > low:
        return [walked]
    past = min(low, end)
    return [(max(0, past - _items_past(partition, keys, walked)), past), walked]


def _items_past(partition: dict[Any, Any], keys: list[Any], walked: tuple[int, int]) -> int:
    """How many of the items past the key condition (in the walk's direction) can end the page:
    none if the walked ones pass 1 MB (moto stops among them), all if one more item could take
    the page past 1 MB, else the first (where Limit items were kept, it gives the
    LastEvaluatedKey). An item is at most ITEM_SIZE_LIMIT bytes: moto checks it on every write but
    UpdateItem's nested SET, which no item of AWS could pass."""
    from moto.dynamodb.models.table import RESULT_SIZE_LIMIT

    size = 0
    for key in keys[walked[0] : walked[1]]:
        item = partition.get(key)
        size += item.size() if item is not None else 0
        if size > RESULT_SIZE_LIMIT:
            return 0
    return len(keys) if size > RESULT_SIZE_LIMIT - ITEM_SIZE_LIMIT else 1


_NOT_CERTAIN = object()


def _start_value(table: Any, hash_key: Any, start_key: Any) -> Any:
    """The ExclusiveStartKey's sort value, None without one, _NOT_CERTAIN if it is not a key of
    this partition with a sort value of the table's type (moto then walks the whole partition)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    if start_key is None:
        return None
    try:
        start_hash = DynamoType(start_key[table.hash_key_attr])
        start_sort = DynamoType(start_key[table.range_key_attr])
    except Exception:
        return _NOT_CERTAIN
    if start_hash != hash_key:
        return _NOT_CERTAIN
    value = _sort_value(start_sort, table.range_key_type)
    return _NOT_CERTAIN if value is None else value


def _sort_value(value: Any, key_type: str) -> Any:
    """The value moto compares (cast_value) if it is a plain string or a finite number of the
    sort key's type; None otherwise."""
    from decimal import Decimal

    if getattr(value, "type", None) != key_type:
        return None
    try:
        cast = value.cast_value
    except Exception:
        return None
    if key_type == "S":
        return cast if isinstance(cast, str) else None
    return cast if isinstance(cast, Decimal) and cast.is_finite() else None


def _key_condition_range(
    values: list[Any], comparison: Any, operands: Any, key_type: str
) -> tuple[int, int] | None:
    """[low, high): the sorted values moto's comparison keeps (each comparison keeps a range of
    them); None for another comparison or operands of another type."""
    if not comparison:
        return 0, len(values)
    bounds = [_sort_value(operand, key_type) for operand in operands or []]
    if not bounds or any(bound is None for bound in bounds):
        return None
    below, above = bisect.bisect_left, bisect.bisect_right
    match comparison, bounds:
        case "=", [value]:
            return below(values, value), above(values, value)
        case "<", [value]:
            return 0, below(values, value)
        case "<=", [value]:
            return 0, above(values, value)
        case ">", [value]:
            return above(values, value), len(values)
        case ">=", [value]:
            return below(values, value), len(values)
        case "BETWEEN", [lower, upper]:
            low = below(values, lower)
            return low, max(low, above(values, upper))
        case "BEGINS_WITH", [str() as prefix]:
            past = _first_past_prefix(prefix)
            low = below(values, prefix)
            return low, (len(values) if past is None else below(values, past))
    return None


def _first_past_prefix(prefix: str) -> str | None:
    """The least string greater than every string that starts with `prefix` (None: there is
    none). The strings with a prefix are the range [prefix, this)."""
    kept = prefix.rstrip(chr(sys.maxunicode))
    return kept[:-1] + chr(ord(kept[-1]) + 1) if kept else None


def _index_items(table: Any, hash_conditions: list[tuple[str, Any]]) -> list[Any] | None:
    """The items an index Query keeps (all its hash key attributes equal to those asked), in the
    order of moto's all_items; None (moto's own) without hash key conditions."""
    from moto.dynamodb.models.dynamo_type import Item

    if not hash_conditions:
        return None

    def in_index(item: Any) -> bool:
        return all(
            (found := item.attrs.get(name)) is not None and found == value for name, value in hash_conditions
        )

    kept = [
        item
        for partition in list(table.items.values())
        for item in (list(partition.values()) if isinstance(partition, dict) else [partition])
        if isinstance(item, Item) and in_index(item)
    ]
    return sorted(kept, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)


# --- what DynamoDB refuses -----------------------------------------------------------------------

HASH_KEY_MAX_BYTES = 2048
RANGE_KEY_MAX_BYTES = 1024
# DynamoDB's own messages, as moto's HashKeyTooLong and RangeKeyTooLong word them (sic: "of2048").
HASH_KEY_TOO_LARGE = (
    "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit "
    f"of{HASH_KEY_MAX_BYTES} bytes"
)
RANGE_KEY_TOO_LARGE = (
    "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the "
    f"size limit of {RANGE_KEY_MAX_BYTES} bytes"
)
# A start key of another partition than the key condition's; one whose sort key is outside the
# condition's range (dynalite and DynamoDB Local word them so; AWS's own texts vary slightly).
START_KEY_OUTSIDE_QUERY = "The provided starting key is outside query boundaries based on provided conditions"
START_KEY_OUTSIDE_RANGE = "The provided starting key does not match the range key predicate"
START_KEY_INVALID = "The provided starting key is invalid"


class _Checks:
    """Whether the checks run (tests/integration/test_emulator.py compares the speed patches with
    moto as it is, checks off)."""

    enabled = True


dynamodb_checks = _Checks()


def patch_dynamodb_checks(set_attribute: SetAttribute = setattr) -> None:
    """moto 5.2.5 checks key sizes only where it stores an item (PutItem, and the Puts of
    BatchWriteItem and TransactWriteItems, one by one: a batch is half written when it refuses)
    and never checks a Query's ExclusiveStartKey against its key condition. DynamoDB refuses, with
    a ValidationException and nothing written:
    - a partition key over 2 048 bytes or a sort key over 1 024, in GetItem, PutItem, UpdateItem,
      DeleteItem, a Query's key condition, BatchGetItem, BatchWriteItem, TransactGetItems and
      TransactWriteItems (each batch or transaction checked whole before anything runs; an item's
      index keys too, as moto checks them on a Put);
    - a Query whose ExclusiveStartKey names another partition than the key condition's, or a sort
      key the condition's range does not hold (a cursor of another list or other filters).
    Valid requests are passed to moto untouched."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    backend_get, backend_update, backend_delete = (
        DynamoDBBackend.get_item,
        DynamoDBBackend.update_item,
        DynamoDBBackend.delete_item,
    )
    backend_put, backend_query = DynamoDBBackend.put_item, DynamoDBBackend.query
    query_arguments = inspect.signature(backend_query)

    def get_item(self: Any, table_name: str, keys: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        _check_key(self, table_name, keys)
        return backend_get(self, table_name, keys, *args, **kwargs)

    def update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        _check_key(self, table_name, key)
        return backend_update(self, table_name, key, *args, **kwargs)

    def delete_item(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        _check_key(self, table_name, key)
        return backend_delete(self, table_name, key, *args, **kwargs)

    def put_item(self: Any, table_name: str, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        _check_item(self, table_name, item_attrs)
        return backend_put(self, table_name, item_attrs, *args, **kwargs)

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        if dynamodb_checks.enabled:
            _check_query(self, query_arguments.bind(self, *args, **kwargs).arguments)
        return backend_query(self, *args, **kwargs)

    set_attribute(DynamoDBBackend, "get_item", get_item)
    set_attribute(DynamoDBBackend, "update_item", update_item)
    set_attribute(DynamoDBBackend, "delete_item", delete_item)
    set_attribute(DynamoDBBackend, "put_item", put_item)
    set_attribute(DynamoDBBackend, "query", query)
    for action, check in (
        ("batch_get_item", _check_batch_get),
        ("batch_write_item", _check_batch_write),
        ("transact_get_items", _check_transact_get),
        ("transact_write_items", _check_transact_write),
    ):
        set_attribute(DynamoHandler, action, _checked_first(getattr(DynamoHandler, action), check))


def _checked_first(handle: Callable[[Any], Any], check: Callable[[Any, dict[str, Any]], None]) -> Any:
    """A DynamoHandler action that checks the whole request before moto runs any of it."""

    def action(self: Any) -> Any:
        if dynamodb_checks.enabled:
            body = self.body if isinstance(self.body, dict) else {}
            check(self.dynamodb_backend, body)
        return handle(self)

    return action


def _value_size(value: Any) -> int:
    """A key value's size as DynamoDB counts it (UTF-8 bytes of a string, the bytes of a binary);
    0 for what is not a key value (moto answers those itself)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    if not isinstance(value, dict) or len(value) != 1:
        return 0
    try:
        return int(DynamoType(value).size())
    except Exception:
        return 0


def _check_sizes(attributes: Any, hash_names: Iterable[str], range_names: Iterable[str]) -> None:
    from moto.dynamodb.exceptions import MockValidationException

    if not isinstance(attributes, dict):
        return
    if any(_value_size(attributes.get(name)) > HASH_KEY_MAX_BYTES for name in hash_names):
        raise MockValidationException(HASH_KEY_TOO_LARGE)
    if any(_value_size(attributes.get(name)) > RANGE_KEY_MAX_BYTES for name in range_names):
        raise MockValidationException(RANGE_KEY_TOO_LARGE)


def _table(backend: Any, table_name: Any) -> Any:
    return backend.tables.get(table_name) if isinstance(table_name, str) else None


def _check_key(backend: Any, table_name: Any, key: Any) -> None:
    """A Key names the table's own key attributes."""
    table = _table(backend, table_name)
    if table is not None and dynamodb_checks.enabled:
        _check_sizes(key, [table.hash_key_attr], [table.range_key_attr] if table.range_key_attr else [])


def _check_item(backend: Any, table_name: Any, item: Any) -> None:
    """An item's key attributes: the table's and its indexes' (as moto checks a stored one)."""
    table = _table(backend, table_name)
    if table is not None and dynamodb_checks.enabled:
        _check_sizes(item, table.hash_key_names, table.range_key_names)


def _check_batch_get(backend: Any, body: dict[str, Any]) -> None:
    for table_name, request in (body.get("RequestItems") or {}).items():
        for key in (request or {}).get("Keys") or []:
            _check_key(backend, table_name, key)


def _check_batch_write(backend: Any, body: dict[str, Any]) -> None:
    for table_name, requests in (body.get("RequestItems") or {}).items():
        for request in requests or []:
            if not isinstance(request, dict):
                continue
            if "PutRequest" in request:
                _check_item(backend, table_name, (request["PutRequest"] or {}).get("Item"))
            if "DeleteRequest" in request:
                _check_key(backend, table_name, (request["DeleteRequest"] or {}).get("Key"))


def _check_transact_get(backend: Any, body: dict[str, Any]) -> None:
    for operation in body.get("TransactItems") or []:
        get = (operation or {}).get("Get") or {}
        _check_key(backend, get.get("TableName"), get.get("Key"))


def _check_transact_write(backend: Any, body: dict[str, Any]) -> None:
    for operation in body.get("TransactItems") or []:
        for kind, given in (operation or {}).items():
            request = given or {}
            if kind == "Put":
                _check_item(backend, request.get("TableName"), request.get("Item"))
            elif kind in ("Update", "Delete", "ConditionCheck"):
                _check_key(backend, request.get("TableName"), request.get("Key"))


def _check_query(backend: Any, given: dict[str, Any]) -> None:
    """The key condition's values within the key sizes; the ExclusiveStartKey within the
    condition: of its partition, and with a sort key the condition's range holds."""
    from moto.dynamodb.exceptions import MockValidationException
    from moto.dynamodb.models.dynamo_type import DynamoType

    hash_value = given.get("hash_key_dict")
    range_values = given.get("range_value_dicts") or []
    if _value_size(hash_value) > HASH_KEY_MAX_BYTES:
        raise MockValidationException(HASH_KEY_TOO_LARGE)
    if any(_value_size(value) > RANGE_KEY_MAX_BYTES for value in range_values):
        raise MockValidationException(RANGE_KEY_TOO_LARGE)
    start = given.get("exclusive_start_key")
    table = _table(backend, given.get("table_name"))
    if not start or table is None or not isinstance(hash_value, dict):
        return
    hash_name, range_name = _query_key_names(table, given.get("index_name"))
    if hash_name is None or not isinstance(start, dict):
        return
    if hash_name not in start or (range_name is not None and range_name not in start):
        raise MockValidationException(START_KEY_INVALID)
    if start[hash_name] != hash_value:
        raise MockValidationException(START_KEY_OUTSIDE_QUERY)
    comparison = given.get("range_comparison")
    if range_name is None or not comparison:
        return
    try:
        held = _holds(comparison, DynamoType(start[range_name]), [DynamoType(v) for v in range_values])
    except Exception:
        return  # moto answers a start key of the wrong type itself
    if held is False:
        raise MockValidationException(START_KEY_OUTSIDE_RANGE)


def _query_key_names(table: Any, index_name: Any) -> tuple[str | None, str | None]:
    """(partition key, sort key or None) of the table, or of the index a Query reads."""
    if not index_name:
        return table.hash_key_attr, table.range_key_attr
    try:
        schema = table.get_index(index_name).schema
    except Exception:
        return None, None
    names = {key["KeyType"]: key["AttributeName"] for key in schema}
    return names.get("HASH"), names.get("RANGE")


def _holds(comparison: str, value: Any, operands: list[Any]) -> bool | None:
    """Whether the key condition's range holds the sort value (None: a comparison not known)."""
    if any(operand.type != value.type for operand in operands):
        return None
    cast, bounds = value.cast_value, [operand.cast_value for operand in operands]
    match comparison, bounds:
        case "=", [bound]:
            return bool(cast == bound)
        case "<", [bound]:
            return bool(cast < bound)
        case "<=", [bound]:
            return bool(cast <= bound)
        case ">", [bound]:
            return bool(cast > bound)
        case ">=", [bound]:
            return bool(cast >= bound)
        case "BETWEEN", [lower, upper]:
            return bool(lower <= cast <= upper)
        case "BEGINS_WITH", [prefix]:
            return isinstance(cast, str) and isinstance(prefix, str) and cast.startswith(prefix)
    return None


# --- the heap ------------------------------------------------------------------------------------


def freeze_heap_often(seconds: float = HEAP_FREEZE_SECONDS) -> threading.Thread:
    """The emulator's heap grows by millions of objects (the items): Python's full collections
    walk them all and calls slow down with the table (some past the app's 10 s read timeout, then
    retried while the first attempt still runs). Moving what is alive to the permanent generation
    every few seconds keeps it out of the collections; nothing moto answers depends on it."""

    def freeze() -> None:
        while True:
            time.sleep(seconds)
            gc.freeze()

    thread = threading.Thread(target=freeze, name="gc-freeze", daemon=True)
    thread.start()
    return thread


# --- atomic requests ---------------------------------------------------------------------------

DATA_ACTIONS = (
    "get_item",
    "put_item",
    "update_item",
    "delete_item",
    "query",
    "scan",
    "batch_get_item",
    "batch_write_item",
    "transact_get_items",
    "transact_write_items",
)


def patch_atomic_requests(set_attribute: SetAttribute = setattr) -> None:
    """moto server answers requests on many threads and its DynamoDB has no lock: a conditional
    Put (or a transaction) checks its condition, and another request's write can land before it
    writes. Two `attribute_not_exists` Puts of one key then both succeed, which DynamoDB never
    allows: its conditional writes and transactions are atomic and isolated. Here one lock runs
    each DynamoDB request whole, so what the app's conditions guard holds under `make run`'s
    concurrent pump as it does on AWS."""
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.RLock()
    for action in DATA_ACTIONS:
        set_attribute(DynamoHandler, action, _under(lock, getattr(DynamoHandler, action)))


def _under(lock: Any, handle: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def action(self: Any) -> Any:
        with lock:
            return handle(self)

    return action


# --- S3 event notifications ------------------------------------------------------------------------


class _Sequencer:
    """S3's `sequencer` as this process makes it: 16 hex digits of the time in microseconds, one
    more than the last when the clock has not moved past it (monotonic for every key at once)."""

    def __init__(self, clock: Callable[[], int] = time.time_ns) -> None:
        self._clock = clock
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            self._last = max(self._clock() // 1000, self._last + 1)
            return f"{self._last:016X}"


def patch_s3_events(set_attribute: SetAttribute = setattr, sequencer: _Sequencer | None = None) -> None:
    """moto's S3 event records, with S3's `sequencer` (one per event: send_event builds a record
    for each notification configuration the event matches, and they all carry the same) and, on
    a bucket whose versioning is Enabled, the stored key's `versionId`."""
    from moto.s3 import notifications

    sequencers = sequencer or _Sequencer()
    send_event, get_s3_event = notifications.send_event, notifications._get_s3_event
    current = threading.local()  # the sequencer of the event this thread is sending

    def send(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
        current.sequencer = sequencers.next()
        try:
            send_event(account_id, event_name, bucket, key)
        finally:
            current.sequencer = None

    def event_of(event_name: str, bucket: Any, key: Any, notification_id: str) -> dict[str, Any]:
        event = get_s3_event(event_name, bucket, key, notification_id)
        for record in event.get("Records", []):
            stored = record["s3"]["object"]
            stored["sequencer"] = getattr(current, "sequencer", None) or sequencers.next()
            if getattr(bucket, "is_versioned", False) and getattr(key, "version_id", None) not in (
                None,
                "null",
            ):
                stored["versionId"] = str(key.version_id)
        return event

    set_attribute(notifications, "send_event", send)
    set_attribute(notifications, "_get_s3_event", event_of)


# --- presigned S3 requests --------------------------------------------------------------------------


def patch_presigned_urls(
    set_attribute: SetAttribute = setattr, credentials: Mapping[str, str] | None = None
) -> None:
    """moto takes a presigned S3 request whatever its signature: S3 checks it (localdev/presigned.py
    says how) and refuses, with its XML error and 403, an expired URL or a request without the
    headers the URL signs or with other values (an upload of another type or size, or without a
    HIPAA domain's `x-amz-tagging`). Here every S3 request moto's server routes (its S3Response
    handlers of a bucket and of a key; an ambiguous path goes to one of them) is checked first
    when its query carries X-Amz-Signature, against `credentials` (access key -> secret key;
    default: those `make run` gives the app). Other requests reach moto untouched."""
    from moto.s3.responses import S3Response

    from localdev.presigned import check_presigned, local_credentials

    known = dict(credentials if credentials is not None else local_credentials())

    def checked(handle: Callable[..., Any]) -> Callable[..., Any]:
        def response(self: Any, request: Any, full_url: str, headers: Any) -> Any:
            refusal = check_presigned(request.method, full_url, request.headers, known)
            if refusal is not None:
                return refusal.response()
            return handle(self, request, full_url, headers)

        return response

    set_attribute(S3Response, "bucket_response", checked(S3Response.bucket_response))
    set_attribute(S3Response, "key_response", checked(S3Response.key_response))


def main() -> None:
    patch_moto()
    patch_dynamodb_checks()
    patch_atomic_requests()
    patch_s3_events()
    patch_presigned_urls()
    freeze_heap_often()
    from moto.server import main as serve

    serve(sys.argv[1:])


if __name__ == "__main__":
    main()
