"""Serving: adapters that put the inference engines behind model servers."""
