"""The EntityCS masking strategies and settings (a light module: the CLI reads it at start-up)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from ..params import Ge, Help

BASE_STRATEGIES = ("MLM", "WEP", "PEP_MRS", "PEP_MS", "PEP_M")
STRATEGIES = BASE_STRATEGIES + tuple(f"{s}+MLM" for s in BASE_STRATEGIES[1:])


@dataclass(kw_only=True)
class MaskSettings:
    """How ``entitycs`` rows become masked-LM examples (``xlcorpus mask`` and the ``entitycs`` kind)."""

    strategy: Annotated[Literal[STRATEGIES], Help("EntityCS masking strategy")] = "WEP"
    max_length: Annotated[int, Ge(8), Help("longest example, in tokens")] = 512
