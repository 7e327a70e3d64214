from tests.support.graphql import ingest


def test_upload_then_ready(client, token):
    dataset = ingest(client, token, b"id,name,score\n1,ann,1.5\n2,bob,2.5\n3,cy,NA\n")
    assert dataset["status"] == "READY", dataset
    assert dataset["rowCount"] == 3
