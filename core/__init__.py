"""Shared foundation under every stage: messages, bus, store, blob store, settings, errors."""
