"""The one explain of stylex: options, the explanation of one image, `explain_batch`
(catalog and IMAGE mode), and writing an explanation to files."""
