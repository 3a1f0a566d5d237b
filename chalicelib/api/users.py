"""§4 Users (admin only) and §2 the invitation flow."""

from __future__ import annotations

from chalice.app import Blueprint

bp = Blueprint(__name__)
