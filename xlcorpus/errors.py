"""Exception types. Every message names the thing at fault (file, line, table, field)."""


class XlcorpusError(Exception):
    """Base class of every error xlcorpus raises on purpose."""


class MissingDependency(XlcorpusError):
    """An optional package or trained model is not installed; the message says what to install."""


class SchemaError(XlcorpusError):
    """A batch does not match its table contract, or a contract file is invalid."""


class StoreError(XlcorpusError):
    """A store operation failed (bad name, missing table or version...)."""


class ConflictError(StoreError):
    """A concurrent writer committed first; nothing of this write is visible."""


class InputError(XlcorpusError):
    """An input file is malformed in a way that makes continuing unsafe."""


class PipelineError(XlcorpusError):
    """A pipeline file is invalid (unknown key, wrong type...) or a run failed."""


class StageError(XlcorpusError):
    """A record could not be processed by a stage; with ``fail_fast`` this aborts the run."""


class QueryError(StoreError):
    """A SQL query over the store failed (syntax, unknown column, forbidden file access)."""


class StepFailed(PipelineError):
    """A step failed as a whole (a broken stage, a worker that died); nothing was committed."""


class WorkerError(StepFailed):
    """A worker process failed outside a stage (its ``setup()``, or it died)."""
