"""MIME scanning: structure and byte offsets of a message, computed once at delivery."""
