"""HTTP interfaces: federation (node to node, mutual TLS), analyst API, health and metrics."""
