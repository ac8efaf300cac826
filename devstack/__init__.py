"""Development tooling: the process supervisor behind ``make run`` and the demo flow. Never imported by the service."""
