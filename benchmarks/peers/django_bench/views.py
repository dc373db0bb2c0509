"""Django views of the benchmark peer: sync views (see the package docstring)."""

from __future__ import annotations

import random

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from benchmarks.dbtests import EXTRA_FORTUNE, WORLD_ROWS
from benchmarks.peers.django_bench.models import Fortune, World

HELLO = b"Hello, World!"


def _random_id() -> int:
    return random.randint(1, WORLD_ROWS)


def _queries(request: HttpRequest) -> int:
    try:
        n = int(request.GET.get("queries", "1"))
    except ValueError:
        return 1
    return min(max(n, 1), 500)


def plaintext(request: HttpRequest) -> HttpResponse:
    return HttpResponse(HELLO, content_type="text/plain")


def json_view(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"message": "Hello, World!"})


def session(request: HttpRequest) -> HttpResponse:
    count = request.session.get("count", 0) + 1
    request.session["count"] = count
    return JsonResponse({"count": count})


def db(request: HttpRequest) -> HttpResponse:
    world = World.objects.get(id=_random_id())
    return JsonResponse({"id": world.id, "randomNumber": world.randomNumber})


def queries(request: HttpRequest) -> HttpResponse:
    out = []
    for _ in range(_queries(request)):
        world = World.objects.get(id=_random_id())
        out.append({"id": world.id, "randomNumber": world.randomNumber})
    return JsonResponse(out, safe=False)


def fortunes(request: HttpRequest) -> HttpResponse:
    rows = list(Fortune.objects.values_list("id", "message"))
    rows.append((0, EXTRA_FORTUNE))
    rows.sort(key=lambda f: f[1])
    return render(request, "fortunes.html", {"fortunes": rows})


def updates(request: HttpRequest) -> HttpResponse:
    worlds = []
    with transaction.atomic():
        # ids in order, as in benchmarks/dbtests.py: no deadlocks between concurrent requests
        for wid in sorted(_random_id() for _ in range(_queries(request))):
            world = World.objects.get(id=wid)
            world.randomNumber = random.randint(1, 10000)
            worlds.append(world)
        World.objects.bulk_update(worlds, ["randomNumber"])
    return JsonResponse([{"id": w.id, "randomNumber": w.randomNumber} for w in worlds], safe=False)
