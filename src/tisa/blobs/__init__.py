"""Content-addressed, encrypted blobs: the attachments a node holds."""
