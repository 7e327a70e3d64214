"""GraphQL types, inputs and payloads per domain (schema/<domain>.py); schema/root.py composes the root types
from the resolvers/ classes. Kept empty so that importing any schema module never pulls in the resolvers."""
