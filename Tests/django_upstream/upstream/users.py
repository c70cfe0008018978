"""The demo users serve.py creates, in this order (so their primary keys are 1, 2, …)."""

DEMO_USERS = [
    ("alice", "wonderland"),
    ("bob", "builder"),
]
