"""The TechEmpower tables of :mod:`benchmarks.dbtests`, as unmanaged Django models."""

from __future__ import annotations

from django.db import models


class World(models.Model):
    id = models.IntegerField(primary_key=True)
    randomNumber = models.IntegerField(db_column="randomNumber")  # TechEmpower's column name

    class Meta:
        db_table = "tpbench_world"
        managed = False


class Fortune(models.Model):
    id = models.IntegerField(primary_key=True)
    message = models.CharField(max_length=2048)

    class Meta:
        db_table = "tpbench_fortune"
        managed = False
