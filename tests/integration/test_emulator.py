"""infra/emulator.py creates in moto exactly what infra/template.yaml defines."""

import json
from typing import Any

import pytest

from chalicelib.core import aws
from infra.emulator import load_template, provision_emulator


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


def test_the_emulator_query_patch_reads_one_partition_with_the_same_answers(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """localdev/emulator.py: a table Query answers exactly what moto's own answers."""
    from moto.dynamodb.models.table import Table as MotoTable

    from chalicelib.repositories.dynamo import Table
    from localdev import emulator

    table = Table()
    table.batch_write(
        puts=[{"pk": f"P#{p}", "sk": f"S#{s:03d}", "n": s} for p in range(3) for s in range(30)]
        + [{"pk": "Q", "sk": "x", "gsi2pk": "G", "gsi2sk": "1"}]
    )

    def answers() -> list[Any]:
        page = table.query("P#1", sk_prefix="S#01", limit=5)
        newest = table.query("P#2", newest_first=True, limit=3)
        later = table.query("P#1", start_key=page.last_key, limit=100)
        return [
            [i["sk"] for i in page.items],
            [i["sk"] for i in newest.items],
            len(later.items),
            table.query("nothing").items,
            [i["pk"] for i in table.query("G", index="gsi2").items],
        ]

    expected = answers()
    monkeypatch.setattr(MotoTable, "query", MotoTable.query)
    monkeypatch.setattr(MotoTable, "all_items", MotoTable.all_items)
    emulator.patch_moto_query()
    assert answers() == expected
    assert expected[0] == ["S#010", "S#011", "S#012", "S#013", "S#014"]
