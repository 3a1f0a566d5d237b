"""Every kind of partition the table holds is reachable by a domain's deletion (issue 17): a new
`*_pk` builder in repositories/keys.py fails here until it says how the purge finds it."""

from __future__ import annotations

import inspect

from chalicelib.repositories import keys, partitions

# How services/domain_purge.py reaches each kind of partition.
REACHED_BY = {
    "domain_pk": "the last transaction (META)",
    "user_pk": "registry: partitions.user_entry",
    "email_pk": "registry: user_entry, email_entry",
    "group_pk": "registry: partitions.group_entry",
    "group_messages_pk": "registry: partitions.group_entry",
    "relay_pk": "registry: partitions.group_entry",
    "chat_messages_pk": "registry: chat_partition, when the purge meets a chat of a user",
    "file_pk": "registry: partitions.file_entry",
    "import_pk": "registry: partitions.import_entry",
    "import_object_pk": "registry: partitions.import_object_entry",
    "report_pk": "registry: partitions.report_entry",
    "job_pk": "the jobs index (gsi2 D#<d>#JOBS)",
    "roster_pk": "fixed",
    "two_factor_roster_pk": "fixed",
    "user_search_pk": "fixed",
    "admins_pk": "fixed",
    "domain_imports_pk": "fixed",
    "oauth_state_pk": "fixed",
    "audit_pk": "fixed",
    "partitions_pk": "the registry itself (its entries go with their partitions)",
    "chat_pk": "not a partition: the prefix of chat_messages_pk, named by a chat of a user",
    "platform_domains_pk": "above the tenants: the domain's listing entry goes in the last transaction",
    "hook_pk": "above the tenants: deleted with the integration item that names it",
    "slack_channel_pk": "above the tenants: deleted with the integration item that names it",
}


def test_every_partition_kind_is_reached_by_the_purge() -> None:
    builders = {name for name, _ in inspect.getmembers(keys, inspect.isfunction) if name.endswith("_pk")}
    assert builders == set(REACHED_BY), builders ^ set(REACHED_BY)


def test_the_fixed_partitions_are_exactly_those_marked_fixed() -> None:
    fixed = set(keys.fixed_partitions("acme"))
    expected = {
        keys.roster_pk("acme"),
        keys.two_factor_roster_pk("acme", "enrolled"),
        keys.two_factor_roster_pk("acme", "not_enrolled"),
        keys.user_search_pk("acme"),
        keys.admins_pk("acme"),
        keys.domain_imports_pk("acme"),
        keys.oauth_state_pk("acme"),
        keys.audit_pk("acme"),
    }
    assert fixed == expected


def test_a_group_entry_names_all_three_of_its_partitions() -> None:
    entry = partitions.group_entry("acme", "G1")
    assert entry["pk"] == "D#acme#PARTS" and entry["sk"] == "D#acme#G#G1"
    assert entry["parts"] == ["D#acme#G#G1", "D#acme#G#G1#MSGS", "D#acme#G#G1#RELAY"]


def test_a_chat_of_a_user_names_its_conversation_and_nothing_else_does() -> None:
    chat = {"pk": "D#acme#U#A", "sk": "CHAT#B", "chat": keys.chat_pk("acme", "A", "B")}
    assert partitions.chat_partition(chat) == keys.chat_messages_pk("acme", "A", "B")
    assert partitions.chat_partition({"pk": "D#acme#U#A", "sk": "PROFILE"}) is None


def test_platform_jobs_live_above_the_tenants() -> None:
    assert keys.job_pk(keys.PLATFORM_SCOPE, "J1") == "PLATFORM#JOB#J1"
    assert keys.domain_jobs_gsi2pk(keys.PLATFORM_SCOPE) == "PLATFORM#JOBS"
    assert keys.job_pk("acme", "J1") == "D#acme#JOB#J1"
