"""``ENGINE = "django_aurora_ssl.backends.postgresql"``: Django's PostgreSQL over verified TLS."""
