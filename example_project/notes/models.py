from __future__ import annotations

from django.db import models


class Note(models.Model):
    """A line of text, written and read over verified TLS."""

    text = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return self.text
