"""Persistence: metadata (SQLite or PostgreSQL), content-addressed blobs, the mail queue.

Design choice (deviates from DESIGN.md's asyncpg suggestion, on purpose): repository code is
written once as synchronous functions over a tiny ``Tx`` interface, and each engine decides how to
run them. SQLite runs every write on one writer thread that commits many transactions with one
fsync (group commit); PostgreSQL runs them on a thread pool of psycopg connections. One body of
SQL therefore serves both backends and the contract suite checks that they agree, instead of two
hand-kept implementations drifting apart.
"""
