"""The tamper-evident audit log: the hash chain (pure), and the log at work: checkpoints,
their exchange with peers, verification and proofs."""
