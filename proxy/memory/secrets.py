"""Secrets are not remembered: credentials a person pastes into a prompt are masked before anything is stored.

A stored memory is injected into later prompts, possibly towards another provider, and shown in the console
and exports; an API key pasted while debugging must not travel on. The rules are well-known token formats
(after gitleaks' rules, named in the comments, and detect-secrets' plugins): a provider's key has a prefix
and a length that ordinary text does not, so masking them costs no false alarms. Three looser rules catch
what has no fixed format: private key blocks, a password inside a URL (``scheme://user:PASSWORD@host``) and
a value assigned to a secret-sounding name (``password = …``, ``"api_key": "…"``), where placeholders
(``<your-key>``, ``${TOKEN}``, ``os.environ/…``, ``xxxx``, ``None``) stay as they are.

Masking runs on the request path (before the exchange is journaled), so it must cost little and never
depend on what a client sends: each rule runs only when a literal it cannot match without is in the text (a
substring test, at C speed), and every rule is linear (bounded, possessive repetitions anchored on a
literal), so a pasted log is masked in milliseconds whatever it holds. tests/unit/test_memory_secrets.py
holds the rules to a labelled set (fixtures/secrets.jsonl: every secret masked, every look-alike such as a
git SHA, a UUID, ``sk-learn`` or AWS's documented example key kept) and to hostile inputs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["MASK", "mask_secrets"]

MASK = "[secret removed]"
"""What a masked secret becomes in the stored text."""

_DOCUMENTED_EXAMPLES = frozenset({"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"})
"""Keys that vendors print in their documentation: look-alikes, kept so such text stays readable."""


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    triggers: tuple[str, ...]
    """Literals one of which the text holds wherever the rule can match (lower case when ``folded``)."""
    folded: bool = False
    """The triggers are tested against the lower-cased text."""

    def applies(self, text: str, lowered: str) -> bool:
        haystack = lowered if self.folded else text
        return any(trigger in haystack for trigger in self.triggers)


def _token(pattern: str, *triggers: str) -> _Rule:
    """A token whose whole match is the secret."""
    return _Rule(re.compile(pattern), triggers)


def _following(pattern: str, *triggers: str) -> _Rule:
    """A secret after something that names it: group 1 is kept, group 2 masked (case-insensitive)."""
    return _Rule(re.compile(pattern, re.IGNORECASE), triggers, folded=True)


_KEYWORDS = (
    r"password|passwd|pwd|secret|api[_-]?key|apikey|access[_-]?key|auth[_-]?token|access[_-]?token"
    r"|private[_-]?key|client[_-]?secret"
)
_KEYWORD_LITERALS = ("password", "passwd", "pwd", "secret", "key", "token")
_PLACEHOLDER = (
    r"(?:None|null|true|false|xxx+|\*+|changeme|password|secret|example|placeholder)(?:[\"'\s,;})]|$)"
    r"|\$\{|\$[A-Z_]|<|\[|os\.environ|os\.getenv|process\.env|getenv|\{\{|%\(|env\("
    # code rather than a value: a type (Optional[str]), a call (load_key()), an attribute (settings.api_key)
    r"|[A-Za-z_]\w{0,60}+(?:[\[(]|(?:\.[A-Za-z_]\w{0,60}+){1,8}+(?:[\s,;})(\[]|$))"
)

_RULES = (
    _token(r"sk-ant-(?:api|oat|admin)\d{2}-[A-Za-z0-9_-]{20,}", "sk-ant-"),  # anthropic-api-key
    _token(
        r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}", "T3BlbkFJ"
    ),  # openai
    _token(r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}", "sk-proj-", "sk-svcacct-", "sk-admin-"),
    # Any other sk- key: OpenAI's older ones, OpenRouter's (sk-or-v1-), DeepSeek's, LiteLLM's virtual keys
    _token(r"\bsk-(?:or-v1-)?[A-Za-z0-9_-]{20,}", "sk-"),
    _token(
        r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16}\b", "AKIA", "ASIA", "ABIA", "ACCA", "A3T"
    ),  # aws
    _token(r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b", "ghp_", "gho_", "ghu_", "ghs_", "ghr_"),  # github-pat
    _token(r"\bgithub_pat_[A-Za-z0-9_]{82}\b", "github_pat_"),  # github-fine-grained-pat
    _token(r"\bglpat-[A-Za-z0-9_-]{20,}", "glpat-"),  # gitlab-pat
    _token(r"\bxox[baprse]-[0-9A-Za-z-]{10,}", "xox"),  # slack tokens
    _token(r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9+/]{20,}", "hooks.slack.com"),
    _token(r"\b(?:sk|rk)_(?:live|test|prod)_[0-9A-Za-z]{20,}\b", "k_live_", "k_test_", "k_prod_"),  # stripe
    _token(r"\bAIza[0-9A-Za-z_-]{35}\b", "AIza"),  # gcp-api-key
    _token(r"\bhf_[A-Za-z0-9]{34,}\b", "hf_"),  # huggingface-access-token
    _token(r"\bnpm_[A-Za-z0-9]{36}\b", "npm_"),  # npm-access-token
    _token(r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}", "pypi-AgEIcHlwaS5vcmc"),  # pypi-upload-token
    _token(r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b", "SG."),  # sendgrid-api-token
    _token(r"\bdop_v1_[a-f0-9]{64}\b", "dop_v1_"),  # digitalocean-pat
    _token(r"\bdapi[a-f0-9]{32}(?:-\d)?\b", "dapi"),  # databricks-api-token
    _token(r"\bshpat_[a-fA-F0-9]{32}\b", "shpat_"),  # shopify-access-token
    _token(r"\bgsk_[A-Za-z0-9]{48,}\b", "gsk_"),  # Groq API key
    _token(r"\bxai-[A-Za-z0-9]{60,}\b", "xai-"),  # xAI API key
    _token(r"\bsm_[A-Za-z0-9]{20,}\b", "sm_"),  # Supermemory API key
    _token(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}", "eyJ"),  # jwt
    _token(  # private-key: the whole block, armour included
        r"-----BEGIN (?:[A-Z]{1,20} ){0,4}PRIVATE KEY(?: BLOCK)?-----[\s\S]{0,16384}?"
        r"-----END (?:[A-Z]{1,20} ){0,4}PRIVATE KEY(?: BLOCK)?-----",
        "PRIVATE KEY",
    ),
    _token(r"\bAccountKey=[A-Za-z0-9+/]{86}==", "AccountKey="),  # azure-storage-account-key
    # A password in a URL: scheme://user:PASSWORD@host (detect-secrets' BasicAuthDetector), anchored on ://.
    _following(r"(://[^\s:/?#@\"']{0,200}+:)([^\s@/?#\"']{3,200})(?=@)", "://"),
    # An Authorization header's credentials.
    _following(
        r"(\bauthorization\s{0,8}+[:=]\s{0,8}+[\"']?(?:bearer|basic|token)\s{1,8}+)([A-Za-z0-9._~+/=-]{12,})",
        "authorization",
    ),
    _following(r"(\bbearer\s{1,8}+)([A-Za-z0-9._~+/-]{20,}=*)", "bearer"),
    # A value assigned to a name that says secret (gitleaks' generic-api-key, detect-secrets' keyword rule),
    # anchored on the keyword: what comes before it in the name (DB_, my_) needs no matching.
    _following(
        rf"((?:{_KEYWORDS})[a-z0-9_-]{{0,40}}+[\"']?\s{{0,8}}+(?::=|=>|:|=)\s{{0,8}}+[\"']?)"
        rf"((?!{_PLACEHOLDER})[^\s\"',;}})]{{6,}})",
        *_KEYWORD_LITERALS,
    ),
)


def mask_secrets(text: str) -> str:
    """``text`` with every credential it holds replaced by :data:`MASK`."""
    lowered = text.lower()
    for rule in _RULES:
        if rule.applies(text, lowered):
            replace: Callable[[re.Match[str]], str] = _masked_following if rule.folded else _masked
            text = rule.pattern.sub(replace, text)
    return text


def _masked(match: re.Match[str]) -> str:
    return match.group(0) if match.group(0) in _DOCUMENTED_EXAMPLES else MASK


def _masked_following(match: re.Match[str]) -> str:
    secret = match.group(2)
    if secret in _DOCUMENTED_EXAMPLES:
        return match.group(0)
    return match.group(1) + MASK
