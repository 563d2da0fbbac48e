"""Networking: listeners, TLS, STARTTLS, PROXY protocol, per-IP limits."""
