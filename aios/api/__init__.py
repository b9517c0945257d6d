"""The daemon's HTTP API (FastAPI): users and agent processes reach the kernel through it."""
