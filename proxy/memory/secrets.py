"""Secrets are not remembered: credentials a person pastes into a prompt are masked before anything is stored.

A stored memory is injected into later prompts, possibly towards another provider, and shown in the console
and exports; an API key pasted while debugging must not travel on. The rules are well-known token formats
(after gitleaks' rules, named in the comments, and detect-secrets' plugins): a provider's key has a prefix
and a length that ordinary text does not, so masking them costs no false alarms. Three looser rules catch
what has no fixed format: private key blocks, a password inside a URL (``scheme://user:PASSWORD@host``) and
a value assigned to a secret-sounding name (``password = …``, ``"api_key": "…"``), where placeholders
(``<your-key>``, ``${TOKEN}``, ``os.environ/…``, ``xxxx``, ``None``) stay as they are.

tests/unit/test_memory_secrets.py holds the rules to a labelled set (fixtures/secrets.jsonl): every secret
masked, every look-alike (a git SHA, a UUID, ``sk-learn``, AWS's documented example key) kept.
"""

from __future__ import annotations

import re

__all__ = ["MASK", "mask_secrets"]

MASK = "[secret removed]"
"""What a masked secret becomes in the stored text."""

# Tokens with a fixed shape: the whole match is the secret.
_TOKENS = [
    r"sk-ant-(?:api|oat|admin)\d{2}-[A-Za-z0-9_-]{20,}",  # anthropic-api-key, anthropic-admin-api-key
    r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}",  # openai-api-key
    r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}",  # OpenAI project, service account and admin keys
    r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16}\b",  # aws-access-token (AWS's example key: below)
    r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b",  # github-pat, github-oauth, github-app-token
    r"\bgithub_pat_[A-Za-z0-9_]{82}\b",  # github-fine-grained-pat
    r"\bglpat-[A-Za-z0-9_-]{20,}",  # gitlab-pat
    r"\bxox[baprse]-[0-9A-Za-z-]{10,}",  # slack-bot-token, slack-user-token, ...
    r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9+/]{20,}",  # slack-webhook-url
    r"\b(?:sk|rk)_(?:live|test|prod)_[0-9A-Za-z]{20,}\b",  # stripe-access-token
    r"\bAIza[0-9A-Za-z_-]{35}\b",  # gcp-api-key
    r"\bhf_[A-Za-z0-9]{34,}\b",  # huggingface-access-token
    r"\bnpm_[A-Za-z0-9]{36}\b",  # npm-access-token
    r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}",  # pypi-upload-token
    r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b",  # sendgrid-api-token
    r"\bdop_v1_[a-f0-9]{64}\b",  # digitalocean-pat
    r"\bdapi[a-f0-9]{32}(?:-\d)?\b",  # databricks-api-token
    r"\bshpat_[a-fA-F0-9]{32}\b",  # shopify-access-token
    r"\bgsk_[A-Za-z0-9]{48,}\b",  # Groq API key
    r"\bxai-[A-Za-z0-9]{60,}\b",  # xAI API key
    r"\bsm_[A-Za-z0-9]{20,}\b",  # Supermemory API key
    r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",  # jwt
    # private-key: the whole block, armour included
    r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
    r"-----END (?:[A-Z]+ )*PRIVATE KEY(?: BLOCK)?-----",
    r"\bAccountKey=[A-Za-z0-9+/]{86}==",  # azure-storage-account-key
]

# Secrets that follow something: group 1 is kept, group 2 is the secret.
_FOLLOWING = [
    # A password in a URL: scheme://user:PASSWORD@host (detect-secrets' BasicAuthDetector).
    r"(\b[a-z][a-z0-9+.-]*://[^\s:/?#@\"']*:)([^\s@/?#\"']{3,})(?=@)",
    # An Authorization header's credentials.
    r"(?i)(\bauthorization\s*[:=]\s*[\"']?(?:bearer|basic|token)\s+)([A-Za-z0-9._~+/=-]{12,})",
    r"(?i)(\bbearer\s+)([A-Za-z0-9._~+/-]{20,}=*)",
    # A value assigned to a name that says secret (gitleaks' generic-api-key, detect-secrets' keyword rule).
    r"(?i)(\b(?:[a-z0-9_.-]*?(?:password|passwd|pwd|secret|api[_-]?key|apikey|access[_-]?key|auth[_-]?token"
    r"|access[_-]?token|private[_-]?key|client[_-]?secret)[a-z0-9_-]*)[\"']?\s*(?::|=|:=|=>)\s*[\"']?)"
    r"((?!(?:None|null|true|false|xxx+|\*+|changeme|password|secret|example|placeholder)(?:[\"'\s,;})]|$)"
    r"|\$\{|\$[A-Z_]|<|\[|os\.environ|os\.getenv|process\.env|getenv|\{\{|%\(|env\()[^\s\"',;})]{6,})",
]

_TOKEN_RE = re.compile("|".join(f"(?:{pattern})" for pattern in _TOKENS))
_FOLLOWING_RE = [re.compile(pattern) for pattern in _FOLLOWING]
_DOCUMENTED_EXAMPLES = frozenset({"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"})
"""Keys that vendors print in their documentation: look-alikes, kept so such text stays readable."""


def mask_secrets(text: str) -> str:
    """``text`` with every credential it holds replaced by :data:`MASK`."""
    text = _TOKEN_RE.sub(_masked, text)
    for pattern in _FOLLOWING_RE:
        text = pattern.sub(_masked_following, text)
    return text


def _masked(match: re.Match[str]) -> str:
    return match.group(0) if match.group(0) in _DOCUMENTED_EXAMPLES else MASK


def _masked_following(match: re.Match[str]) -> str:
    secret = match.group(2)
    if secret in _DOCUMENTED_EXAMPLES:
        return match.group(0)
    return match.group(1) + MASK
