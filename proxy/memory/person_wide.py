"""Whether what a person said holds for them in every project (``I prefer tabs``, ``call me Sam``) or only in
the project they said it in (``I use bazel here``, ``our API is versioned under /v2``).

Rules, not a model: they run on the write path of every exchange, must be explained to a user who asks why
a memory went where it did, and must be precise: a project fact taken for a person-wide one is shown in
every other project (a leak of sorts), while a person-wide fact kept in its project only waits to be said
again elsewhere. So a statement is person-wide only when it says something about the person themselves (who
they are, how they like to work or be answered, or an explicit "for all my projects") and nothing that ties
it to a project: no "this repo", "here", "we", no path, file, version, ticket or command. Measured on
``fixtures/scope_statements.jsonl`` (a labelled set of what people tell coding agents, hard cases included)
by ``tests/unit/test_person_wide.py``: person-wide precision at least 0.95.
"""

from __future__ import annotations

import re

__all__ = ["MAX_CHARS", "is_person_wide", "why_person_wide"]

_I = r"\bi(?:'?m| am)\b"

_EVERY_PROJECT = re.compile(
    r"\b(?:in|for|across|to) (?:all|every|each|any) (?:of )?(?:my |our )?"
    r"(?:projects?|repos?|repositories|codebases?|sessions?|conversations?)\b"
    r"|\bfor all future\b|\bwherever i work\b|\bwhatever project\b"
    r"|\bremember (?:this|that)? ?(?:globally|everywhere|in general|for good)\b",
    re.IGNORECASE,
)
"""An explicit "this is about me, not this project": wins over every project cue but one (see below)."""

_OWN_SETUP = (
    r"(?:fish|zsh|bash|nushell|powershell|emacs|vim|neovim|nvim|vs ?code|vscode|intellij|pycharm|webstorm|"
    r"sublime|helix|zed|tmux|screen|dvorak|colemak|qwerty|azerty|keyboard|layout|mac|macos|macbook|m[1-4]|"
    r"windows|linux|wsl2?|arch|ubuntu|debian|fedora|nixos|chromebook|ipad|jj|jujutsu|1password|iterm2?|"
    r"kitty|alacritty|wezterm|ghostty|terminal|shell|editor|laptop|desktop|monitor|screen reader)\b"
)
"""What a person sets up once for all their work: ``I use fish``, not ``I use bazel`` (a project's tool)."""


def _any(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(patterns), re.IGNORECASE)


_ABOUT_ME = _any(
    # Who they are.
    r"\bcall me (?!when|if|back|at|on|once|after|before|as|whenever|later|tomorrow|with|about)\w+",
    r"\bmy name(?:'s| is)\b|\bi go by\b|\bmy pronouns\b",
    rf"{_I} (?:a |an )?(?:vegetarian|vegan|pescatarian|colou?r ?blind|left[- ]handed|dyslexic|deaf|allergic|"
    r"lactose|gluten|based in|from|originally from|located in|in the \w+ time ?zone)\b",
    rf"{_I} (?:a |an )?(?:senior |junior |staff |principal |lead |new |self[- ]taught )?(?:\w+ )?"
    r"(?:engineer|developer|dev|programmer|designer|scientist|analyst|student|researcher|manager|architect|"
    r"sre|beginner|newbie)\b",
    rf"{_I} (?:blind|deaf|hard of hearing|a night owl|an early bird|a morning person|a visual|a bootcamp|"
    r"a native|self-taught|\w+-handed)\b",
    r"\bi have (?:rsi|adhd|dyslexia|a disability|low vision|a (?:small|large) screen)\b",
    r"\bi live in\b|\bi work (?:from|in) (?!this|the|our)\b",
    r"\bmy (?:time ?zone|native language|first language|working hours|daughter|son|kids?|wife|husband|"
    r"partner|dog|cat|birthday)\b",
    r"\bis my (?:first|second|third|native) language\b",
    # How they like to work, and to be answered.
    r"\bi (?:(?:always|usually|generally|really|strongly|much|rather) )*(?:prefer|like|love|enjoy|hate|"
    r"dislike|can'?t stand|avoid)\b(?! (?:it|this|that|these|those|them|your|the way you|how)\b)",
    r"\bmy (?:favou?rite|preferred|go-to)\b",
    rf"{_I} (?:new to|learning|still learning|not (?:very )?familiar with|more (?:comfortable|familiar) with|"
    r"most comfortable (?:in|with))\b",
    r"\b(?:keep|make) (?:your |the )?(?:answers|responses|replies|explanations|summaries|messages) "
    r"(?:short|shorter|brief|concise|terse|detailed|simple)\b",
    r"\b(?:always|never|don'?t|do not|please) (?:answer|reply|respond|explain|use emojis?|apologi[sz]e|"
    r"write in|talk to me|address me)\b",
    r"\bexplain (?:things )?(?:to me )?like\b",
    r"\bi (?:always|usually|generally|tend to) (?:use|write|code|work|read|think)\b",
    r"\bi(?:'m| am) (?:a|an) (?:\w+ )?(?:person|user|fan)\b",
    r"\bi (?:learn|think|work|read) best\b|\bi get (?:overwhelmed|distracted|lost)\b",
    r"\bi (?:type|write|code|program) (?:in|\w+ for a living)\b|\bfor a living\b",
    r"\bi'?d (?:rather|prefer) you\b",
    r"\bi (?:don'?t|never|rarely) (?:drink|eat|use|like|want|watch|read)\b",
    r"\bwith me\b|\b(?:talk|talking|speak|speaking|write|writing|reply|replying|respond|responding) to me\b",
    r"\b(?:always|please) ask (?:me )?before\b|\bask (?:me )?a clarifying question\b",
    r"\b(?:use|give me) (?:metric|imperial|24-hour|12-hour|celsius|fahrenheit|british|american)\b",
    r"\bcasual is fine\b|\bno need to be formal\b",
    # Their own machine and tools: an editor, a shell, a system, a keyboard.
    rf"\b(?:i (?:use|run|switched to)|{_I} (?:on|using|running)) (?:an? |the )?(?:\w+ )?{_OWN_SETUP}",
    r"\bmy (?:github|gitlab|twitter|email|username|handle|keyboard|laptop|machines?|setup|editor|shell|"
    r"terminal|os|habit|default|dotfiles)\b",
    # Said of all their work, though not of every project in so many words.
    r"\b(?:as a rule|that goes for everything|global preference|on all my machines|"
    r"keep (?:that|this) in mind generally)\b",
)

_GENERALLY = _any(r"\b(?:globally|everywhere|in general)\b")
_FIRST_PERSON = _any(r"\b(?:i|i'm|my|me)\b")
""""Everywhere" or "in general" said of oneself ("everywhere I work", "in general I prefer ..."), not of a
thing ("errors are logged everywhere")."""

_COMMON_OBJECTS = (
    r"morning|evening|afternoon|night|way|same|end|long run|meantime|first place|cost|living|reasoning|"
    r"answers?|explanations?|\w+ time ?zone|time ?zone|world|weekend|week|day|moment|rest|default"
)
"""What follows "in the", "for a" in what people say about themselves: not a part of a project."""

_ABOUT_A_PROJECT = _any(
    # A part of the project: "for the invoices", "in the upload tests", "this repo", "the build".
    rf"\b(?:for|in|on|to|from|of|with|against|through|at|into|about|over|under|inside) (?:the|a|an) "
    rf"(?!(?:{_COMMON_OBJECTS})\b)\w",
    r"\b(?:this|the|that|our|my|these|its) (?:current )?(?:project|repo|repository|codebase|code base|code|"
    r"service|services|app|application|module|package|crate|library|lib|branch|monorepo|team|pipeline|"
    r"cluster|deployment|build|api|apis|backend|frontend|workspace|directory|folder|dir|file|site|server|"
    r"product|tests?|test suite|spec|specs|database|db|schema|migrations?|endpoint|endpoints|config|"
    r"configuration|stack|infra|infrastructure|job|jobs|model|models|notebook|dashboard|sdk|cli|tool|ci|pr|"
    r"prs|release|sprint|ticket|issue|feature|component|components|client|clients|bot|plugin|extension|"
    r"firmware|board|device|script|scripts|dataset|data|bug|error|function|class|method|page|route|query|"
    r"table|approach|solution|idea|plan|version|change|changes|fix|answer|suggestion|option|diff|patch|"
    r"output|result|results)\b",
    # Liking or changing a particular thing: "I hate the legacy module", "don't touch the stubs".
    r"\b(?:like|love|hate|prefer|avoid|dislike|enjoy) (?:how )?the\b",
    r"\b(?:touch|change|edit|modify|delete|remove|rename|move|refactor|rewrite|mock|deploy|make) "
    r"(?:the|any|our|this|that|it)\b",
    r"\bhere\b|\bin (?:this|here)\b",
    r"\b(?:we|we're|we've|we'll|our|ours|us|let's|team)\b",
    # Artefacts: a path, a file, a version, a ticket, a flag, a variable, a command, code.
    r"(?:^|\s)[~.]?/\w",
    r"\w/\w+/",
    r"\b\w[\w-]*\.(?:py|js|ts|tsx|jsx|go|rs|java|kt|rb|php|c|h|cpp|cs|swift|yaml|yml|json|toml|md|sql|sh|"
    r"ini|cfg|lock|txt|env|xml|html|css|scss|gradle|tf|proto)\b",
    r"\bv?\d+\.\d+",
    r"\b[A-Z][A-Z0-9]+-\d+\b",
    r"#\d+\b",
    r"(?:^|\s)--?\w",
    r"\b[A-Z][A-Z0-9_]{2,}=",
    r"`",
    r"\b(?:deadline|staging|prod|production|deploys?|deploying|deployed|migrat\w*|refactor\w*|port \d+|"
    r"localhost|dockerfile|makefile|readme|changelog|main branch|master branch|upstream|merge|rebase|"
    r"hotfix|on-?call|customers?|users of|roadmap|milestone|q[1-4])\b",
)

_HERE_EXPLICITLY = re.compile(
    r"\b(?:in|for) (?:this|the current) (?:project|repo|repository|codebase)\b|\bhere\b", re.IGNORECASE
)
"""Even "for all my projects" yields to an explicit "in this project": the person said both, and the
narrower one is what they meant for this fact."""


MAX_CHARS = 600
"""What a person says about themselves fits in a few sentences; a longer prompt is a task, and stays in its
project (this also bounds what the rules cost on the write path)."""


def why_person_wide(text: str) -> str | None:
    """The rule that makes ``text`` person-wide (for the console and the CLI to show), or None when it
    belongs to its project."""
    if len(text) > MAX_CHARS:
        return None
    explicit = _EVERY_PROJECT.search(text)
    if explicit and not _HERE_EXPLICITLY.search(text):
        return f"said for every project ({explicit.group(0).strip()!r})"
    about_me = _ABOUT_ME.search(text)
    if about_me is None and _FIRST_PERSON.search(text):
        about_me = _GENERALLY.search(text)
    if about_me is None:
        return None
    if _ABOUT_A_PROJECT.search(text):
        return None
    return f"about the person ({about_me.group(0).strip()!r})"


def is_person_wide(text: str) -> bool:
    """True when ``text`` holds for its person in every project (:func:`why_person_wide` says why)."""
    return why_person_wide(text) is not None
