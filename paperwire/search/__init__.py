"""Search: query parser, keyword (BM25) index, vector (HNSW) index, hybrid fusion.

The web layer uses :func:`paperwire.search.service.get_search_service`; imports
and ``paperwire embed`` keep the derived indexes current through
:mod:`paperwire.search.indexing`.  This package init imports nothing heavy on
purpose: the encoder (ONNX) and the index engines load only when used.
"""
