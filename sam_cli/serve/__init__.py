"""`sam serve`: an OpenAI-compatible HTTP server over one model, with continuous batching (docs/design.md)."""
