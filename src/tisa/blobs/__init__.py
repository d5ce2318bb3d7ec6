"""Content-addressed, encrypted blobs: the attachments a node holds.

One concept per module, each importing only those below it (an import-linter contract in
pyproject.toml)::

    store      BlobStore: has, size, open (read), delete, writer, partial, sweep
    partials   the partials folder: open or resume a receive, measure, sweep, discard; Swept
    writer     BlobWriter: an upload whose hash is known only at the end
    keyfile    the key-encryption key's file: create_key, load_key
    partial    Partial: a resumable receive whose digest and size were announced
    folders    the folders under the root, keyed file names, the atomic install
    chunker    Chunker, open_chunks: the one routine that cuts and seals chunks, and its reverse
    locks      flock(2) locks, one holder per file across processes
    files      whole reads and writes, directory fsync, OSError to DiskFull/ConfigInvalid
    limits     BlobTooLarge, Space (the disk reserve), the cap on partials
    format     the file format: addresses, BlobRef, header, chunk layout (pure)
    cipher     AES-256-GCM per chunk, data-key wrap, keys derived from the KEK (pure)

This package re-exports nothing: import each name from the module that defines it.
"""
