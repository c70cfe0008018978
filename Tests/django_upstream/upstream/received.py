"""Every request that reached Django, recorded before its response leaves: the test asks which tokens the
gateway let through (a token the gateway refuses must never be here)."""

import threading

from django.http import JsonResponse

_lock = threading.Lock()
_requests = []


def record_requests(get_response):
    """Middleware: method, path, Authorization and the status Django answered, for every request but the list's own."""

    def middleware(request):
        response = get_response(request)
        if request.path != "/test/received":
            with _lock:
                _requests.append(
                    {
                        "method": request.method,
                        "path": request.path,
                        "authorization": request.headers.get("Authorization"),
                        "status": response.status_code,
                    }
                )
        return response

    return middleware


def received(request):
    """GET /test/received: the requests recorded so far, oldest first."""
    with _lock:
        return JsonResponse({"requests": list(_requests)})
