"""Giftbit (API v1, direct links): its wire types, the adapter, and a double of its dialect."""
