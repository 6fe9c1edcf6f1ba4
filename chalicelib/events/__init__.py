"""Domain events: the envelope, the transactional outbox, the publisher and idempotent consumers."""
