"""Discussion: threaded comments on papers (see :mod:`.comments`)."""
