"""Per-domain GraphQL operations (Query/Mutation/Subscription classes); schema/root.py composes them."""
