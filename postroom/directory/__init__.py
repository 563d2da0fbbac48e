"""Domains, accounts, aliases, groups, admin roles; password hashing; recipient resolution."""
