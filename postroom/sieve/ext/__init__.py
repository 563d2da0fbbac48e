"""The Sieve extensions, one module per concern; importing this package registers them all
(postroom/sieve/registry.py). A module added here must be imported below."""

from postroom.sieve.ext import core  # noqa: F401
