"""A tiny GeoDjango app for tests/integration/django/test_postgis.py: geometry columns made by ``migrate``,
written and queried with spatial lookups through ``django_aurora_ssl.backends.postgis``."""
