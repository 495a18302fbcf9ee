"""``manage.py demo_notes``: write a note with the ORM and show that the server saw TLS."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from example_project.notes.models import Note

TLS_QUERY = "SELECT ssl, version, cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


class Command(BaseCommand):
    help = "Insert a note, count the notes, and print the server's view of this session's TLS."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--text", default="hello from Django over verified TLS")

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            Note.objects.create(text=options["text"])
        with connection.cursor() as cursor:
            cursor.execute(TLS_QUERY)
            ssl, version, cipher = cursor.fetchone()
        count = Note.objects.count()
        self.stdout.write(
            f"Django ({connection.vendor}, {connection.Database.__name__}): {count} note(s); "
            f"server says ssl={ssl} {version} {cipher}"
        )
