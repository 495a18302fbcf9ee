"""Points and polygons in WGS 84, as an app that stores locations would have them."""

from __future__ import annotations

from django.contrib.gis.db import models


class Place(models.Model):
    """A named point: round-trips a geometry and answers distance lookups."""

    name = models.CharField(max_length=100, unique=True)
    location = models.PointField(srid=4326)

    def __str__(self) -> str:
        return self.name


class Region(models.Model):
    """A named polygon: answers ``contains`` / ``within`` against points."""

    name = models.CharField(max_length=100, unique=True)
    area = models.PolygonField(srid=4326)

    def __str__(self) -> str:
        return self.name
