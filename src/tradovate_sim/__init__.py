"""A self-hosted, wire-compatible Tradovate trading server."""
