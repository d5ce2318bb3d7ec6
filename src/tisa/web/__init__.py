"""The web UI every node serves: server-rendered pages, vendored assets, three languages."""
