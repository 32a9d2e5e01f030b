"""The document layer: texts as users write them, above the per-text core.

`segmentation` cuts a text into sentences and puts translations back byte for byte;
`detection` finds the source language; `plan` turns texts into model inputs (fitting,
truncating); `assembly` builds each text's answer from its units; `streaming` orders what a
streamed reply sends. The pipeline wires them to the per-unit core (`service.decoding`).
"""
