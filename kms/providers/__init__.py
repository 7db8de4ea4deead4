"""The secret providers and the one registry that names them.

Each provider module exposes ``build(ctx) -> SecretStore``; see ``base`` for the
protocol and the error vocabulary.
"""

from __future__ import annotations

from typing import Callable

from kms.providers import aws, azure, gcp, local
from kms.providers.base import BadProviderConfig, ProviderContext, SecretStore

REGISTRY: dict[str, Callable[[ProviderContext], SecretStore]] = {
    "aws": aws.build,
    "gcp": gcp.build,
    "azure": azure.build,
    "local": local.build,
}


def build_store(name: str, ctx: ProviderContext) -> SecretStore:
    """The store for provider ``name``, its client built once from ``ctx``."""
    try:
        factory = REGISTRY[name]
    except KeyError:
        raise BadProviderConfig("unknown secret provider") from None
    return factory(ctx)
