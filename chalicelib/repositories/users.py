"""Users: a PROFILE item in the user's own partition, and an EMAIL item that maps the domain's
(lower-cased) email to the user and holds the password hash, so that profile reads never carry
a secret and an email is unique within a domain by construction (conditional Put)."""

from __future__ import annotations

from typing import Any

from chalicelib.core.clock import iso_ms
from chalicelib.domain.models import AuthProvider, Credentials, Role, User, UserStatus
from chalicelib.repositories import keys
from chalicelib.repositories.dynamo import ITEM_IS_NEW, Item, Table
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
        """The Puts of a new user: the email item (fails if the email is taken) then the profile."""
        email_pk, email_sk = self.email_key(user.domain, user.email)
        credentials = {
            "pk": email_pk,
            "sk": email_sk,
            "type": "email",
            "user_id": user.id,
            "password_hash": password_hash,
        }
        return [
            self._table.put_op(credentials, ITEM_IS_NEW),
            self._table.put_op(self.to_item(user), ITEM_IS_NEW),
        ]

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
            "two_factor_method": user.two_factor_method,
            "two_factor_enrolled": user.two_factor_enrolled,
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
            two_factor_method=item.get("two_factor_method"),
            two_factor_enrolled=bool(item.get("two_factor_enrolled", False)),
            created_at=parse_ms(item["created_at"]),
        )
