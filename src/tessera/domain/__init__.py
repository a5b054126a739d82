"""Tessera domain model: pure Python, no framework or database imports."""
