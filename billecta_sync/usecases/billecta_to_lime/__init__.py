"""Billecta → Lime: use-cases that re-read a Billecta object and write its state into Lime."""
