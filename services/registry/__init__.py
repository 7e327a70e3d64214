"""The model registry: names a user serves models under, numbered versions, movable aliases, and the
history of every registration and move (service.py; reference parsing in names.py)."""

from enum import StrEnum


class RegistryEventKind(StrEnum):
    """The API's RegistryEventKind is this enum (schema/registry.py)."""

    REGISTERED = "REGISTERED"
    ALIAS_SET = "ALIAS_SET"
    ALIAS_DELETED = "ALIAS_DELETED"
