"""The HTTP API: the HTTP channel, group administration and health (DESIGN.md, HTTP API)."""
