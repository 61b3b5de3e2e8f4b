"""Recall: finding a client's memories for a question, by its words and by its meaning, and ranking them.

The stores call these: :mod:`.lexical` (which of a question's words to search for, the rarest first),
:mod:`.embeddings` (the sentence-embedding model, loaded in the background), :mod:`.meaning` (vectors for
memories and questions), :mod:`.dense` (nearest vectors of one client, in memory) and :mod:`.ranking` (one
ranked list from both).
"""
