"""Lime → Billecta: use-cases that read a Lime object and create, change or remove its Billecta twin."""
