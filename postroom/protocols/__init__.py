"""Protocol front-ends: bytes in, typed commands, service calls, bytes out."""
