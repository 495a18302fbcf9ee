"""Run by ``manage.py test``: the test database is created, used and dropped over verified TLS."""

from __future__ import annotations

from django.db import connection
from django.test import TestCase

from example_project.notes.models import Note


class NoteOverTLSTests(TestCase):
    def test_orm_round_trip_over_tls(self) -> None:
        Note.objects.create(text="written in the test database")
        assert Note.objects.count() == 1
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT ssl, current_database() FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
            )
            ssl, database = cursor.fetchone()
        assert ssl is True
        assert database.startswith("test_"), database
