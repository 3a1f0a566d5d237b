"""infra/emulator.py creates in moto exactly what infra/template.yaml defines; localdev/emulator.py's
patches of moto answer what moto answers."""

import functools
import itertools
import json
import random
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from botocore.exceptions import ClientError
from moto.core.models import DEFAULT_ACCOUNT_ID as ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType

from chalicelib.core import aws
from chalicelib.core.config import get_settings
from infra.emulator import load_template, provision_emulator
from localdev import emulator

T = TypeVar("T")


def test_table_has_the_template_keys_indexes_and_ttl(aws_env: None) -> None:
    template = load_template()["Resources"]["MainTable"]["Properties"]
    table = aws.dynamodb().describe_table(TableName="office-chat-main")["Table"]
    assert table["KeySchema"] == template["KeySchema"]
    assert sorted(i["IndexName"] for i in table["GlobalSecondaryIndexes"]) == ["gsi1", "gsi2", "gsi3"]
    ttl = aws.dynamodb().describe_time_to_live(TableName="office-chat-main")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}


def test_queues_redrive_to_their_dead_letter_queues(aws_env: None) -> None:
    for name in ("office-chat-s3-events", "office-chat-jobs"):
        url = aws.sqs().get_queue_url(QueueName=name)["QueueUrl"]
        attributes = aws.sqs().get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attributes["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"].endswith(f":{name}-dlq")
        assert int(redrive["maxReceiveCount"]) == 5
        assert attributes["VisibilityTimeout"] == "5400"


def test_bucket_notifies_the_queue_for_imports_and_reports_and_expires_hipaa_objects(aws_env: None) -> None:
    s3 = aws.s3()
    notification = s3.get_bucket_notification_configuration(Bucket="office-chat-files")
    prefixes = sorted(
        rule["Value"]
        for config in notification["QueueConfigurations"]
        for rule in config["Filter"]["Key"]["FilterRules"]
    )
    assert prefixes == ["imports/", "reports/"]
    rules = s3.get_bucket_lifecycle_configuration(Bucket="office-chat-files")["Rules"]
    hipaa = next(r for r in rules if r["ID"] == "hipaa-7-day-retention")
    assert hipaa["Expiration"]["Days"] == 7
    assert hipaa["Filter"]["Tag"] == {"Key": "retention", "Value": "hipaa-7d"}


def test_provisioning_twice_is_harmless(aws_env: None) -> None:
    created: Any = provision_emulator(aws.client, "us-east-1")
    assert created.refs["MainTable"] == "office-chat-main"
    assert len(aws.dynamodb().list_tables()["TableNames"]) == 1


# --- localdev/emulator.py: the same answers as moto's own ---------------------------------------------

WORDS = ["".join(w) for n in (1, 2, 3) for w in itertools.product("abc", repeat=n)]  # 39 sort keys
KEY_CONDITIONS: list[tuple[str, dict[str, Any]]] = [
    ("", {}),
    (" AND sk = :a", {":a": {"S": "b"}}),
    (" AND sk < :a", {":a": {"S": "b"}}),
    (" AND sk <= :a", {":a": {"S": "bb"}}),
    (" AND sk > :a", {":a": {"S": "bc"}}),
    (" AND sk >= :a", {":a": {"S": "b"}}),
    (" AND sk BETWEEN :a AND :b", {":a": {"S": "ab"}, ":b": {"S": "bca"}}),
    (" AND begins_with(sk, :a)", {":a": {"S": "b"}}),
    (" AND begins_with(sk, :a)", {":a": {"S": "ca"}}),
    (" AND begins_with(sk, :a)", {":a": {"S": "cccc"}}),
]
START_KEYS = ["b", "bab", "bbbb", "0", "zz"]  # an item's, none's, before and past them all


@pytest.fixture(autouse=True)
def moto_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    """The speed patches are compared with moto as it is: DynamoDB's checks (which tests/conftest.py
    applies to every in-process test) are off here, but in the tests of the checks themselves."""
    monkeypatch.setattr(emulator.dynamodb_checks, "enabled", False)


def unpatched_then_patched(run: Callable[[], T]) -> tuple[T, T]:
    """run()'s answer from moto as it is, then from moto with localdev/emulator.py's patches
    (undone on leaving: other tests see moto as it is)."""
    unpatched = run()
    with pytest.MonkeyPatch.context() as patches:
        emulator.patch_moto(patches.setattr)
        patched = run()
    return unpatched, patched


def create_table(sort_type: str | None = "S") -> str:
    """A table of its own (pk, and sk of this type unless None) with an index on (gpk, gsk)."""
    name = f"emulator-{uuid.uuid4().hex[:8]}"
    keys = [("pk", "HASH", "S")] + ([("sk", "RANGE", sort_type)] if sort_type else [])
    client: Any = aws.dynamodb()
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": n, "KeyType": k} for n, k, _ in keys],
        AttributeDefinitions=[
            {"AttributeName": n, "AttributeType": t}
            for n, _, t in [*keys, ("gpk", "", "S"), ("gsk", "", "S")]
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-group",
                "KeySchema": [
                    {"AttributeName": "gpk", "KeyType": "HASH"},
                    {"AttributeName": "gsk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


EDGE = {"a1": 300_000, "a2": 300_000, "b1": 10, "b2": 404_000, "b3": 10, "c1": 300_000, "c2": 300_000}


def put_partitions(table: str) -> None:
    """Partitions of sort keys over "abc" (runs of a prefix), the index's keys on some items, a
    partition of items up to 300 KB (pages that end at moto's 1 MB), and one where an item past
    the key condition, not the first, ends a page by its size."""
    rng = random.Random(8)
    client: Any = aws.dynamodb()
    for sk, size in EDGE.items():
        client.put_item(
            TableName=table, Item={"pk": {"S": "P#edge"}, "sk": {"S": sk}, "blob": {"S": "x" * size}}
        )
    for pk, count in (("P#full", 39), ("P#some", 20), ("P#few", 3), ("P#big", 16)):
        for sk in rng.sample(WORDS, count):
            item: dict[str, Any] = {"pk": {"S": pk}, "sk": {"S": sk}, "n": {"N": str(rng.randint(0, 9))}}
            if rng.random() < 0.7:
                item["gpk"] = {"S": f"G#{rng.randint(0, 1)}"}
            if rng.random() < 0.8:
                item["gsk"] = {"S": rng.choice(WORDS)}
            if pk == "P#big":
                item["blob"] = {"S": "x" * rng.choice((10, 120_000, 300_000))}
            client.put_item(TableName=table, Item=item)


def all_pages(table: str, query: dict[str, Any]) -> list[Any]:
    """Every page of a Query (items, counts, LastEvaluatedKey), or the error that ends it."""
    params: dict[str, Any] = {"TableName": table, **query}
    pages: list[Any] = []
    while len(pages) < 100:
        try:
            answer = aws.dynamodb().query(**params)
        except ClientError as error:
            return [*pages, error.response["Error"]["Code"]]
        pages.append({k: answer.get(k) for k in ("Items", "Count", "ScannedCount", "LastEvaluatedKey")})
        if "LastEvaluatedKey" not in answer:
            return pages
        params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
    raise AssertionError(f"more than 100 pages: {query}")


def key_query(
    pk: str, condition: str, values: dict[str, Any], forward: bool, limit: int | None
) -> dict[str, Any]:
    query: dict[str, Any] = {
        "KeyConditionExpression": "pk = :pk" + condition,
        "ExpressionAttributeValues": {":pk": {"S": pk}, **values},
        "ScanIndexForward": forward,
    }
    if limit:
        query["Limit"] = limit
    return query


def table_queries(pks: tuple[str, ...], limits: tuple[int | None, ...]) -> list[dict[str, Any]]:
    return [
        key_query(pk, condition, values, forward, limit)
        for pk in pks
        for condition, values in KEY_CONDITIONS
        for forward in (True, False)
        for limit in limits
    ]


def queries_of_every_kind() -> list[dict[str, Any]]:
    return [
        *table_queries(("P#full", "P#some", "P#few", "P#none"), (None, 1, 4)),
        *queries_of_large_items(),
        *queries_after_a_key_filtered_or_counted(),
        *index_queries(),
    ]


def queries_of_large_items() -> list[dict[str, Any]]:
    """Pages that end at 1 MB, one of them on an item past the key condition (P#edge)."""
    big = [
        {**key_query("P#big", c, {":a": {"S": "b"}} if c else {}, f, limit), "ProjectionExpression": "pk, sk"}
        for c in (" AND begins_with(sk, :a)", " AND sk > :a", "")
        for f in (True, False)
        for limit in (None, 2)
    ]
    edge = [
        {
            **key_query("P#edge", " AND begins_with(sk, :a)", {":a": {"S": p}}, f, limit),
            "ProjectionExpression": "sk",
        }
        for p in ("a", "b", "c")
        for f in (True, False)
        for limit in (None, 2, 5)
    ]
    return big + edge


def queries_after_a_key_filtered_or_counted() -> list[dict[str, Any]]:
    queries: list[dict[str, Any]] = []
    starts = [("P#full", sk) for sk in START_KEYS] + [("P#some", "b")]
    for condition, values in (KEY_CONDITIONS[0], KEY_CONDITIONS[6], KEY_CONDITIONS[7]):
        for forward in (True, False):
            page = key_query("P#full", condition, values, forward, 3)
            queries += [
                {**page, "ExclusiveStartKey": {"pk": {"S": pk}, "sk": {"S": sk}}} for pk, sk in starts
            ]
            queries.append({**page, "FilterExpression": "attribute_exists(gpk)"})
            queries.append({**key_query("P#full", condition, values, forward, None), "Select": "COUNT"})
    return queries


def index_queries() -> list[dict[str, Any]]:
    queries: list[dict[str, Any]] = []
    for group in ("G#0", "G#1", "G#9"):
        for condition in ("", " AND begins_with(gsk, :a)", " AND gsk > :a"):
            for forward, limit in ((True, None), (True, 3), (False, 2)):
                query: dict[str, Any] = {
                    "IndexName": "by-group",
                    "KeyConditionExpression": "gpk = :g" + condition,
                    "ExpressionAttributeValues": {
                        ":g": {"S": group},
                        **({":a": {"S": "b"}} if condition else {}),
                    },
                    "ScanIndexForward": forward,
                }
                queries.append({**query, "Limit": limit} if limit else query)
    return queries


def test_queries_answer_as_moto_does(aws_env: None) -> None:
    """Table and index queries: both directions, limits, pages after a LastEvaluatedKey or any key,
    every key condition, filters, counts, pages ended by size."""
    table = create_table()
    put_partitions(table)
    queries = queries_of_every_kind()

    unpatched, patched = unpatched_then_patched(lambda: [all_pages(table, q) for q in queries])

    for query, expected, answered in zip(queries, unpatched, patched, strict=True):
        assert answered == expected, query
    assert any(len(pages) > 2 for pages in patched)
    assert any(page["Count"] == 0 and page["LastEvaluatedKey"] for pages in patched for page in pages[:-1])


def test_queries_of_number_sort_keys_and_of_a_table_without_sort_key_answer_as_moto_does(
    aws_env: None,
) -> None:
    numbers, hash_only = create_table("N"), create_table(None)
    client: Any = aws.dynamodb()
    for n in ("-5", "-1.5", "0", "0.25", "1", "2", "2.5", "10", "100", "1E+3"):
        client.put_item(TableName=numbers, Item={"pk": {"S": "N"}, "sk": {"N": n}})
    client.put_item(TableName=hash_only, Item={"pk": {"S": "H"}, "n": {"N": "1"}})
    conditions: list[tuple[str, dict[str, Any]]] = [
        ("", {}),
        (" AND sk = :a", {":a": {"N": "2.0"}}),
        (" AND sk < :a", {":a": {"N": "2.5"}}),
        (" AND sk >= :a", {":a": {"N": "-1.5"}}),
        (" AND sk BETWEEN :a AND :b", {":a": {"N": "0"}, ":b": {"N": "10"}}),
    ]
    queries = [
        (numbers, {**key_query("N", c, v, f, limit), **start})
        for c, v in conditions
        for f in (True, False)
        for limit in (None, 2)
        for start in ({}, {"ExclusiveStartKey": {"pk": {"S": "N"}, "sk": {"N": "1.7"}}})
    ]
    queries += [(hash_only, key_query(pk, "", {}, True, None)) for pk in ("H", "none")]

    unpatched, patched = unpatched_then_patched(lambda: [all_pages(t, q) for t, q in queries])

    assert patched == unpatched
    assert [i["sk"]["N"] for i in patched[0][0]["Items"]][-3:] == ["10", "100", "1E+3"]


def writes_around(table: str) -> list[Callable[[], Any]]:
    """Writes that add or remove sort keys of P#full and P#some, in every way moto writes."""
    client: Any = aws.dynamodb()

    def key(pk: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    def cancelled() -> None:  # puts a new key, then takes it out again
        check = {
            "TableName": table,
            "Key": key("P#full", "bb"),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        with pytest.raises(ClientError):
            client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": table, "Item": key("P#full", "abz")}},
                    {"ConditionCheck": check},
                ]
            )

    batch = [{"PutRequest": {"Item": key("P#full", "aaaa")}}, {"DeleteRequest": {"Key": key("P#full", "c")}}]
    return [
        lambda: client.put_item(TableName=table, Item=key("P#full", "bab0")),
        lambda: client.delete_item(TableName=table, Key=key("P#full", "b")),
        lambda: client.batch_write_item(RequestItems={table: batch}),
        lambda: client.update_item(
            TableName=table,
            Key=key("P#full", "ccc0"),
            UpdateExpression="SET n = :n",
            ExpressionAttributeValues={":n": {"N": "1"}},
        ),
        cancelled,
        lambda: client.transact_write_items(
            TransactItems=[
                {"Delete": {"TableName": table, "Key": key("P#full", "ab")}},
                {"Put": {"TableName": table, "Item": key("P#some", "zz")}},
            ]
        ),
        lambda: client.batch_write_item(
            RequestItems={table: [{"DeleteRequest": {"Key": key("P#full", "aaaa")}}]}
        ),
    ]


def test_a_partition_queried_again_after_writes_answers_as_moto_does(aws_env: None) -> None:
    """A table created under the patches keeps each partition's sort keys in order: they are read
    again after every write that adds or removes one."""
    queries = table_queries(("P#full", "P#some"), (None, 3))
    after_each_write = [
        key_query("P#full", "", {}, True, None),
        key_query("P#full", " AND begins_with(sk, :a)", {":a": {"S": "a"}}, False, 2),
    ]

    def story() -> tuple[list[Any], type]:
        table = create_table()
        put_partitions(table)
        answers = [[all_pages(table, q) for q in queries]]
        for write in writes_around(table):
            write()
            answers.append([all_pages(table, q) for q in after_each_write])
        answers.append([all_pages(table, q) for q in queries])
        partitions = dynamodb_backends[ACCOUNT_ID]["us-east-1"].tables[table].items
        return answers, type(partitions[DynamoType({"S": "P#full"})])

    (unpatched, plain), (patched, kept_in_order) = unpatched_then_patched(story)

    assert patched == unpatched
    assert plain is dict and kept_in_order is emulator._Partition


# --- transactions ------------------------------------------------------------------------------------


def transaction_story(table: str) -> list[Any]:
    """Items before, a cancelled transaction (a failed condition first: moto still writes the
    others, then puts everything back), one refused for two operations on one item, one that
    succeeds; what each answered and the table after each."""
    client: Any = aws.dynamodb()

    def key(sk: str) -> dict[str, Any]:
        return {"pk": {"S": "T"}, "sk": {"S": sk}}

    def table_now() -> list[Any]:
        return sorted(client.scan(TableName=table)["Items"], key=lambda i: i["sk"]["S"])

    def answer(operations: list[dict[str, Any]]) -> Any:
        try:
            client.transact_write_items(TransactItems=operations)
        except ClientError as error:
            return error.response["Error"]["Code"], error.response.get("CancellationReasons")
        return "ok"

    for sk in ("a", "b", "c"):
        client.put_item(TableName=table, Item={**key(sk), "n": {"N": "1"}, "m": {"M": {"x": {"N": "1"}}}})
    values = {":one": {"N": "1"}, ":two": {"N": "2"}}
    writes = [
        {"Put": {"TableName": table, "Item": {**key("new"), "n": {"N": "7"}}}},
        {
            "Update": {
                "TableName": table,
                "Key": key("b"),
                "UpdateExpression": "SET n = n + :one, m.x = :two",
                "ExpressionAttributeValues": values,
            }
        },
        {
            "Update": {
                "TableName": table,
                "Key": key("fresh"),
                "UpdateExpression": "SET n = :one",
                "ExpressionAttributeValues": {":one": values[":one"]},
            }
        },
        {"Delete": {"TableName": table, "Key": key("c")}},
    ]
    failed_check = {
        "ConditionCheck": {
            "TableName": table,
            "Key": key("a"),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }
    story: list[Any] = [table_now()]
    story += [answer([failed_check, *writes]), table_now()]
    story += [answer([*writes, {"Delete": {"TableName": table, "Key": key("b")}}]), table_now()]
    story += [answer(writes), table_now()]
    return story


def test_a_failed_transaction_leaves_every_item_as_it_was_and_one_that_succeeds_writes_them(
    aws_env: None,
) -> None:
    unpatched, patched = unpatched_then_patched(lambda: transaction_story(create_table()))

    assert patched == unpatched
    before, cancelled, after_cancelled, refused, after_refused, succeeded, after = patched
    assert cancelled[0] == "TransactionCanceledException"
    assert refused[0] == "ValidationException"
    assert after_cancelled == after_refused == before
    assert succeeded == "ok"
    assert [i["sk"]["S"] for i in after] == ["a", "b", "fresh", "new"]
    assert after[1]["n"] == {"N": "2"} and after[1]["m"] == {"M": {"x": {"N": "2"}}}


# --- item size ---------------------------------------------------------------------------------------


def item_size_story(table: str) -> list[Any]:
    """An item of exactly moto's 405 000 bytes and one of a byte more, an UpdateItem that grows an
    item past it and one that does not, and items of many attributes under and over it: what each
    write answered and what was stored."""
    client: Any = aws.dynamodb()

    def answer(write: Callable[[], Any]) -> Any:
        try:
            write()
        except ClientError as error:
            return error.response["Error"]["Code"]
        return "ok"

    def item(pk: str, **attributes: Any) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": "1"}, **attributes}

    def stored(pk: str) -> Any:
        return client.get_item(TableName=table, Key=item(pk), ConsistentRead=True).get("Item")

    def set_more(size: int) -> Callable[[], Any]:
        return lambda: client.update_item(
            TableName=table,
            Key=item("grown"),
            UpdateExpression="SET more = :more",
            ExpressionAttributeValues={":more": {"S": "y" * size}},
        )

    # "pk" + "A", "sk" + "1", "blob": 10 bytes besides the blob's value
    story = [
        answer(lambda: client.put_item(TableName=table, Item=item("A", blob={"S": "x" * 404_990}))),
        answer(lambda: client.put_item(TableName=table, Item=item("B", blob={"S": "x" * 404_991}))),
        answer(lambda: client.put_item(TableName=table, Item=item("grown", blob={"S": "x" * 300_000}))),
        answer(set_more(200_000)),
        answer(set_more(1_000)),
        answer(lambda: client.put_item(TableName=table, Item=many_attributes("many", 1_000, 100))),
        answer(lambda: client.put_item(TableName=table, Item=many_attributes("too-many", 1_500, 800))),
    ]
    return [story, *(stored(pk) for pk in ("A", "B", "grown", "many", "too-many"))]


def many_attributes(pk: str, count: int, size: int) -> dict[str, Any]:
    """An item of `count` attributes of every type, most of them about `size` bytes."""
    kinds: list[Callable[[int], dict[str, Any]]] = [
        lambda i: {"S": f"{i}".ljust(size, "s")},
        lambda i: {"N": str(i * 7 - 1000)},
        lambda i: {"B": bytes(size)},
        lambda i: {"BOOL": i % 2 == 0},
        lambda i: {"NULL": True},
        lambda i: {"L": [{"S": "x" * (size // 2)}, {"N": str(i)}]},
        lambda i: {"M": {"k": {"S": "m" * (size // 2)}, "n": {"NULL": True}}},
        lambda i: {"SS": [f"{i}a", f"{i}b".ljust(size // 2, "b")]},
        lambda i: {"NS": [str(i), "0.5"]},
    ]
    attributes = {f"attribute-{i:04d}": kinds[i % len(kinds)](i) for i in range(count)}
    return {"pk": {"S": pk}, "sk": {"S": "1"}, **attributes}


def test_items_are_refused_past_moto_size_limit_and_stored_whole_under_it(aws_env: None) -> None:
    unpatched, patched = unpatched_then_patched(lambda: item_size_story(create_table()))

    assert patched == unpatched
    answers, exact, over, grown, many, too_many = patched
    assert answers == [
        "ok",
        "ValidationException",
        "ok",
        "ValidationException",
        "ok",
        "ok",
        "ValidationException",
    ]
    assert len(exact["blob"]["S"]) == 404_990 and over is None and too_many is None
    assert len(grown["more"]["S"]) == 1_000
    assert unordered_sets(many) == unordered_sets(many_attributes("many", 1_000, 100))


def unordered_sets(item: dict[str, Any]) -> dict[str, Any]:
    """The item with its sets (SS, NS, BS) in order: DynamoDB keeps no order in a set."""
    return {
        name: {kind: sorted(value) if kind in ("SS", "NS", "BS") else value for kind, value in typed.items()}
        for name, typed in item.items()
    }


# --- localdev/emulator.py patch_dynamodb_checks: what DynamoDB refuses and moto lets through -------
# Each refusal carries DynamoDB's error code and message (the messages of
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html's key limits,
# as DynamoDB words them; the start-key messages as dynalite and DynamoDB Local word them).

HASH_TOO_LARGE = (
    "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit "
    "of2048 bytes"  # sic: AWS's text
)
RANGE_TOO_LARGE = (
    "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size "
    "limit of 1024 bytes"
)
OUTSIDE_QUERY = "The provided starting key is outside query boundaries based on provided conditions"
OUTSIDE_RANGE = "The provided starting key does not match the range key predicate"


MOTO_MISSES = [0, 2, 3, 4, 5, 6, 7]  # the calls (by position) moto 5.2.5 lets through: all but UpdateItem


@pytest.fixture
def checks_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emulator.dynamodb_checks, "enabled", True)


def refusal(call: Callable[[], Any]) -> tuple[str, str] | None:
    """(error code, message) of the call's ClientError; None if it was answered."""
    try:
        call()
    except ClientError as error:
        return error.response["Error"]["Code"], error.response["Error"]["Message"]
    return None


def checked_and_not(call: Callable[[], Any]) -> tuple[tuple[str, str] | None, tuple[str, str] | None]:
    """The call's refusal with the checks on, then moto's own answer (checks off)."""
    checked = refusal(call)
    emulator.dynamodb_checks.enabled = False
    try:
        return checked, refusal(call)
    finally:
        emulator.dynamodb_checks.enabled = True


def test_the_checks_are_on_in_every_in_process_test(aws_env: None) -> None:
    from moto.dynamodb.models import DynamoDBBackend

    assert DynamoDBBackend.query.__module__ == "localdev.emulator"


def test_a_start_key_outside_the_key_condition_is_refused_as_dynamodb_does(
    aws_env: None, checks_on: None
) -> None:
    table = create_table()
    put_partitions(table)
    client: Any = aws.dynamodb()

    def query(
        condition: str, values: dict[str, Any], start: dict[str, Any], **more: Any
    ) -> Callable[[], Any]:
        return lambda: client.query(
            TableName=table,
            **key_query("P#full", condition, values, more.pop("forward", True), None),
            ExclusiveStartKey=start,
            **more,
        )

    prefix = (" AND begins_with(sk, :a)", {":a": {"S": "b"}})
    other_partition = {"pk": {"S": "P#some"}, "sk": {"S": "ba"}}
    assert checked_and_not(query(*prefix, other_partition)) == (("ValidationException", OUTSIDE_QUERY), None)
    assert checked_and_not(query("", {}, other_partition)) == (("ValidationException", OUTSIDE_QUERY), None)
    for sort_key in ("a", "ca", "0", "zz"):  # the cursor of another filter: outside begins_with(sk, "b")
        start = {"pk": {"S": "P#full"}, "sk": {"S": sort_key}}
        assert checked_and_not(query(*prefix, start)) == (("ValidationException", OUTSIDE_RANGE), None)
    below = (" AND sk >= :a", {":a": {"S": "b"}})
    assert refusal(query(*below, {"pk": {"S": "P#full"}, "sk": {"S": "a"}})) == (
        "ValidationException",
        OUTSIDE_RANGE,
    )
    between = (" AND sk BETWEEN :a AND :b", {":a": {"S": "ab"}, ":b": {"S": "bca"}})
    assert refusal(query(*between, {"pk": {"S": "P#full"}, "sk": {"S": "c"}})) == (
        "ValidationException",
        OUTSIDE_RANGE,
    )
    # a start key within the condition: answered, and as moto answers it
    for condition, values in (prefix, below, between, ("", {})):
        for forward in (True, False):
            start = {"pk": {"S": "P#full"}, "sk": {"S": "bab"}}
            checked = client.query(
                TableName=table, **key_query("P#full", condition, values, forward, 3), ExclusiveStartKey=start
            )
            emulator.dynamodb_checks.enabled = False
            plain = client.query(
                TableName=table, **key_query("P#full", condition, values, forward, 3), ExclusiveStartKey=start
            )
            emulator.dynamodb_checks.enabled = True
            assert checked["Items"] == plain["Items"] and checked.get("LastEvaluatedKey") == plain.get(
                "LastEvaluatedKey"
            )
    # an index: the start key must be of the index partition asked
    on_index = {
        "IndexName": "by-group",
        "KeyConditionExpression": "gpk = :g",
        "ExpressionAttributeValues": {":g": {"S": "G#0"}},
    }
    first = client.query(TableName=table, **on_index, Limit=1)
    assert client.query(TableName=table, **on_index, Limit=1, ExclusiveStartKey=first["LastEvaluatedKey"])
    elsewhere = {**first["LastEvaluatedKey"], "gpk": {"S": "G#1"}}
    assert refusal(lambda: client.query(TableName=table, **on_index, ExclusiveStartKey=elsewhere)) == (
        "ValidationException",
        OUTSIDE_QUERY,
    )


def test_key_values_over_dynamodb_sizes_are_refused_in_every_call(aws_env: None, checks_on: None) -> None:
    table = create_table()
    client: Any = aws.dynamodb()
    big_pk, big_sk = {"S": "p" * 2049}, {"S": "s" * 1025}
    wide_pk = {"S": "é" * 1025}  # 1 025 characters, 2 050 bytes: DynamoDB counts bytes
    max_key = {"pk": {"S": "p" * 2048}, "sk": {"S": "s" * 1024}}
    hash_error, range_error = (
        ("ValidationException", HASH_TOO_LARGE),
        ("ValidationException", RANGE_TOO_LARGE),
    )
    for key, error in (
        ({"pk": big_pk, "sk": {"S": "x"}}, hash_error),
        ({"pk": wide_pk, "sk": {"S": "x"}}, hash_error),
        ({"pk": {"S": "x"}, "sk": big_sk}, range_error),
    ):
        calls = [
            lambda key=key: client.get_item(TableName=table, Key=key),
            lambda key=key: client.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET n = :n",
                ExpressionAttributeValues={":n": {"N": "1"}},
            ),
            lambda key=key: client.delete_item(TableName=table, Key=key),
            lambda key=key: client.batch_get_item(RequestItems={table: {"Keys": [key]}}),
            lambda key=key: client.batch_write_item(RequestItems={table: [{"DeleteRequest": {"Key": key}}]}),
            lambda key=key: client.transact_get_items(
                TransactItems=[{"Get": {"TableName": table, "Key": key}}]
            ),
            lambda key=key: client.transact_write_items(
                TransactItems=[{"Delete": {"TableName": table, "Key": key}}]
            ),
            lambda key=key: client.transact_write_items(
                TransactItems=[
                    {
                        "ConditionCheck": {
                            "TableName": table,
                            "Key": key,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                ]
            ),
        ]
        answers = [checked_and_not(call) for call in calls]
        assert [checked for checked, _ in answers] == [error] * len(calls)
        # moto lets these through (the check is ours); the rest it refuses itself, the same way
        assert [n for n, (_, moto_own) in enumerate(answers) if moto_own is None] == MOTO_MISSES, key
        assert all(moto_own in (None, error) for _, moto_own in answers)
        # PutItem (alone, in a batch, in a transaction): moto refuses it itself, with the same error
        item = {**key, "n": {"N": "1"}}
        put_alone = functools.partial(client.put_item, TableName=table, Item=item)
        put_in_transaction = functools.partial(
            client.transact_write_items, TransactItems=[{"Put": {"TableName": table, "Item": item}}]
        )
        assert refusal(put_alone) == error and refusal(put_in_transaction) == error
    # the key condition of a Query
    too_long_prefix = {
        "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
        "ExpressionAttributeValues": {":p": {"S": "x"}, ":s": big_sk},
    }
    assert checked_and_not(lambda: client.query(TableName=table, **too_long_prefix)) == (range_error, None)
    too_long_pk = {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": big_pk}}
    assert checked_and_not(lambda: client.query(TableName=table, **too_long_pk)) == (hash_error, None)
    # a batch is refused whole: its valid request is not written either
    good = {"pk": {"S": "good"}, "sk": {"S": "1"}}
    batch = [{"PutRequest": {"Item": good}}, {"PutRequest": {"Item": {"pk": big_pk, "sk": {"S": "1"}}}}]
    assert refusal(lambda: client.batch_write_item(RequestItems={table: batch})) == hash_error
    assert "Item" not in client.get_item(TableName=table, Key=good)
    # keys at the limits pass everywhere
    client.put_item(TableName=table, Item=max_key)
    assert client.get_item(TableName=table, Key=max_key)["Item"] == max_key
    client.update_item(
        TableName=table,
        Key=max_key,
        UpdateExpression="SET n = :n",
        ExpressionAttributeValues={":n": {"N": "1"}},
    )
    assert client.batch_get_item(RequestItems={table: {"Keys": [max_key]}})["Responses"][table]
    assert client.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": max_key}}])[
        "Responses"
    ]
    exact = {
        "KeyConditionExpression": "pk = :p AND sk = :s",
        "ExpressionAttributeValues": {":p": max_key["pk"], ":s": max_key["sk"]},
    }
    assert client.query(TableName=table, **exact)["Count"] == 1
    client.transact_write_items(TransactItems=[{"Delete": {"TableName": table, "Key": max_key}}])
    client.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": max_key}}]})
    client.delete_item(TableName=table, Key=max_key)


def test_conditional_writes_racing_on_one_key_have_one_winner(aws_env: None) -> None:
    """patch_atomic_requests: of many `attribute_not_exists` Puts and transactions of one key at
    the same moment, exactly one succeeds, as in DynamoDB (moto alone can let two through)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    table = aws.dynamodb()
    name = get_settings().table_name
    keys = [f"RACE#{uuid.uuid4().hex}" for _ in range(40)]
    start = threading.Barrier(6)

    def claim_every_key(writer: int) -> list[str]:
        start.wait(timeout=10)
        won = []
        for key in keys:
            item = {"pk": {"S": key}, "sk": {"S": "EMAIL"}, "writer": {"N": str(writer)}}
            try:
                if writer % 2:
                    table.put_item(TableName=name, Item=item, ConditionExpression="attribute_not_exists(pk)")
                else:
                    table.transact_write_items(
                        TransactItems=[
                            {
                                "Put": {
                                    "TableName": name,
                                    "Item": item,
                                    "ConditionExpression": "attribute_not_exists(pk)",
                                }
                            }
                        ]
                    )
                won.append(key)
            except ClientError:
                pass
        return won

    with ThreadPoolExecutor(max_workers=6) as pool:
        wins = [key for won in pool.map(claim_every_key, range(6)) for key in won]
    assert sorted(wins) == sorted(keys)  # each key won once, none twice


# --- S3 event notifications (patch_s3_events) ---------------------------------------------------


def _s3_event_objects() -> list[dict[str, Any]]:
    """The `s3.object` of every ObjectCreated record on the s3-events queue (received, deleted)."""
    sqs = aws.sqs()
    url = sqs.get_queue_url(QueueName="office-chat-s3-events")["QueueUrl"]
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            body = json.loads(message["Body"])
            found += [r["s3"]["object"] for r in body.get("Records", [])]
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def test_two_puts_of_the_same_bytes_at_one_key_notify_twice_with_growing_sequencers(aws_env: None) -> None:
    for metadata in ({"mode": "skip"}, {"mode": "update"}):
        aws.s3().put_object(
            Bucket="office-chat-files", Key="imports/acme/a.csv", Body=b"Email\n", Metadata=metadata
        )
    first, second = _s3_event_objects()
    assert first["eTag"] == second["eTag"]  # the same bytes: the ETag cannot tell them apart
    assert len(first["sequencer"]) == len(second["sequencer"]) == 16
    int(first["sequencer"], 16)  # hex, as S3's
    assert second["sequencer"] > first["sequencer"]
    assert "versionId" not in first and "versionId" not in second  # the bucket is not versioned


def test_a_versioned_bucket_notifies_the_version_of_each_put(aws_env: None) -> None:
    s3 = aws.s3()
    s3.put_bucket_versioning(Bucket="office-chat-files", VersioningConfiguration={"Status": "Enabled"})
    versions = [
        s3.put_object(Bucket="office-chat-files", Key="imports/acme/a.csv", Body=b"Email\n")["VersionId"]
        for _ in range(2)
    ]
    notified = _s3_event_objects()
    assert [o["versionId"] for o in notified] == versions and versions[0] != versions[1]
    assert notified[1]["sequencer"] > notified[0]["sequencer"]


def test_the_sequencer_grows_even_when_the_clock_does_not() -> None:
    stuck = emulator._Sequencer(clock=lambda: 1_700_000_000_000_000_000)  # one nanosecond, always
    made = [stuck.next() for _ in range(3)]
    assert made == sorted(made) and len(set(made)) == 3
    assert made[0] == f"{1_700_000_000_000_000:016X}"
    back = iter([2_000_000_000_000_000_000, 1_000_000_000_000_000_000])  # the clock goes back
    sequencer = emulator._Sequencer(clock=lambda: next(back))
    assert sequencer.next() < sequencer.next()
