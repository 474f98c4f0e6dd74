"""semsearch: local semantic search for folders of documents and images."""

__version__ = "0.1.0"
