"""Datasets: uploads, versions, rows and charts (the DB side); ingest parsing lives in services/ingest."""
