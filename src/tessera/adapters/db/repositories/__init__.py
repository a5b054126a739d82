"""Repositories: the only code that writes SQL. Tenant-owned ones extend ``TenantScoped``."""
