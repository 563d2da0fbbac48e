"""Sieve at the service layer: stored scripts, and running them at delivery.

- scripts.py: ``SieveScripts``, the one door to stored scripts (ManageSieve, the CLI, the API
  and webmail call it): names, limits, rights, the audit record, the compile cache;
- filter.py: the chain of scripts run for one recipient at delivery, and its result turned
  into copies through the gate;
- environment.py: what a running script may ask of the world (folders through the gate,
  included scripts, the duplicate memory);
- srs.py, vacation.py, redirect.py, memory.py: redirects, vacation replies and the memory
  between deliveries.

docs/sieve.md describes the whole for administrators.
"""
