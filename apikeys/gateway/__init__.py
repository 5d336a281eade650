"""The gateway every API request passes through: credential snapshots, limits and metering.

The request path touches no database for a warm key and makes one Redis round trip (a Lua
script that reads the cached key snapshot, checks every window and increments the counters
atomically). Metering appends to an in-process buffer that a background thread ships in
batches; the Celery task `apikeys.tasks.usage_flush` writes them in bulk.
"""
