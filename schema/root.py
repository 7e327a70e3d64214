"""The GraphQL schema: the root types composed from the per-domain operation classes in resolvers/, and its
extensions."""

from __future__ import annotations

import logging
import uuid
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, Union

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types.base import has_object_definition

from resolvers import (
    analysis,
    checks,
    comparisons,
    datasets,
    jobs,
    maintenance,
    models,
    monitoring,
    pipelines,
    preprocessing,
    profiles,
    registry,
    sql,
    system,
    users,
    webhooks,
)
from schema.domain import GraphQLDomain, Made, loaders_of
from schema.fanout import SharedEventExecutor

# The list of GraphQL domains, each declared once in its resolvers/<domain>.py; the root types' fields follow its order.
DOMAINS: tuple[GraphQLDomain, ...] = (
    system.GRAPHQL,
    users.GRAPHQL,
    datasets.GRAPHQL,
    profiles.GRAPHQL,
    preprocessing.GRAPHQL,
    models.GRAPHQL,
    pipelines.GRAPHQL,
    analysis.GRAPHQL,
    jobs.GRAPHQL,
    registry.GRAPHQL,
    sql.GRAPHQL,
    maintenance.GRAPHQL,
    checks.GRAPHQL,
    comparisons.GRAPHQL,
    webhooks.GRAPHQL,
    monitoring.GRAPHQL,
)


def _root(name: str, parts: list[type | None]) -> type:
    """One root type whose fields are every domain's, in the list's order. A domain's classes are plain classes of
    fields (resolvers/fields.py); each becomes a strawberry type here, so none can miss its decorator."""
    return strawberry.type(type(name, tuple(_operations(part) for part in parts if part is not None), {}))


def _operations(part: type) -> type:
    """A class already decorated (as strawberry's own docs write it) is taken as it is."""
    return part if has_object_definition(part) else strawberry.type(part)


Query = _root("Query", [d.query for d in DOMAINS])
Mutation = _root("Mutation", [d.mutation for d in DOMAINS])
Subscription = _root("Subscription", [d.subscription for d in DOMAINS])

# By job kind, what it makes (Job.output and the kind's links: schema/domain.py), and the declared DataLoaders.
MADE: dict[str, tuple[Made, ...]] = {kind: made for d in DOMAINS for kind, made in d.makes.items()}
LOADERS = loaders_of(DOMAINS)  # a name declared twice stops the server here
# Job.output's type: every type a kind declares it makes, each once.
if TYPE_CHECKING:
    JobOutput = Any  # to a type checker any of the declared types: the union exists only once domains are read
else:
    JobOutput = Annotated[
        Union[tuple(dict.fromkeys(m.type for made in MADE.values() for m in made))],  # noqa: UP007 (built at run time)
        strawberry.union("JobOutput", description="What a job made, by its kind"),
    ]


def should_mask(error: GraphQLError) -> bool:
    """Hide unexpected exceptions; keep errors we raised on purpose (they carry a code) and validation errors."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return False
    return not (error.extensions or {}).get("code")


logger = logging.getLogger("assay.errors")
ERROR_ID = "errorId"


class FastMaskErrors(MaskErrors):
    """MaskErrors without a runtime Protocol check per result: that check was a tenth of each subscription event.

    The masked error keeps the id its log line has (AssaySchema.process_errors), so a user can quote it.
    """

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        error_id = (error.extensions or {}).get(ERROR_ID)
        masked.extensions = {"code": "INTERNAL", **({ERROR_ID: error_id} if error_id else {})}
        return masked

    def _process_result(self, result: object) -> None:
        # Strawberry's private method, overridden on purpose: both public hooks (on_operation and
        # on_stream_result, once per subscription event) call it, and it is where the runtime
        # Protocol isinstance sits; MaskErrors offers no public way around it (strawberry 0.341).
        # tests/transport/test_library_seams.py fails if the method or its callers' contract changes.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]  # set on the result type, not the Protocol it is typed as


DOCUMENTS_CACHED = 256  # distinct query texts kept parsed and validated (a client app sends a few dozen)


class AssaySchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Log only unexpected errors, in full, naming the operation and the user, under an id the client gets."""
        context = getattr(execution_context, "context", None)
        user = getattr(context, "user", None)
        operation = getattr(execution_context, "operation_name", None) or "(anonymous)"
        for error in errors:
            if should_mask(error):
                error_id = uuid.uuid4().hex[:12]
                error.extensions = {**(error.extensions or {}), ERROR_ID: error_id}
                logger.error(
                    "Unexpected error %s in operation %s (field %s) for user %s: %s",
                    error_id,
                    operation,
                    ".".join(map(str, error.path or [])) or "-",
                    user.id if user is not None else "anonymous",
                    error.message,
                    exc_info=error.original_error,
                )


@lru_cache(maxsize=8)
def create_schema(
    *, max_depth: int = 10, max_aliases: int = 15, max_tokens: int = 2000, extensions: tuple[Any, ...] = ()
) -> strawberry.Schema:
    """`extensions`: the server's own (metrics, tracing), run before the limits so refused operations are seen too.

    Cached by its arguments: building the schema takes most of a second, and a schema holds no per-app state
    (its extensions are classes made per operation, which find the app through the context), so every app in a
    process with the same limits shares one — a test suite creates an app per test."""
    # Parsing and validating a document is a fixed cost of every request (validating predict's took longer
    # than the whole of health), so both are cached by document text. The limiters' rule classes are made
    # once: made per request (as the limiters do), they would be a new cache key each time.
    limit_rules = [
        *QueryDepthLimiter(max_depth=max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules,
    ]
    return AssaySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(auto_camel_case=True),
        execution_context_class=SharedEventExecutor,
        extensions=[
            *extensions,
            lambda: AddValidationRules(limit_rules),
            lambda: MaxTokensLimiter(max_token_count=max_tokens),
            lambda: ParserCache(maxsize=DOCUMENTS_CACHED),
            lambda: ValidationCache(maxsize=DOCUMENTS_CACHED),
            lambda: FastMaskErrors(should_mask_error=should_mask, error_message="Internal server error"),
        ],
    )
