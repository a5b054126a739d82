"""Tessera: a multi-tenant voucher management system with a real-time rewards engine."""

__version__ = "0.1.0"
