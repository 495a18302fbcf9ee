"""``ENGINE = "tests.django_backends.bypass"``: a subclass that skips our parameters."""
