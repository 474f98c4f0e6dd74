"""The left half of semsearch: walk a folder, detect changes, extract, chunk, encode, store."""
