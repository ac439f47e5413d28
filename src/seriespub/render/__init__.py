"""Instalment → HTML and text email, rendered once and addressed per recipient."""
