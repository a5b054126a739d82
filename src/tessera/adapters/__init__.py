"""The outside world: the database, and later webhooks, streams and the expression engine."""
