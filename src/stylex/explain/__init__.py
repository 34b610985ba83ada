"""AttFind, explanations of single images, metrics and reports."""
