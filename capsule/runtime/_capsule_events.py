"""The layout of one trace event: written by sitecustomize, read by capsule.provenance.

Defined once, here, for both sides: the tracer appends `TraceEvent(...)` to its record (JSON
writes a named tuple as a list, in field order) and capsule reads each list back with
`TraceEvent(*fields)`, so nobody indexes an event by position. Standard library only: every
traced process loads this module.
"""

from __future__ import annotations

from typing import NamedTuple

# What an event records (TraceEvent.op).
READ = "read"
WRITE = "write"
REMOVE = "remove"
NETWORK = "network"


class TraceSite(NamedTuple):
    """The first frame inside the analysis' own code when the event happened."""

    file: str  # relative POSIX path of the script, module or notebook
    line: int  # in the file, or in the notebook cell
    function: str  # "<module>" for top-level code
    cell: int  # for a notebook kernel: the code cell, counted from 1; else 0


class TraceEvent(NamedTuple):
    """One file opened, renamed or removed, or one network access, by a traced process."""

    seq: int  # order within its process, from 1
    op: str  # READ, WRITE, REMOVE or NETWORK
    path: str  # relative to the analysis, or absolute when external; "host:port" or a URL
    external: bool  # outside the analysis folder (always True for NETWORK)
    site: TraceSite | None  # for writes and network accesses
    figure: dict[str, object] | None  # what the figure tracer said of a figure being saved
