"""Reloadly (gift cards API): its wire types, OAuth2 tokens, the adapter, and a double."""
