"""One model, to show migrations and the ORM working over verified TLS."""
