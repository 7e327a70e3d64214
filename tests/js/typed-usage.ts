// Compiled with `tsc --strict` against the generated documents: a frontend's use of them type-checks,
// so a schema change that breaks one of examples/operations fails here, not in a user's build.
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { print } from "graphql";
import {
  DatasetWithProfileDocument, JobEventsDocument, LoginDocument, PredictDocument, TrainModelDocument,
  type JobEventKind,
} from "./generated/gql/graphql";

async function request<Result, Variables>(document: TypedDocumentNode<Result, Variables>, variables: Variables,
                                          token?: string): Promise<Result> {
  const response = await fetch("http://127.0.0.1:8000/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query: print(document), variables }),
  });
  const body = (await response.json()) as { data: Result };
  return body.data;
}

export async function tour(email: string, password: string, datasetId: string): Promise<string[]> {
  const login = await request(LoginDocument, { email, password });
  const token: string | null | undefined = login.login.accessToken;
  if (!token) return login.login.errors.map((error) => `${error.code}: ${error.message}`);
  const dataset = (await request(DatasetWithProfileDocument, { id: datasetId }, token)).dataset;
  const alerts: string[] = dataset?.profile?.alerts.map((alert) => alert.message) ?? [];
  const trained = await request(TrainModelDocument, { datasetId, target: dataset?.columns[0]?.name ?? "y", budget: 10 },
                                token);
  const modelId = trained.trainModel.model?.id;
  if (modelId) {
    const predicted = await request(PredictDocument, { modelId, rows: [{ a: 1 }] }, token);
    alerts.push(...predicted.predict.predictions.map((p) => String(p.value)));
  }
  const watching: TypedDocumentNode<unknown, { jobId: string }> = JobEventsDocument;
  const kinds: JobEventKind[] = [];
  return [...alerts, String(watching), ...kinds];
}
