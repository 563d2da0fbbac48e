"""ACME (RFC 8555) inside the server: the client (client.py), the challenges the listeners
answer (challenges.py), the files under <data_dir>/tls/acme (files.py) and the scheduler that
renews and swaps the certificate into every listener (manager.py). docs/operations.md,
"Certificates (ACME)", is the administrator's side."""
