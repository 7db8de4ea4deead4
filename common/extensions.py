"""Extension objects, created unbound here and bound to the app in create_app()."""

from flask_cors import CORS
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
import http

import flask_smorest
from flask import request
from flask_smorest import Api
from webargs.flaskparser import FlaskParser

from common.errors import render_http_exception
from common.schemas import ProblemSchema

PROBLEM_JSON = "application/problem+json"


class ProblemApi(Api):
    """flask-smorest, with its HTTP errors rendered and documented as problem+json."""

    DEFAULT_ERROR_RESPONSE_NAME = None

    def handle_http_exception(self, error):
        return render_http_exception(error)

    def _register_responses(self):
        self.spec.components.schema("Problem", schema=ProblemSchema)
        for status in http.HTTPStatus:
            if status >= 400:
                self.spec.components.response(status.name, {
                    "description": status.phrase,
                    "content": {PROBLEM_JSON: {"schema": "Problem"}},
                }, lazy=True)


class ProblemParser(FlaskParser):
    DEFAULT_VALIDATION_STATUS = 400


class Blueprint(flask_smorest.Blueprint):
    """Validation errors are 400, as the contract says, not webargs' 422."""

    ARGUMENTS_PARSER = ProblemParser()


def client_ip() -> str:
    return request.remote_addr or "unknown"


api = ProblemApi()
jwt = JWTManager()
limiter = Limiter(key_func=client_ip, default_limits=[], headers_enabled=False)
cors = CORS()
