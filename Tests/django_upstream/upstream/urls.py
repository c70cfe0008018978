from django.urls import path

from upstream import received, views

urlpatterns = [
    path("auth/verify-credentials", views.VerifyCredentials.as_view()),
    path("api/whoami", views.WhoAmI.as_view()),
    path("test/received", received.received),
]
