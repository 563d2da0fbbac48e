"""Blobs in an S3-compatible object store (``blobs.backend = "s3"``, docs/cluster.md)."""
