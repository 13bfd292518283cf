"""Errors nidslab raises for bad input. The CLI prints their message and exits with code 2."""

from __future__ import annotations


class NidslabError(Exception):
    """Base class: something the user can fix (a file, a setting), described in the message."""


class DataError(NidslabError, ValueError):
    """Bad input data. The message names the file, and the row and column where known."""


class CacheError(NidslabError):
    """A cached dataset or model folder does not match its own metadata."""


class ConfigError(NidslabError, ValueError):
    """A bad study/config file or setting. The message names the table and key."""


class UnknownNameError(ConfigError, KeyError):
    """An unknown feature, group or column name. Also a KeyError, for callers that look names up."""

    __str__ = Exception.__str__  # the message as written, not KeyError's repr of it
