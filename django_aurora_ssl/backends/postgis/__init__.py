"""``ENGINE = "django_aurora_ssl.backends.postgis"``: Django's PostGIS over verified TLS."""
