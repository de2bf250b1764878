"""Public object ids: an OpenAI-style prefix plus 24 random base62 characters.

Every id prefix lives here, so an id's kind can be told from its prefix alone.
"""

from __future__ import annotations

import secrets
import string
from enum import StrEnum

_ALPHABET = string.ascii_letters + string.digits
_RANDOM_LENGTH = 24


class IdPrefix(StrEnum):
    """Prefixes of the ids ftapi hands out (the OpenAI ones where OpenAI has one)."""

    ORGANIZATION = "org-"
    PROJECT = "proj_"
    API_KEY = "key_"
    FILE = "file-"
    UPLOAD = "upload_"
    UPLOAD_PART = "part_"
    JOB = "ftjob-"
    JOB_EVENT = "ftevent-"
    MODEL_IMPORT = "ftimport-"
    CHECKPOINT = "ftckpt_"
    CHECKPOINT_PERMISSION = "cp_"
    WEBHOOK_ENDPOINT = "we_"
    WEBHOOK_EVENT = "evt_"
    WEBHOOK_DELIVERY = "whdel_"
    EVAL = "eval_"
    EVAL_RUN = "evalrun_"
    EVAL_OUTPUT_ITEM = "outputitem_"


def new_id(prefix: IdPrefix) -> str:
    """A fresh, unguessable id of the given kind."""
    return prefix.value + "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_LENGTH))


def random_token(length: int) -> str:
    """A base62 secret of ``length`` characters (~5.95 bits each)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))
