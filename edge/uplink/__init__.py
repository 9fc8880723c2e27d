"""The edge's uplink to the central image-review hub: the outbox (what the hub has not confirmed
yet, kept in the lane's store), the worker that drains it over HTTP (resumable blob uploads,
passage documents), and the verdict feed that brings reviewers' verdicts back on a cursor.

The passages package knows nothing of it: it hands the ids it changed to `Outbox.enqueue_passages`
inside its own transaction. The wire is `contract.uplink`; nothing here imports `hub`.
"""
