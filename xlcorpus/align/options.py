"""The word-alignment parameters, declared once (a light module: the CLI reads it at start-up).
``xlcorpus align`` makes its options of these fields and the ``bitext-align`` kind inherits them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from ..params import Ge, Help, PositiveInt
from .chunked import CHUNK_PAIRS, PRIORS_SAMPLE
from .statistical import SYMMETRIZATIONS


@dataclass(kw_only=True)
class AlignSettings:
    """How to word-align sentence pairs (eflomal on CPU, or a neural encoder)."""

    method: Annotated[Literal["eflomal", "neural"], Help("statistical (CPU) or neural aligner")] = "eflomal"
    model: Annotated[str | None, Help("neural: local model folder or hub id of a BERT-like encoder "
                                      "('minilm': the packaged all-MiniLM-L6-v2)")] = None
    symmetrize: Annotated[Literal[SYMMETRIZATIONS], Help("eflomal symmetrization")] = "vote"
    runs: Annotated[int, Ge(0), Help("eflomal runs to vote over; 0: automatic (4 up to 200k pairs, else 1)")] = 0
    similarity_priors: Annotated[bool, Help("eflomal: Dirichlet priors for identical/similar tokens")] = True
    seed: Annotated[int, Help("eflomal seed (same seed: same links)")] = 0
    neural_method: Literal["argmax", "itermax", "match"] = "itermax"
    layer: Annotated[int, Ge(0), Help("neural: encoder layer (0: the embeddings)")] = 8
    device: Annotated[str, Help("neural: auto, cpu, cuda, cuda:N")] = "auto"
    batch_size: Annotated[PositiveInt, Help("rows per batch (import and neural alignment)")] = 64
    chunk_pairs: Annotated[PositiveInt, Help("eflomal: pairs per chunk; a larger input is aligned chunk by "
                                             "chunk (in parallel, same priors)")] = CHUNK_PAIRS
    priors_sample: Annotated[int, Ge(0), Help("eflomal, more than one chunk: train priors once on a seeded sample "
                                              "of this many pairs (all when fewer); 0: none")] = PRIORS_SAMPLE
    priors: Annotated[str | None, Help("eflomal: priors file, or store table STORE/align_priors[@VERSION][#ID], "
                                       "for every chunk instead of training")] = None
