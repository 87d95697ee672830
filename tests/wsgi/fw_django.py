"""A small Django application (one module, settings included) for the WSGI tests."""

from __future__ import annotations

import hashlib

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="test-only-not-secret",
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    DATABASES={},
    USE_TZ=True,
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse, StreamingHttpResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402


def hello(request):  # type: ignore[no-untyped-def]
    return HttpResponse("Hello from Django!\n", content_type="text/plain")


@csrf_exempt
def upload(request):  # type: ignore[no-untyped-def]
    data = request.body
    return HttpResponse(f"{len(data)} {hashlib.sha256(data).hexdigest()}")


def stream(request):  # type: ignore[no-untyped-def]
    return StreamingHttpResponse((f"row {i}\n" for i in range(5)), content_type="text/plain")


urlpatterns = [path("hello", hello), path("upload", upload), path("stream", stream)]

app = get_wsgi_application()
