"""Adapters to outside services: every call to them, the checks of what they send us (signatures)
and the parsing of their payloads into frozen dataclasses. They import only `core`, `domain`, the
standard library and the services' own SDKs (lazily, where heavy: cold starts pay for imports)."""
