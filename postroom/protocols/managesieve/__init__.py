"""ManageSieve (RFC 5804): managing a user's Sieve scripts over TCP, port 4190.

wire.py (sans I/O: commands in, strings and responses out), session.py (framing, states,
dispatch, errors), cmd_auth.py and cmd_scripts.py (the commands), server.py (what the
listener runs). Scripts are stored and checked by services/sieve/scripts.py.
"""
