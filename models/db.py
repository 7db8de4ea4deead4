"""One MongoClient per process, and the embedded server when MONGO_URI is unset."""

from __future__ import annotations

import logging

import pymongo
from pymongo.database import Database


log = logging.getLogger(__name__)

# A lost database must become a 503 within seconds, not pymongo's 30 s default.
CLIENT_OPTIONS = {
    "tz_aware": True,
    "serverSelectionTimeoutMS": 3000,
    "connectTimeoutMS": 3000,
    "socketTimeoutMS": 8000,
    "maxPoolSize": 50,
    "appname": "keyproxy",
}


def embedded_path(settings) -> str:
    return str(settings.data_dir / "keyproxy.sqlite3")


def open_database(settings) -> tuple[pymongo.MongoClient, Database, object | None]:
    """Connect to MONGO_URI, or start the embedded server in this process first."""
    embedded = None
    uri = settings.mongo_uri
    if not uri:
        from models.embedded import EmbeddedMongo  # mongoeco (~65 MiB) only when it is used

        embedded = EmbeddedMongo(embedded_path(settings))
        uri = embedded.start()
        log.info("database: embedded mongoeco server (SQLite file %s)", embedded_path(settings))
    else:
        log.info("database: MongoDB at %s", redact_uri(uri))
    client = pymongo.MongoClient(uri, **CLIENT_OPTIONS)
    return client, client[settings.mongo_db], embedded


def redact_uri(uri: str) -> str:
    """The URI without its password, for logs."""
    scheme, sep, rest = uri.partition("://")
    if "@" in rest:
        userinfo, _, hostpart = rest.rpartition("@")
        rest = f"{userinfo.split(':', 1)[0]}:***@{hostpart}"
    return scheme + sep + rest
