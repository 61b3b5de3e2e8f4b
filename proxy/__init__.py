"""litellm-memory-proxy: an OpenAI- and Anthropic-compatible proxy that gives LLM clients memory."""

__version__ = "0.13.0"
