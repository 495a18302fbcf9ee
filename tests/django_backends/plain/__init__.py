"""``ENGINE = "tests.django_backends.plain"``: a subclass of Django's own backend, not ours."""
