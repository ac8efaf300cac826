"""Celery workers: thin tasks that take ids, call a billecta_sync use-case and apply a retry policy."""
