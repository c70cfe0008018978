"""The two endpoints the gateway uses: the credential check of its login (auth.verify_url) and a protected view."""

from django.contrib.auth import authenticate
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.settings import api_settings


class VerifyCredentials(APIView):
    """POST {"username", "password"}: 200 with the user (its `id` is Django's primary key, which the gateway
    puts in its tokens), or simplejwt's 401 for bad credentials."""

    authentication_classes = []
    permission_classes = [AllowAny]

    def post(self, request):
        user = authenticate(
            request,
            username=request.data.get("username"),
            password=request.data.get("password"),
        )
        if user is None:
            return Response(
                {"detail": "No active account found with the given credentials", "code": "no_active_account"},
                status=status.HTTP_401_UNAUTHORIZED,
            )
        return Response({"id": user.pk, "username": user.username})


class WhoAmI(APIView):
    """Who simplejwt's JWTAuthentication says the caller is, and which token it accepted."""

    permission_classes = [IsAuthenticated]

    def get(self, request):
        token = request.auth
        return Response(
            {
                "id": request.user.id,
                "username": request.user.username,
                "jti": token[api_settings.JTI_CLAIM],
                "token_type": token[api_settings.TOKEN_TYPE_CLAIM],
                "user_id_claim": token[api_settings.USER_ID_CLAIM],
            }
        )
