"""Moving things between nodes: routing, the inbox, the outbox sender."""
