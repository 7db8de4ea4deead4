"""The secret providers and the one registry that names them.

Each provider module exposes ``build(ctx) -> SecretStore``; see ``base`` for the
protocol and the error vocabulary.
"""

from __future__ import annotations

import importlib

from kms.providers.base import BadProviderConfig, ProviderContext, SecretStore

# Provider name -> the module whose ``build(ctx)`` makes its store. A module (and its
# SDK, 35-55 MiB each) is imported only when that provider is first configured, so a
# worker carries only the SDKs its organisation uses.
REGISTRY: dict[str, str] = {
    "aws": "kms.providers.aws",
    "gcp": "kms.providers.gcp",
    "azure": "kms.providers.azure",
    "local": "kms.providers.local",
}


def build_store(name: str, ctx: ProviderContext) -> SecretStore:
    """The store for provider ``name``, its client built once from ``ctx``."""
    try:
        module = REGISTRY[name]
    except KeyError:
        raise BadProviderConfig("unknown secret provider") from None
    return importlib.import_module(module).build(ctx)
