"""The HTTP half's front-ends: one ASGI application per listener, built by web/app.py."""
