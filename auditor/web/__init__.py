"""Browsing the database with Datasette (the optional ``web`` extra): shipped metadata and launch."""
