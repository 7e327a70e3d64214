"""Admin mutations on the database."""
from __future__ import annotations

import strawberry

from resolvers import maintenance as maintenance_resolvers
from resolvers.permissions import IsAuthenticated
from services.errors import ServiceError
from services.maintenance import RESET_CONFIRMATION

from schema.common import user_error
from schema.database import InitializeDatabasePayload, ResetDatabaseInput, ResetDatabasePayload


@strawberry.type
class MaintenanceMutation:
    @strawberry.mutation(permission_classes=[IsAuthenticated],
                         description="ADMIN only. Migrate the database to the newest revision (a no-op when it is "
                                     "there); on PostgreSQL under the advisory lock replicas take at start-up")
    async def initialize_database(self, info: strawberry.Info) -> InitializeDatabasePayload:
        try:
            result = await maintenance_resolvers.initialize_database(info.context)
        except ServiceError as exc:
            return InitializeDatabasePayload(errors=[user_error(exc)])
        return InitializeDatabasePayload(previous_revision=result.previous_revision, revision=result.revision)

    @strawberry.mutation(permission_classes=[IsAuthenticated],
                         description="ADMIN only, and only where ASSAY_ALLOW_DATABASE_RESET=true. Cancels every "
                                     "unfinished job, deletes every row of every table (users and tokens included) and "
                                     f'every data file, then recreates the configured admin. `confirmation` must be "'
                                     f'{RESET_CONFIRMATION}".')
    async def reset_database(self, info: strawberry.Info, input: ResetDatabaseInput) -> ResetDatabasePayload:
        try:
            result = await maintenance_resolvers.reset_database(info.context, confirmation=input.confirmation)
        except ServiceError as exc:
            return ResetDatabasePayload(errors=[user_error(exc)])
        return ResetDatabasePayload(deleted_rows=result.deleted_rows, deleted_files=result.deleted_files)
