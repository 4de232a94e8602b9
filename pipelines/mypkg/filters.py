"""A user filter, found by ``stage: "mypkg.filters:NoUrls"`` in ``filter_bitext.yaml``
(this folder is next to the pipeline file, so it is importable as ``mypkg``)."""

from dataclasses import dataclass
from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from xlcorpus.filters import Filter, reason_where


@dataclass
class NoUrls(Filter):
    """Drop pairs where either side holds a URL; the score is the number of URLs."""

    name: ClassVar[str] = "no_urls"
    pattern: str = r"https?://|www\."

    def columns(self):
        return {self.key: pa.int64()}

    def score(self, batch):
        return {self.key: pc.add(pc.count_substring_regex(batch.column("src"), self.pattern),
                                 pc.count_substring_regex(batch.column("tgt"), self.pattern)).cast(pa.int64())}

    def accept(self, scores):
        return reason_where(pc.greater(scores[self.key], 0), "has_url")
