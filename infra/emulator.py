"""Creates the resources of infra/template.yaml in the AWS emulator (moto), for tests and `make run`.

moto's CloudFormation ignores a table's TimeToLiveSpecification and a bucket's notification and
lifecycle configuration (../shared/EMULATOR_NOTES.md), so this reads the template and makes the
calls itself. The template stays the one definition: a resource type this loader does not know
is an error, not a silent skip. The few types it passes over on purpose are in NOT_EMULATED.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).with_name("template.yaml")
ACCOUNT_ID = "123456789012"  # moto's default account


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags turned into their long form."""


def _tag(name: str, split_getatt: bool = False) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if split_getatt:
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: value}

    return construct


_CfnLoader.add_constructor("!Ref", _tag("Ref"))
_CfnLoader.add_constructor("!Sub", _tag("Fn::Sub"))
_CfnLoader.add_constructor("!GetAtt", _tag("Fn::GetAtt", split_getatt=True))


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open() as handle:
        template: dict[str, Any] = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader + tags
    return template


@dataclass
class Created:
    """What the loader made: Ref and GetAtt values by logical id, as CloudFormation gives them."""

    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)


class EmulatorProvisioner:
    def __init__(self, clients: Any, region: str, parameters: dict[str, str] | None = None) -> None:
        """`clients(service)` returns a boto3 client for the emulator."""
        self._clients = clients
        self._region = region
        self._template = load_template()
        self._parameters = {
            name: str(spec.get("Default", "")) for name, spec in self._template.get("Parameters", {}).items()
        }
        self._parameters.update(parameters or {})
        self.created = Created()

    def provision(self) -> Created:
        resources = self._template["Resources"]
        for logical_id in _dependency_order(resources):
            resource = resources[logical_id]
            if resource["Type"] in NOT_EMULATED:
                continue
            handler = _HANDLERS.get(resource["Type"])
            if handler is None:
                raise ValueError(f"infra/emulator.py cannot create {resource['Type']} ({logical_id})")
            handler(self, logical_id, self.resolve(resource.get("Properties", {})))
        return self.created

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            return self._ref(value["Ref"])
        if set(value) == {"Fn::GetAtt"}:
            logical_id, attribute = value["Fn::GetAtt"]
            return self.created.attributes[(logical_id, attribute)]
        if set(value) == {"Fn::Sub"}:
            text = value["Fn::Sub"]
            for name in [*self._parameters, "AWS::Region", "AWS::AccountId"]:
                text = text.replace("${" + name + "}", self._ref(name))
            return text
        return {k: self.resolve(v) for k, v in value.items()}

    def _ref(self, name: str) -> str:
        if name == "AWS::Region":
            return self._region
        if name == "AWS::AccountId":
            return ACCOUNT_ID
        if name in self._parameters:
            return self._parameters[name]
        return self.created.refs[name]

    # --- one method per resource type --------------------------------------------------------

    def table(self, logical_id: str, props: dict[str, Any]) -> None:
        dynamodb = self._clients("dynamodb")
        name = props["TableName"]
        params = {
            key: props[key]
            for key in (
                "TableName",
                "BillingMode",
                "AttributeDefinitions",
                "KeySchema",
                "GlobalSecondaryIndexes",
            )
            if key in props
        }
        with contextlib.suppress(dynamodb.exceptions.ResourceInUseException):
            dynamodb.create_table(**params)
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        self.created.refs[logical_id] = name

    def queue(self, logical_id: str, props: dict[str, Any]) -> None:
        sqs = self._clients("sqs")
        attributes = {
            key: json.dumps(value) if isinstance(value, dict) else str(value)
            for key, value in props.items()
            if key != "QueueName"
        }
        url = sqs.create_queue(QueueName=props["QueueName"], Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.created.refs[logical_id] = url
        self.created.attributes[(logical_id, "Arn")] = arn
        self.created.attributes[(logical_id, "QueueName")] = props["QueueName"]

    def queue_policy(self, logical_id: str, props: dict[str, Any]) -> None:
        sqs = self._clients("sqs")
        for url in props["Queues"]:
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])})
        self.created.refs[logical_id] = logical_id

    def bucket(self, logical_id: str, props: dict[str, Any]) -> None:
        s3 = self._clients("s3")
        name = props["BucketName"]
        create: dict[str, Any] = {"Bucket": name}
        if self._region != "us-east-1":
            create["CreateBucketConfiguration"] = {"LocationConstraint": self._region}
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
            s3.create_bucket(**create)
        if "PublicAccessBlockConfiguration" in props:
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
            )
        if "BucketEncryption" in props:
            s3.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
                        for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
                    ]
                },
            )
        if "LifecycleConfiguration" in props:
            s3.put_bucket_lifecycle_configuration(
                Bucket=name,
                LifecycleConfiguration={
                    "Rules": [_lifecycle_rule(r) for r in props["LifecycleConfiguration"]["Rules"]]
                },
            )
        if "NotificationConfiguration" in props:
            s3.put_bucket_notification_configuration(
                Bucket=name,
                NotificationConfiguration=_notification(props["NotificationConfiguration"]),
            )
        self.created.refs[logical_id] = name
        self.created.attributes[(logical_id, "Arn")] = f"arn:aws:s3:::{name}"

    def kms_key(self, logical_id: str, props: dict[str, Any]) -> None:
        kms = self._clients("kms")
        key = kms.create_key(
            Description=props.get("Description", ""),
            KeySpec=props.get("KeySpec", "SYMMETRIC_DEFAULT"),
            KeyUsage=props.get("KeyUsage", "ENCRYPT_DECRYPT"),
        )["KeyMetadata"]
        if props.get("EnableKeyRotation"):
            kms.enable_key_rotation(KeyId=key["KeyId"])
        self.created.refs[logical_id] = key["KeyId"]
        self.created.attributes[(logical_id, "Arn")] = key["Arn"]

    def kms_alias(self, logical_id: str, props: dict[str, Any]) -> None:
        """Points the alias at the key just made (an emulator that outlived a run keeps its
        alias: it is moved, as CloudFormation would on a replaced key)."""
        kms = self._clients("kms")
        name, target = props["AliasName"], props["TargetKeyId"]
        try:
            kms.create_alias(AliasName=name, TargetKeyId=target)
        except kms.exceptions.AlreadyExistsException:
            kms.update_alias(AliasName=name, TargetKeyId=target)
        self.created.refs[logical_id] = name


# Resource types that change nothing the code or the tests can observe in the emulator: moto does
# not enforce bucket policies (the TLS-only rule), and alarms and their topic only watch AWS.
NOT_EMULATED = frozenset({"AWS::S3::BucketPolicy", "AWS::CloudWatch::Alarm", "AWS::SNS::Topic"})

_HANDLERS = {
    "AWS::KMS::Key": EmulatorProvisioner.kms_key,
    "AWS::KMS::Alias": EmulatorProvisioner.kms_alias,
    "AWS::DynamoDB::Table": EmulatorProvisioner.table,
    "AWS::SQS::Queue": EmulatorProvisioner.queue,
    "AWS::SQS::QueuePolicy": EmulatorProvisioner.queue_policy,
    "AWS::S3::Bucket": EmulatorProvisioner.bucket,
}


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's lifecycle rule shape → the S3 API's."""
    api: dict[str, Any] = {"ID": rule["Id"], "Status": rule["Status"]}
    tags = rule.get("TagFilters") or []
    if len(tags) == 1:
        api["Filter"] = {"Tag": tags[0]}
    elif tags:
        api["Filter"] = {"And": {"Tags": tags, "Prefix": rule.get("Prefix", "")}}
    else:
        api["Filter"] = {"Prefix": rule.get("Prefix", "")}
    if "ExpirationInDays" in rule:
        api["Expiration"] = {"Days": rule["ExpirationInDays"]}
    if "AbortIncompleteMultipartUpload" in rule:
        api["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
    return api


def _notification(config: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's QueueConfigurations → the S3 API's (with QueueArn and FilterRules)."""
    queues = []
    for entry in config.get("QueueConfigurations", []):
        api: dict[str, Any] = {"QueueArn": entry["Queue"], "Events": [entry["Event"]]}
        rules = entry.get("Filter", {}).get("S3Key", {}).get("Rules")
        if rules:
            api["Filter"] = {"Key": {"FilterRules": rules}}
        queues.append(api)
    return {"QueueConfigurations": queues}


def _dependency_order(resources: dict[str, Any]) -> list[str]:
    """Logical ids so that every resource comes after those it references."""
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(logical_id: str) -> None:
        if logical_id in ordered:
            return
        if logical_id in visiting:
            raise ValueError(f"circular reference at {logical_id}")
        visiting.add(logical_id)
        for dependency in sorted(_references(resources[logical_id]) & set(resources)):
            visit(dependency)
        visiting.discard(logical_id)
        ordered.append(logical_id)

    for logical_id in resources:
        visit(logical_id)
    return ordered


def _references(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            found.add(value["Fn::GetAtt"][0])
        depends = value.get("DependsOn")
        if isinstance(depends, str):
            found.add(depends)
        elif isinstance(depends, list):
            found.update(depends)
        for child in value.values():
            found |= _references(child)
    elif isinstance(value, list):
        for child in value:
            found |= _references(child)
    return found


def provision_emulator(clients: Any, region: str, parameters: dict[str, str] | None = None) -> Created:
    return EmulatorProvisioner(clients, region, parameters).provision()
