from __future__ import annotations

from django.urls import path

from benchmarks.peers.django_bench import views

urlpatterns = [
    path("plaintext", views.plaintext),
    path("json", views.json_view),
    path("session", views.session),
    path("db", views.db),
    path("queries", views.queries),
    path("fortunes", views.fortunes),
    path("updates", views.updates),
]
