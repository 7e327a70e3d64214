"""Per-domain GraphQL operations; `schema` composes them into the root types.

The schema package is loaded first, whichever module is imported first: its roots import every
resolvers module, and those import schema types, so starting from a resolvers module would meet a
half-built one.
"""
import schema  # noqa: F401  (see above)
