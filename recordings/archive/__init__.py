"""The archive: every sealed file and chain line copied off the node to S3-compatible storage.

`backlog` is the durable queue on disk that every seal point feeds (`Backlog.enqueue`); `keys`
names the objects (pure); `s3` talks the S3 API (aiobotocore) and nothing else; `confirmed`
is the archive chain of `archived` entries; `drain` empties the backlog into the store;
`restore` brings evidence back. No HTTP server code lives here.
"""
