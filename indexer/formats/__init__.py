"""Readers of the office formats, one module per family; `indexer.extract` dispatches to them.

- `unpack`: the limits on what a file may unpack (zip directories, inflated
  streams, XML without entities), shared by every container format
- `text`: decoding legacy encodings, the visible text of HTML
- `hwp`, `hwpx`: Hangul documents, binary (OLE) and XML
- `slides`: PowerPoint; `opendocument`: OpenDocument text and presentations
- `sheets`: spreadsheets (.xlsx and .ods streamed row by row; .xls)
- `epub` (with `opf`, the reading order it shares with HWPX), `rtf`
- `mail` (.eml), and `outlook` (.msg), which gives its passage the same shape

Each reader takes the file's bytes (or its checked zip) and returns passages;
a paged format numbers them (slide, sheet), and anything wrong is an
ExtractionError whose message is the reason the file is skipped.
"""
