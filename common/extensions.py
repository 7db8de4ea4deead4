"""Extension objects, created unbound here and bound to the app in create_app()."""

from flask_cors import CORS
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_smorest import Api

from common.errors import render_http_exception


class ProblemApi(Api):
    """flask-smorest, with its HTTP errors rendered as problem+json like every other error."""

    def handle_http_exception(self, error):
        return render_http_exception(error)


def client_ip() -> str:
    from flask import request

    return request.remote_addr or "unknown"


api = ProblemApi()
jwt = JWTManager()
limiter = Limiter(key_func=client_ip, default_limits=[], headers_enabled=False)
cors = CORS()
