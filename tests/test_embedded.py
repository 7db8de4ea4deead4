"""The embedded server still refuses duplicate `_id`s after models.embedded skips
mongoeco's full-collection `_id` scan (the audit chain's no-fork guarantee rests on it)."""

from __future__ import annotations

import pymongo
import pytest
from bson import Int64, ObjectId

from models.embedded import EmbeddedMongo


@pytest.fixture(scope="module", params=["memory", "sqlite"])
def collection(request, tmp_path_factory):
    path = None if request.param == "memory" else str(tmp_path_factory.mktemp("embedded") / "db.sqlite3")
    server = EmbeddedMongo(path)
    client = pymongo.MongoClient(server.start())
    yield client.kps_embedded.things
    client.close()
    server.stop()


@pytest.mark.parametrize("first, again", [
    ("00000000000000000007", "00000000000000000007"),
    (ObjectId("65f0a1b2c3d4e5f601234567"), ObjectId("65f0a1b2c3d4e5f601234567")),
    ({"a": "x", "b": "y"}, {"a": "x", "b": "y"}),
    (7, 7.0),  # one key in MongoDB: the numeric comparison is kept
    (8, Int64(8)),
])
def test_a_duplicate_id_is_refused_whatever_its_type(collection, first, again):
    collection.insert_one({"_id": first, "n": 1})
    with pytest.raises(pymongo.errors.DuplicateKeyError):
        collection.insert_one({"_id": again, "n": 2})
    with pytest.raises(pymongo.errors.BulkWriteError) as error:
        collection.insert_many([{"_id": "fresh-" + repr(first)}, {"_id": again}], ordered=True)
    assert error.value.details["nInserted"] == 1
    assert collection.count_documents({"_id": first}) == 1
    assert collection.find_one({"_id": first})["n"] == 1


def test_distinct_ids_are_all_stored(collection):
    collection.insert_many([{"_id": f"k{i:04d}"} for i in range(300)])
    assert collection.count_documents({"_id": {"$regex": "^k"}}) == 300
