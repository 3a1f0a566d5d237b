"""§5 Chats: routes (filled in by the groups/chats/files work of issue 4)."""

from __future__ import annotations

from chalice.app import Blueprint

bp = Blueprint(__name__)
