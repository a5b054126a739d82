"""Pure rules: no framework, database or network imports."""
