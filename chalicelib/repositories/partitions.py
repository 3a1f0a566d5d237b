"""The registry of a domain's partitions (docs/DATA_MODEL.md "Deleting a domain").

A partition whose name holds an id (`D#<d>#U#<user>`, `D#<d>#G#<group>#MSGS`, `D#<d>#F#<file>`,
...) cannot be found from the domain's name alone, and a Scan is never allowed: so each family of
partitions is registered when it is born, in the write that creates it. An entry is
`D#<d>#PARTS` / `<root partition>` with the list of the family's partitions (a group's META and
members, its messages, its relay markers). Entries are Puts without condition: registering a
family twice writes the same item.

Where a partition is born on a hot path (a private chat, with its first message), it is not
registered there; the domain's deletion registers it when it meets the "chat of a user" items
that name it (`chat_partition`), before it deletes them.

The fixed partitions of a domain (its roster, audit...) need no entry: keys.fixed_partitions."""

from __future__ import annotations

from typing import Any

from chalicelib.repositories import keys
from chalicelib.repositories.dynamo import Item, Table


def entry(domain: str, *partitions: str) -> Item:
    """The registry entry of a family of partitions (the first is its root)."""
    return {
        "pk": keys.partitions_pk(domain),
        "sk": partitions[0],
        "type": "partitions",
        "parts": list(partitions),
    }


def user_entry(domain: str, user_id: str, email: str) -> Item:
    """A user's partition and the email's (credentials, login failures, import row markers)."""
    return entry(domain, keys.user_pk(domain, user_id), keys.email_pk(domain, email))


def email_entry(domain: str, email: str) -> Item:
    """An email no user holds (an import row that failed, a login that named a stranger)."""
    return entry(domain, keys.email_pk(domain, email))


def group_entry(domain: str, group_id: str) -> Item:
    return entry(
        domain,
        keys.group_pk(domain, group_id),
        keys.group_messages_pk(domain, group_id),
        keys.relay_pk(domain, group_id),
    )


def file_entry(domain: str, file_id: str) -> Item:
    return entry(domain, keys.file_pk(domain, file_id))


def import_entry(domain: str, import_id: str) -> Item:
    return entry(domain, keys.import_pk(domain, import_id))


def import_object_entry(domain: str, identity: str) -> Item:
    return entry(domain, keys.import_object_pk(domain, identity))


def report_entry(domain: str, report_id: str) -> Item:
    return entry(domain, keys.report_pk(domain, report_id))


def chat_partition(item: Item) -> str | None:
    """The conversation a "chat of a user" item names (registered by the domain's deletion)."""
    if str(item.get("sk", "")).startswith(keys.CHAT_PREFIX) and item.get("chat"):
        return f"{item['chat']}#MSGS"
    return None


class PartitionRegistry:
    def __init__(self, table: Table) -> None:
        self._table = table

    def register_op(self, registered: Item) -> dict[str, Any]:
        """The Put of an entry, as one operation of the transaction that creates the family."""
        return self._table.put_op(registered)

    def register(self, registered: Item) -> None:
        self._table.put(registered)
