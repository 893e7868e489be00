"""Datasets on a Hugging Face hub: one dataset repo per dataset, verified on every load.

- ``settings``: the hub, the cache and the token, read from the environment at call time
  (``HF_ENDPOINT``, ``HF_HUB_OFFLINE``, ``HF_HUB_CACHE`` / ``HF_HOME``, ``HADES_ZOO_HUB_ORG``,
  ``HF_TOKEN`` or ``hf auth login``; hades-zoo never prints or stores the token);
- ``fetch``: ``download``, ``load``, ``card``, ``list_remote`` and the one translator of
  ``huggingface_hub`` errors;
- ``cards``: the card's schema, written (``build_card``) and read (``read_card``, ``listing``);
- ``upload``: ``publish`` (evaluate, then one commit and one tag per version, idempotent), with
  ``figures`` for its PNGs. Imported on its own (``hades_zoo.hub.upload``): it trains policies.

>>> from hades_zoo import hub
>>> ds = hub.load("hades-zoo/hopper-hades-r-64@v1")      # doctest: +SKIP
"""

from hades_zoo.hub.cards import CARD_FILE, HUB_TAG, read_card
from hades_zoo.hub.fetch import HubFile, auth_error, card, download, list_remote, load, translate
from hades_zoo.hub.settings import DEFAULT_ORG, REPO_TYPE, cache_dir, endpoint, has_token, hub_org, offline

__all__ = ["HubFile", "download", "load", "card", "read_card", "list_remote", "hub_org", "endpoint", "offline",
           "cache_dir", "has_token", "translate", "auth_error", "DEFAULT_ORG", "HUB_TAG", "REPO_TYPE", "CARD_FILE"]
