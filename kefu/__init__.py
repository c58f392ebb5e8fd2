"""Kefu: a grounded knowledge assistant for e-commerce customer service."""

__version__ = "0.1.0"
