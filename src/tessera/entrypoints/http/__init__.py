"""The HTTP API: one router per resource, built by ``create_app``."""
