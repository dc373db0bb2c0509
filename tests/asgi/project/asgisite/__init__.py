"""A small site served by Tornado, uvicorn and granian in the ASGI tests (one app, all features)."""
