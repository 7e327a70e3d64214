"""Monitoring of served models: what predict and predictDataset saw, per model and time window, and how far
the served inputs drifted from the model's training data.

- sample.py: the bounded sample of one window (bottom-k: mergeable across writers) and window arithmetic.
- recorder.py: a replica's in-process buffer for predict, written in batches by a background task.
- reference.py: a window's served inputs against a sample of the training dataset (services.drift's tests).
- jobs.py: what a predictDataset job samples of its rows, and its end hook storing it.
- loop.py: the replica's background task (flush, judge ended windows, expire old ones).
- service.py: monitors, reading windows, judging closed windows, alerts, retention.
"""
