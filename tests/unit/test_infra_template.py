"""The template is the one definition of our resources: these check how the loader reads it."""

from infra.emulator import _dependency_order, _lifecycle_rule, _notification, load_template


def test_template_defines_the_table_bucket_and_queues() -> None:
    resources = load_template()["Resources"]
    types = sorted({r["Type"] for r in resources.values()})
    assert types == [
        "AWS::CloudWatch::Alarm",
        "AWS::DynamoDB::Table",
        "AWS::KMS::Alias",
        "AWS::KMS::Key",
        "AWS::S3::Bucket",
        "AWS::S3::BucketPolicy",
        "AWS::SNS::Topic",
        "AWS::SQS::Queue",
        "AWS::SQS::QueuePolicy",
    ]
    table = resources["MainTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["gsi1", "gsi2", "gsi3"]


def test_every_queue_has_a_dead_letter_queue() -> None:
    resources = load_template()["Resources"]
    for name in ("S3EventsQueue", "JobsQueue"):
        redrive = resources[name]["Properties"]["RedrivePolicy"]
        assert redrive["deadLetterTargetArn"]["Fn::GetAtt"][0] == name.replace("Queue", "DeadLetterQueue")
        assert redrive["maxReceiveCount"] == 5


def test_resources_come_after_what_they_reference() -> None:
    resources = load_template()["Resources"]
    order = _dependency_order(resources)
    assert sorted(order) == sorted(resources)
    assert order.index("S3EventsDeadLetterQueue") < order.index("S3EventsQueue")
    assert order.index("S3EventsQueue") < order.index("S3EventsQueuePolicy") < order.index("FilesBucket")
    assert order.index("JobsDeadLetterQueue") < order.index("JobsQueue")


def test_cloudformation_shapes_become_s3_api_shapes() -> None:
    rule = _lifecycle_rule(
        {
            "Id": "hipaa",
            "Status": "Enabled",
            "ExpirationInDays": 7,
            "TagFilters": [{"Key": "retention", "Value": "hipaa-7d"}],
        }
    )
    assert rule == {
        "ID": "hipaa",
        "Status": "Enabled",
        "Expiration": {"Days": 7},
        "Filter": {"Tag": {"Key": "retention", "Value": "hipaa-7d"}},
    }
    notification = _notification(
        {
            "QueueConfigurations": [
                {
                    "Event": "s3:ObjectCreated:*",
                    "Queue": "arn:q",
                    "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": "imports/"}]}},
                }
            ]
        }
    )
    assert notification == {
        "QueueConfigurations": [
            {
                "QueueArn": "arn:q",
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "imports/"}]}},
            }
        ]
    }


def test_the_two_factor_key_is_named_by_the_alias_the_app_uses() -> None:
    from chalicelib.core.config import TWO_FACTOR_KEY_ALIAS

    template = load_template()
    alias = template["Resources"]["TwoFactorKeyAlias"]["Properties"]
    assert alias["TargetKeyId"] == {"Ref": "TwoFactorKey"}
    assert template["Parameters"]["TwoFactorKeyAliasName"]["Default"] == TWO_FACTOR_KEY_ALIAS
    assert template["Resources"]["TwoFactorKey"]["Properties"]["EnableKeyRotation"] is True
