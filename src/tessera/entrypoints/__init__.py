"""Thin entrances: HTTP, CLI, stream consumers."""
