"""Runa (API v2): its wire types, the adapter, and a double speaking its dialect."""
