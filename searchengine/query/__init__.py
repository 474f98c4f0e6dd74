"""The query side: rank each space (`searcher`), fuse dense and lexical scores
(`fusion`), cut snippets (`snippets`), and measure it all (`evaluate`)."""
