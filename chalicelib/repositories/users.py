"""Users: a PROFILE item in the user's own partition, and an EMAIL item that maps the domain's
(lower-cased) email to the user and holds the password hash, so that profile reads never carry
a secret and an email is unique within a domain by construction (conditional Put)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chalicelib.core.clock import iso_ms
from chalicelib.domain.models import AuthProvider, Credentials, Enrolment, Role, User, UserStatus
from chalicelib.repositories import keys, partitions
from chalicelib.repositories.dynamo import ITEM_IS_NEW, Condition, Item, Table
from chalicelib.repositories.timestamps import parse_ms


class UserRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    @staticmethod
    def profile_key(domain: str, user_id: str) -> tuple[str, str]:
        return keys.user_pk(domain, user_id), keys.PROFILE

    @staticmethod
    def email_key(domain: str, email: str) -> tuple[str, str]:
        return keys.email_pk(domain, email), keys.EMAIL

    def get(self, domain: str, user_id: str) -> User | None:
        item = self._table.get(*self.profile_key(domain, user_id))
        return self.from_item(item) if item else None

    def create_ops(self, user: User, password_hash: str | None) -> list[dict[str, Any]]:
        """The Puts of a new user: the email item (fails if the email is taken), the profile,
        and the registry entry of the user's partitions (what a domain's deletion reads)."""
        credentials, profile = self.create_items(user, password_hash)
        return [
            self._table.put_op(credentials, ITEM_IS_NEW),
            self._table.put_op(profile, ITEM_IS_NEW),
            self._table.put_op(self.registry_entry(user)),
        ]

    @staticmethod
    def registry_entry(user: User) -> Item:
        """The registry entry of the user's partitions (for batched writes)."""
        return partitions.user_entry(user.domain, user.id, user.email)

    def create_items(self, user: User, password_hash: str | None = None) -> list[Item]:
        """The email item and the profile of a new user (for batched writes: unconditional)."""
        email_pk, email_sk = self.email_key(user.domain, user.email)
        credentials = {
            "pk": email_pk,
            "sk": email_sk,
            "type": "email",
            "user_id": user.id,
            "password_hash": password_hash,
        }
        return [credentials, self.to_item(user)]

    def create_profile_op(self, user: User) -> dict[str, Any]:
        """The Put of a new user's profile alone, only if it is not there."""
        return self._table.put_op(self.to_item(user), ITEM_IS_NEW)

    def get_many(self, domain: str, user_ids: list[str]) -> list[User]:
        """Profiles in the order asked (one BatchGetItem per 100), unknown ids left out."""
        wanted = [self.profile_key(domain, uid) for uid in user_ids]
        found = self._table.batch_get(wanted)
        return [self.from_item(found[k]) for k in wanted if k in found]

    def delete_email_op(self, user: User) -> dict[str, Any]:
        """Frees the email (login finds no account); only if it is still this user's."""
        return self._table.delete_op(
            *self.email_key(user.domain, user.email), Condition("user_id = :id", {":id": user.id})
        )

    def get_credentials(self, domain: str, email: str) -> Credentials | None:
        item = self._table.get(*self.email_key(domain, email))
        return self.credentials_from_item(item) if item else None

    def save_op(self, user: User, read: User) -> dict[str, Any]:
        """Overwrites the profile if its status, role and 2FA enrolment are still those read (and
        no deletion began): the seat and admin counters and the user lists move with them, so a
        change made from a stale read must not land."""
        enrolled = (
            "two_factor_enrolled = :enrolled"
            if read.two_factor_enrolled
            else "(attribute_not_exists(two_factor_enrolled) OR two_factor_enrolled = :enrolled)"
        )
        return self._table.put_op(
            self.to_item(user),
            Condition(
                f"#status = :status AND #role = :role AND {enrolled}"
                " AND attribute_not_exists(deletion_requested)",
                {
                    ":status": read.status.value,
                    ":role": read.role.value,
                    ":enrolled": read.two_factor_enrolled,
                },
                {"#status": "status", "#role": "role"},
            ),
        )

    def set_password_op(self, domain: str, email: str, password_hash: str) -> dict[str, Any]:
        return self._table.update_op(
            *self.email_key(domain, email),
            "SET password_hash = :hash",
            {":hash": password_hash},
            condition="attribute_exists(pk)",
        )

    @staticmethod
    def credentials_from_item(item: Item) -> Credentials:
        return Credentials(user_id=item["user_id"], password_hash=item.get("password_hash"))

    @staticmethod
    def to_item(user: User) -> Item:
        pk, sk = UserRepository.profile_key(user.domain, user.id)
        return {
            "pk": pk,
            "sk": sk,
            "type": "user",
            "id": user.id,
            "domain": user.domain,
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "title": user.title,
            "phone": user.phone,
            "department": user.department,
            "role": user.role.value,
            "status": user.status.value,
            "auth_provider": user.auth_provider.value,
            "two_factor_enrolled": user.two_factor_enrolled,
            "deletion_requested": user.deletion_requested or None,
            "created_at": iso_ms(user.created_at),
        }

    @staticmethod
    def from_item(item: Item) -> User:
        return User(
            id=item["id"],
            domain=item["domain"],
            email=item["email"],
            first_name=item.get("first_name", ""),
            last_name=item.get("last_name", ""),
            title=item.get("title", ""),
            phone=item.get("phone", ""),
            department=item.get("department", ""),
            role=Role(item["role"]),
            status=UserStatus(item["status"]),
            auth_provider=AuthProvider(item.get("auth_provider", "password")),
            two_factor_enrolled=bool(item.get("two_factor_enrolled", False)),
            deletion_requested=bool(item.get("deletion_requested", False)),
            created_at=parse_ms(item["created_at"]),
        )


# The order in which a user matched by several entries is kept once: at the first kind matching.
# No entry for the first name alone: the full name "first last" starts with it, so its entry
# answers "bo" as it answers "bo ng" (three entries a user, not four: imports write 10 000s).
SEARCH_KINDS = ("full", "last", "email")


def search_text(text: str) -> str:
    """Text as a search compares it: lower-cased, runs of whitespace made one space, trimmed
    ("  Bo   Ng " → "bo ng"); both the entries' tokens and the query's prefix go through it."""
    return " ".join(text.split()).lower()


def search_tokens(user: User) -> dict[str, str]:
    """What a prefix search matches: the full name as people type it (first then last, so a
    prefix of the first name matches too), the last name and the email, each as `search_text`
    makes it."""
    return {
        "full": search_text(f"{user.first_name} {user.last_name}"),
        "last": search_text(user.last_name),
        "email": user.email.lower(),
    }


def roster_sort_key(user: User) -> str:
    return f"{user.status.value}#{user.first_name.lower()} {user.last_name.lower()}".strip()


def enrolment(user: User) -> str:
    """The `two_factor` filter's value for a user: a TOTP secret is set up, or not."""
    return (Enrolment.ENROLLED if user.two_factor_enrolled else Enrolment.NOT_ENROLLED).value


class UserIndexRepository:
    """The user lists of a domain, kept beside the profiles in the same transactions:

    - the roster, `D#<d>#ROSTER` / `<status>#<name>#<id>`: every user once, by status then name
      (lists without a search, and "every active user" for jobs);
    - the admins' roster, `D#<d>#ADMINS` / the roster's sort key: admins only (who gets a
      domain's notices, such as an import's report);
    - the 2FA rosters, `D#<d>#TFA#<enrolled|not_enrolled>` / the roster's sort key: every user
      once, under their enrolment (the `two_factor` filter, with or without a status);
    - search entries, `D#<d>#USEARCH` / `<token>#<kind>#<id>`, three a user (the full name
      "first last", which a first name's prefix also matches, the last name and the email),
      each carrying all three tokens, the status
      and the enrolment, so that a prefix Query returns every match, and a user matched
      several times is kept once (at the first kind that matches, in SEARCH_KINDS' order).
    """

    def __init__(self, table: Table) -> None:
        self._table = table

    def roster_key(self, user: User) -> tuple[str, str]:
        return keys.roster_pk(user.domain), f"{roster_sort_key(user)}#{user.id}"

    def two_factor_roster_key(self, user: User) -> tuple[str, str]:
        return keys.two_factor_roster_pk(user.domain, enrolment(user)), f"{roster_sort_key(user)}#{user.id}"

    def search_keys(self, user: User) -> list[tuple[str, str]]:
        tokens = search_tokens(user)
        return [
            (keys.user_search_pk(user.domain), keys.user_search_sk(tokens[kind], kind, user.id))
            for kind in SEARCH_KINDS
        ]

    def admin_roster_key(self, user: User) -> tuple[str, str]:
        return keys.admins_pk(user.domain), f"{roster_sort_key(user)}#{user.id}"

    def _roster_keys(self, user: User) -> list[tuple[str, str]]:
        rosters = [self.roster_key(user), self.two_factor_roster_key(user)]
        if user.role is Role.ADMIN:
            rosters.append(self.admin_roster_key(user))
        return rosters

    def index_keys(self, user: User) -> list[tuple[str, str]]:
        """Every list entry of a user (what a deletion removes)."""
        return [*self._roster_keys(user), *self.search_keys(user)]

    def put_ops(self, user: User) -> list[dict[str, Any]]:
        return [self._table.put_op(item) for item in self.items(user)]

    def items(self, user: User) -> list[Item]:
        """Every list entry of a user, as items."""
        tokens = search_tokens(user)
        items: list[Item] = [
            {"pk": pk, "sk": sk, "type": "roster", "user_id": user.id} for pk, sk in self._roster_keys(user)
        ]
        for (pk, sk), kind in zip(self.search_keys(user), SEARCH_KINDS, strict=True):
            entry = {
                "pk": pk,
                "sk": sk,
                "type": "user_search",
                "user_id": user.id,
                "kind": kind,
                "status": user.status.value,
                "two_factor": enrolment(user),
                **{f"t_{k}": v for k, v in tokens.items()},
            }
            items.append(entry)
        return items

    def replace_ops(self, before: User, after: User) -> list[dict[str, Any]]:
        """Deletes the entries of `before` whose keys change, and puts those of `after`."""
        new_keys = set(self.index_keys(after))
        old_keys = self.index_keys(before)
        deletes = [self._table.delete_op(pk, sk) for pk, sk in old_keys if (pk, sk) not in new_keys]
        return deletes + self.put_ops(after)

    def list_roster(
        self,
        domain: str,
        status: str | None,
        limit: int,
        start_key: dict[str, Any] | None,
        two_factor: str | None = None,
    ) -> tuple[list[str], dict[str, Any] | None]:
        pk = keys.two_factor_roster_pk(domain, two_factor) if two_factor else keys.roster_pk(domain)
        page = self._table.query(
            pk,
            sk_prefix=f"{status}#" if status else None,
            limit=limit,
            start_key=start_key,
        )
        return [i["user_id"] for i in page.items], page.last_key

    def admins_with_status(self, domain: str, status: str) -> list[str]:
        """The admins of a domain with this status (a handful: one Query)."""
        items = self._table.query_all(keys.admins_pk(domain), sk_prefix=f"{status}#")
        return [item["user_id"] for item in items]

    def all_with_status(self, domain: str, status: str) -> Iterator[str]:
        for item in self._table.query_all(keys.roster_pk(domain), sk_prefix=f"{status}#"):
            yield item["user_id"]

    def search(
        self,
        domain: str,
        prefix: str,
        status: str | None,
        limit: int,
        start_key: dict[str, Any] | None,
        two_factor: str | None = None,
    ) -> tuple[list[str], dict[str, Any] | None]:
        """User ids whose first name, last name, email or full name starts with `prefix`, each
        once, in the order of the matched token; reads on until `limit` are found or the prefix
        is exhausted."""
        prefix = search_text(prefix)
        found: list[str] = []
        pk = keys.user_search_pk(domain)
        while True:
            page = self._table.query(pk, sk_prefix=prefix, limit=max(limit * 2, 20), start_key=start_key)
            for item in page.items:
                if _is_wanted(item, prefix, status, two_factor):
                    found.append(item["user_id"])
                    if len(found) == limit:
                        return found, {"pk": {"S": item["pk"]}, "sk": {"S": item["sk"]}}
            if not page.last_key:
                return found, None
            start_key = page.last_key


def _is_wanted(entry: Item, prefix: str, status: str | None, two_factor: str | None) -> bool:
    if status and entry["status"] != status:
        return False
    if two_factor and entry.get("two_factor", Enrolment.NOT_ENROLLED.value) != two_factor:
        return False
    matching = [kind for kind in SEARCH_KINDS if entry.get(f"t_{kind}", "").startswith(prefix)]
    return bool(matching) and matching[0] == entry["kind"]
