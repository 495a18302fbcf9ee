"""``ENGINE = "tests.django_backends.provider"``: a password provider in a subclass."""
