"""``ENGINE = "tests.django_backends.tamper"``: a subclass that swaps the trust anchor."""
