"""One module per benchmark section; each has run(ctx) -> a JSON-ready dict."""
