"""Configuration of cluster mode (``[cluster]``) and of where blobs live (``[blobs]``).

Kept apart from config.py so that the keys of running several nodes on one PostgreSQL sit
together; docs/cluster.md explains them. Cluster mode needs ``store.backend = "postgresql"``
(config_rules.py says so at load time); every node of one cluster names the same ``store.dsn``
and a ``cluster.node`` of its own.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta


def _d(text: str) -> Meta:
    return Meta(description=text)


class ClusterConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Many stateless nodes on one PostgreSQL (docs/cluster.md)."""

    enabled: Annotated[bool, _d(
        "Run as one node of several on the same PostgreSQL database: changes reach the other "
        "nodes' sessions through LISTEN/NOTIFY, queue entries are leased, periodic jobs run on "
        "one node at a time. Needs store.backend = \"postgresql\".")] = False
    node: Annotated[str, _d(
        "This node's name, unique in the cluster (shown by 'postroom cluster status', kept "
        "with every lease it holds). Empty: the host name.")] = ""
    lease_seconds: Annotated[float, _d(
        "How long a node's claim on a queue entry or a periodic job lasts without renewal; "
        "after a node dies, others take its work over once its leases run out."),
                             Meta(ge=2, le=3600)] = 60.0
    heartbeat_seconds: Annotated[float, _d(
        "How often a node records that it is alive and checks its change-feed connection."),
                                 Meta(gt=0, le=60)] = 2.0
    feed_timeout: Annotated[float, _d(
        "Seconds without an answer on the change-feed connection after which it is taken as "
        "lost, reopened, and every session catches up from the store."),
                            Meta(gt=0, le=300)] = 6.0


class S3Config(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """An S3-compatible object store for blobs (``blobs.backend = "s3"``)."""

    endpoint: Annotated[str, _d(
        "Base URL of the object store, e.g. 'https://s3.eu-west-1.amazonaws.com' or "
        "'http://127.0.0.1:9000'.")] = ""
    region: Annotated[str, _d("Region used in request signatures (AWS Signature V4).")] = \
        "us-east-1"
    bucket: Annotated[str, _d("Bucket holding the blobs (must exist).")] = ""
    prefix: Annotated[str, _d("Key prefix inside the bucket, e.g. 'postroom/'.")] = ""
    access_key: Annotated[str, _d("Access key id.")] = ""
    secret_key_file: Annotated[str, _d(
        "File holding the secret access key (kept out of the configuration file).")] = ""
    ca_file: Annotated[str, _d(
        "CA certificates to verify an https endpoint with; empty: the system's.")] = ""
    timeout: Annotated[float, _d("Seconds an object store request may take."),
                       Meta(gt=0, le=600)] = 30.0


class BlobsConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Where message and item contents live (docs/cluster.md, "Blobs")."""

    backend: Annotated[Literal["files", "postgresql", "s3"], _d(
        "files: under <data_dir>/blobs (one node, or a shared file system); postgresql: in "
        "the store's own database, chunked (every node reaches it); s3: an S3-compatible "
        "object store.")] = "files"
    path: Annotated[str, _d(
        "Directory of the files backend; empty: <data_dir>/blobs. Nodes of a cluster that "
        "keep blobs as files must all name one shared directory.")] = ""
    chunk_size: Annotated[int, _d(
        "Octets per row when blobs are kept in PostgreSQL."),
                          Meta(ge=4096, le=64 << 20)] = 1 << 20
    s3: S3Config = msgspec.field(default_factory=S3Config)


def node_name(cluster: ClusterConfig) -> str:
    """This node's name: ``cluster.node``, or the host name when that is empty."""
    import socket
    return cluster.node or socket.gethostname()
