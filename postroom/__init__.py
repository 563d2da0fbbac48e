"""Postroom: an all-in-one mail server."""

__version__ = "0.1.0"
