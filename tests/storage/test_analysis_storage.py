"""An ANALYZE job that asks a question with ASSAY_STORAGE_URL=s3://: what it did before asking is stored, the
resumed job picks it up even with the cache lost, and its report is served from the bucket."""

from __future__ import annotations

import shutil

from starlette.testclient import TestClient

from schema.common import raw_id
from server.app import create_app
from tests.analysis.test_analysis import ANALYZE, ANSWER, ambiguous_frame, wait_for
from tests.support.graphql import gql, ingest, register
from tests.support.settings import make_settings


def test_a_question_then_the_answer_resumes_from_the_bucket_and_the_report_is_served(tmp_path, storage_url, s3_server):
    settings = make_settings(tmp_path, storage_url=storage_url)
    with TestClient(create_app(settings)) as client:
        token = register(client)["accessToken"]
        dataset = ingest(
            client, token, ambiguous_frame().to_csv(index=False).encode(), "ambiguous.csv", expect="SUCCEEDED"
        )
        job_id = gql(client, ANALYZE, {"input": {"datasetId": dataset["id"]}}, token)["data"]["analyzeDataset"]["job"][
            "id"
        ]
        waiting = wait_for(client, token, job_id, ("NEEDS_INPUT", "SUCCEEDED", "FAILED"))
        assert waiting["status"] == "NEEDS_INPUT", waiting
        job_folder = f"analyses/{raw_id(job_id, 'Job')}/"
        assert any(key.startswith(job_folder) for key in s3_server.keys(storage_url))  # its finished stages
        for folder in ("datasets", "analyses"):  # as if another worker resumed it
            shutil.rmtree(settings.resolved_data_dir / folder, ignore_errors=True)
        assert gql(client, ANSWER, {"id": job_id, "a": "kind"}, token)["data"]["answerJob"]["errors"] == []
        done = wait_for(client, token, job_id, ("SUCCEEDED", "FAILED"), timeout=300)
        assert done["status"] == "SUCCEEDED", done
        assert any("Stage profile already done" in entry["message"] for entry in done["logs"])
        keys = s3_server.keys(storage_url)
        report = raw_id(done["report"]["id"], "Report")
        assert f"reports/{report}.html" in keys and not any(key.startswith(job_folder) for key in keys)
        shutil.rmtree(settings.resolved_data_dir / "reports")
        page = client.get(done["report"]["url"], follow_redirects=False)  # reports are streamed, with their CSP
        assert page.status_code == 200 and "Content-Security-Policy" in page.headers and "<html" in page.text.lower()
