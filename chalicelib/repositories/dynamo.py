"""A thin layer over the low-level DynamoDB client: item (de)serialisation, batching to the
service's limits, retries of unprocessed keys, and transaction errors turned into one exception.

Our own serialiser rather than boto3.dynamodb.types: importing that module imports boto3 itself,
and `import app` must not (cold starts).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from chalicelib.core import aws
from chalicelib.core.config import get_settings

# The AWS calls this module makes, as IAM actions: .chalice/policy-*.json grant them to the functions
# that use this module (tests/unit/test_package.py checks both).
AWS_CALLS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
)

Item = dict[str, Any]
RawItem = dict[str, Any]
KeyPair = tuple[str, str]

BATCH_GET_LIMIT = 100
BATCH_WRITE_LIMIT = 25
TRANSACTION_LIMIT = 100
_RETRY_DELAYS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)


class ConditionFailed(Exception):
    """A condition of a write (or of one item of a transaction) did not hold.

    `failed` lists the indexes, within the transaction, of the items whose condition failed
    (for a single write: [0])."""

    def __init__(self, failed: list[int]) -> None:
        super().__init__(f"condition failed for item(s) {failed}")
        self.failed = failed


def serialize(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, (int, Decimal)):
        return {"N": str(value)}
    if isinstance(value, float):
        return {"N": repr(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes):
        return {"B": value}
    if isinstance(value, Mapping):
        return {"M": {str(k): serialize(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [serialize(v) for v in value]}
    if isinstance(value, (set, frozenset)) and value and all(isinstance(v, str) for v in value):
        return {"SS": sorted(value)}
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


def deserialize(attribute: Mapping[str, Any]) -> Any:
    ((kind, value),) = attribute.items()
    if kind in {"S", "B", "BOOL"}:
        return value
    if kind == "N":
        number = Decimal(value)
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: deserialize(v) for k, v in value.items()}
    if kind == "L":
        return [deserialize(v) for v in value]
    if kind == "SS":
        return set(value)
    if kind == "NS":
        return {deserialize({"N": v}) for v in value}
    raise TypeError(f"unknown DynamoDB type {kind}")


def to_raw(item: Mapping[str, Any]) -> RawItem:
    """An item for the wire; None values are left out (absent attribute, not NULL)."""
    return {k: serialize(v) for k, v in item.items() if v is not None}


def from_raw(raw: Mapping[str, Any]) -> Item:
    return {k: deserialize(v) for k, v in raw.items()}


def key(pk: str, sk: str) -> RawItem:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


@dataclass(frozen=True)
class Page:
    items: list[Item]
    last_key: dict[str, Any] | None


class Table:
    """The main table. The client and the name are resolved on first use, not at import."""

    def __init__(
        self,
        client_factory: Callable[[], Any] = aws.dynamodb,
        name_factory: Callable[[], str] = lambda: get_settings().table_name,
    ) -> None:
        self._client_factory = client_factory
        self._name_factory = name_factory

    @property
    def client(self) -> Any:
        return self._client_factory()

    @property
    def name(self) -> str:
        return self._name_factory()

    # --- reads -----------------------------------------------------------------------------

    def get(self, pk: str, sk: str) -> Item | None:
        raw = self.client.get_item(TableName=self.name, Key=key(pk, sk), ConsistentRead=True)
        return from_raw(raw["Item"]) if "Item" in raw else None

    def batch_get(self, keys: Sequence[KeyPair]) -> dict[KeyPair, Item]:
        """Strongly consistent BatchGetItem, 100 keys a call, unprocessed keys retried."""
        found: dict[KeyPair, Item] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), BATCH_GET_LIMIT):
            request = {
                self.name: {
                    "Keys": [key(pk, sk) for pk, sk in unique[start : start + BATCH_GET_LIMIT]],
                    "ConsistentRead": True,
                }
            }
            for attempt in itertools.count():
                answer = self.client.batch_get_item(RequestItems=request)
                for raw in answer.get("Responses", {}).get(self.name, []):
                    item = from_raw(raw)
                    found[(item["pk"], item["sk"])] = item
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
                _backoff(attempt)
        return found

    def get_each(self, *keys: KeyPair) -> list[Item | None]:
        """The items of these keys, in their order (None where absent): one BatchGetItem."""
        found = self.batch_get(keys)
        return [found.get(k) for k in keys]

    def query(
        self,
        pk: str,
        *,
        sk_prefix: str | None = None,
        index: str | None = None,
        newest_first: bool = False,
        limit: int | None = None,
        start_key: dict[str, Any] | None = None,
    ) -> Page:
        pk_name, sk_name = ("pk", "sk") if index is None else (f"{index}pk", f"{index}sk")
        condition = "#pk = :pk"
        names = {"#pk": pk_name}
        values: dict[str, Any] = {":pk": {"S": pk}}
        if sk_prefix is not None:
            condition += " AND begins_with(#sk, :sk)"
            names["#sk"] = sk_name
            values[":sk"] = {"S": sk_prefix}
        params: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": not newest_first,
        }
        if index is not None:
            params["IndexName"] = index
        if limit is not None:
            params["Limit"] = limit
        if start_key:
            params["ExclusiveStartKey"] = start_key
        answer = self.client.query(**params)
        return Page([from_raw(i) for i in answer.get("Items", [])], answer.get("LastEvaluatedKey"))

    def count(
        self, pk: str, *, index: str | None = None, sk_prefix: str | None = None, live_at: int | None = None
    ) -> int:
        """How many items a key condition selects (Select=COUNT, every page); with `live_at`
        (epoch seconds), only those whose TTL has not passed by then (TTL deletes days late)."""
        pk_name, sk_name = ("pk", "sk") if index is None else (f"{index}pk", f"{index}sk")
        params: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": pk_name},
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "Select": "COUNT",
        }
        if sk_prefix is not None:
            params["KeyConditionExpression"] += " AND begins_with(#sk, :sk)"
            params["ExpressionAttributeNames"]["#sk"] = sk_name
            params["ExpressionAttributeValues"][":sk"] = {"S": sk_prefix}
        if index is not None:
            params["IndexName"] = index
        if live_at is not None:
            params["FilterExpression"] = "attribute_not_exists(#ttl) OR #ttl > :now"
            params["ExpressionAttributeNames"]["#ttl"] = "ttl"
            params["ExpressionAttributeValues"][":now"] = {"N": str(live_at)}
        total = 0
        while True:
            answer = self.client.query(**params)
            total += int(answer.get("Count", 0))
            if not answer.get("LastEvaluatedKey"):
                return total
            params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def query_all(self, pk: str, **kwargs: Any) -> Iterator[Item]:
        start_key = None
        while True:
            page = self.query(pk, start_key=start_key, **kwargs)
            yield from page.items
            if not page.last_key:
                return
            start_key = page.last_key

    # --- writes ----------------------------------------------------------------------------

    def put(self, item: Mapping[str, Any], condition: Condition | None = None) -> None:
        params: dict[str, Any] = {"TableName": self.name, "Item": to_raw(item)}
        if condition is not None:
            params.update(condition.params())
        self._conditional(lambda: self.client.put_item(**params))

    def delete(self, pk: str, sk: str, condition: Condition | None = None) -> None:
        params: dict[str, Any] = {"TableName": self.name, "Key": key(pk, sk)}
        if condition is not None:
            params.update(condition.params())
        self._conditional(lambda: self.client.delete_item(**params))

    def transact(self, operations: Sequence[dict[str, Any]]) -> None:
        """TransactWriteItems, all or nothing (up to 100 operations)."""
        if len(operations) > TRANSACTION_LIMIT:
            raise ValueError(f"a transaction holds at most {TRANSACTION_LIMIT} operations")
        from botocore.exceptions import ClientError

        for attempt in itertools.count():
            try:
                self.client.transact_write_items(TransactItems=list(operations))
                return
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                reasons = error.response.get("CancellationReasons") or []
                failed = [i for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"]
                if failed:
                    raise ConditionFailed(failed) from None
                if attempt >= 2:  # another transaction kept touching the same items
                    raise ConditionFailed([]) from None
                time.sleep(_RETRY_DELAYS[attempt])

    def batch_write(self, puts: Iterable[Mapping[str, Any]] = (), deletes: Iterable[KeyPair] = ()) -> int:
        """BatchWriteItem, 25 requests a call, unprocessed items retried. Returns calls made."""
        requests = [{"PutRequest": {"Item": to_raw(item)}} for item in puts]
        requests += [{"DeleteRequest": {"Key": key(pk, sk)}} for pk, sk in deletes]
        calls = 0
        for start in range(0, len(requests), BATCH_WRITE_LIMIT):
            pending: dict[str, Any] = {self.name: requests[start : start + BATCH_WRITE_LIMIT]}
            for attempt in itertools.count():
                calls += 1
                answer = self.client.batch_write_item(RequestItems=pending)
                pending = answer.get("UnprocessedItems") or {}
                if not pending:
                    break
                _backoff(attempt)
        return calls

    def _write_batch(self, puts: Sequence[Mapping[str, Any]]) -> int:
        return self.batch_write(puts=puts)

    def batch_write_parallel(self, puts: Sequence[Mapping[str, Any]], workers: int = 4) -> int:
        """BatchWriteItem of many items, several calls in flight at once (an import's chunk:
        the calls are independent, and their latency, not DynamoDB, bounds a sequential loop).
        Returns calls made; raises the first failure after every call has ended."""
        from concurrent.futures import ThreadPoolExecutor

        from chalicelib.core.log import carried

        batches = [
            puts[start : start + BATCH_WRITE_LIMIT] for start in range(0, len(puts), BATCH_WRITE_LIMIT)
        ]
        if len(batches) <= 1:
            return self.batch_write(puts=puts)
        with ThreadPoolExecutor(max_workers=min(workers, len(batches))) as pool:
            return sum(pool.map(carried(self._write_batch), batches))

    # --- transaction operation builders --------------------------------------------------------

    def put_op(self, item: Mapping[str, Any], condition: Condition | None = None) -> dict[str, Any]:
        op: dict[str, Any] = {"TableName": self.name, "Item": to_raw(item)}
        if condition is not None:
            op.update(condition.params())
        return {"Put": op}

    def update_op(
        self,
        pk: str,
        sk: str,
        expression: str,
        values: Mapping[str, Any] | None = None,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """An Update for a transaction: `expression` is the UpdateExpression, `values` fill both
        it and the optional condition."""
        op: dict[str, Any] = {"TableName": self.name, "Key": key(pk, sk), "UpdateExpression": expression}
        if condition:
            op["ConditionExpression"] = condition
        if values:
            op["ExpressionAttributeValues"] = {k: serialize(v) for k, v in values.items()}
        if names:
            op["ExpressionAttributeNames"] = dict(names)
        return {"Update": op}

    def update(
        self,
        pk: str,
        sk: str,
        expression: str,
        values: Mapping[str, Any] | None = None,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
    ) -> None:
        params = self.update_op(pk, sk, expression, values, condition, names)["Update"]
        self._conditional(lambda: self.client.update_item(**params))

    def check_op(self, pk: str, sk: str, condition: Condition) -> dict[str, Any]:
        """A ConditionCheck for a transaction: it writes nothing, and fails the whole
        transaction when `condition` does not hold."""
        return {"ConditionCheck": {"TableName": self.name, "Key": key(pk, sk), **condition.params()}}

    def delete_op(self, pk: str, sk: str, condition: Condition | None = None) -> dict[str, Any]:
        op: dict[str, Any] = {"TableName": self.name, "Key": key(pk, sk)}
        if condition is not None:
            op.update(condition.params())
        return {"Delete": op}

    def _conditional(self, call: Callable[[], Any]) -> None:
        from botocore.exceptions import ClientError

        try:
            call()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise ConditionFailed([0]) from None
            raise


@dataclass(frozen=True)
class Condition:
    expression: str
    values: Mapping[str, Any] | None = None
    names: Mapping[str, str] | None = None

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"ConditionExpression": self.expression}
        if self.values:
            params["ExpressionAttributeValues"] = {k: serialize(v) for k, v in self.values.items()}
        if self.names:
            params["ExpressionAttributeNames"] = dict(self.names)
        return params


ITEM_IS_NEW = Condition("attribute_not_exists(pk)")
ITEM_EXISTS = Condition("attribute_exists(pk)")


def _backoff(attempt: int) -> None:
    if attempt >= len(_RETRY_DELAYS):
        raise RuntimeError("DynamoDB kept items unprocessed after every retry")
    time.sleep(_RETRY_DELAYS[attempt])
