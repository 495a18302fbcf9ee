"""Database backends: drop-in replacements for Django's PostgreSQL and PostGIS backends."""
