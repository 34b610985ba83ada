"""One module per `stylex` verb: `NAME`, `HELP`, `add_arguments(parser)` (its flags) and
`run(args) -> int` (what it does). `stylex.cli` assembles them into one parser.

The modules import only the standard library and light stylex modules at the top; the work
(torch, ONNX Runtime, gRPC) is imported inside `run`, so building the parser, `stylex --help`
included, stays fast.
"""
