"""Text utilities shared by pipelines: tokenization with character offsets."""

from .tokenize import Tokenized, get_tokenizer, tokenize, whitespace_tokenize

__all__ = ["Tokenized", "get_tokenizer", "tokenize", "whitespace_tokenize"]
