// graphql-http's GraphQL-over-HTTP audit suite against a running Assay: prints one JSON line per audit.
import { auditServer } from "graphql-http";

const url = process.argv[2];
const results = await auditServer({ url });
for (const result of results) {
  console.log(JSON.stringify({ id: result.id, name: result.name, status: result.status,
    reason: result.status === "ok" ? undefined : result.reason }));
}
