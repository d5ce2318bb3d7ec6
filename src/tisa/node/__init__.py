"""A running node: settings, the shared context, the runtime that wires it, the supervisor of
its background tasks, its health, metrics, disk and integrity."""
