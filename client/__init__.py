"""A small Python client for Assay, and the `assay` command built from it."""

from client.api import AssayClient
from client.errors import AssayError

__all__ = ["AssayClient", "AssayError"]
