"""The EntityCS masking strategy names (a light module: the CLI lists them at start-up)."""

BASE_STRATEGIES = ("MLM", "WEP", "PEP_MRS", "PEP_MS", "PEP_M")
STRATEGIES = BASE_STRATEGIES + tuple(f"{s}+MLM" for s in BASE_STRATEGIES[1:])
