"""billecta-sync core: clients, mappings, use-cases, webhook handling and the service database.

Free of Flask and Celery, so the same code runs in workers, the CLI and tests.
"""

__version__ = "0.1.0"
