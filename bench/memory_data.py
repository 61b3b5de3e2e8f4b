"""The memory benchmark's data set: facts a person told, asked again with and without their words.

Each fact is stored as the proxy stores an exchange (``user: …`` / ``assistant: …``). Its *keyword*
question shares a content word with it; its *paraphrase* question shares none (after stemming, stopwords
aside), which is the question people actually ask weeks later. *Filler* is everything else a client said
(coding questions, small talk), generated from templates to any size. A second client holds the same
facts with other values: a memory of its turning up for the first client is a leak. *Unrelated* questions
have no answer in memory: what recall returns for them is noise injected into a prompt.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

__all__ = ["FACTS", "OTHER_CLIENT_FACTS", "UNRELATED", "Fact", "filler", "stored"]


@dataclass(frozen=True)
class Fact:
    statement: str
    keyword: str
    paraphrase: str


FACTS = [
    Fact("I drive a red Volvo", "Which Volvo do I drive?", "What car do I own?"),
    Fact("My sister lives in Porto", "Which city does my sister live in?", "Where is my sibling based?"),
    Fact("I am allergic to peanuts", "What am I allergic to?", "Is there any food that makes me sick?"),
    Fact("My dog is called Biscuit", "What is my dog called?", "What's the name of my pet?"),
    Fact("I work as a data engineer at a bank", "Where do I work as an engineer?", "What is my job?"),
    Fact(
        "My favourite programming language is Rust",
        "Which programming language is my favourite?",
        "What do I like to code in the most?",
    ),
    Fact(
        "The production database password rotates every Monday",
        "When does the database password rotate?",
        "How often are the prod credentials changed?",
    ),
    Fact(
        "I ran the Berlin marathon in 2023",
        "When did I run the Berlin marathon?",
        "Have I ever done a long-distance race?",
    ),
    Fact(
        "My daughter's birthday is on March 3rd",
        "When is my daughter's birthday?",
        "When should I buy a present for my kid?",
    ),
    Fact(
        "I prefer tabs over spaces for indentation",
        "Do I prefer tabs or spaces?",
        "What whitespace style do I use in source files?",
    ),
    Fact(
        "Our team deploys to production on Thursdays",
        "Which day does the team deploy?",
        "When do we ship releases?",
    ),
    Fact("I am learning Japanese", "How is my Japanese going?", "What foreign tongue am I studying?"),
    Fact("My laptop is a ThinkPad X1 Carbon", "Which ThinkPad do I have?", "What computer do I use?"),
    Fact("I live in Lisbon", "Do I still live in Lisbon?", "Which city is my home?"),
    Fact("My wife is a cardiologist", "Is my wife a doctor?", "What is my spouse's profession?"),
    Fact("I take the train to the office", "How do I get to the office?", "What is my commute like?"),
    Fact(
        "The staging server runs on port 8443",
        "Which port does staging use?",
        "Where do I reach the pre-production environment?",
    ),
    Fact("I don't eat meat", "Do I eat meat?", "Am I vegetarian?"),
    Fact("My favourite band is Radiohead", "Which band is my favourite?", "What music do I like?"),
    Fact("I have two cats named Miso and Tofu", "What are my cats named?", "Do I have any animals at home?"),
    Fact("My manager is called Priya", "What is my manager called?", "Who is my boss?"),
    Fact("I broke my left wrist skiing last winter", "Which wrist did I break?", "Have I had any injuries?"),
    Fact(
        "We use PostgreSQL 16 for the billing service",
        "Which PostgreSQL version does billing use?",
        "What database is behind payments?",
    ),
    Fact("I wake up at 6 am every day", "When do I wake up?", "Am I an early riser?"),
    Fact(
        "My car insurance renews in September",
        "When does my insurance renew?",
        "When is the policy for my vehicle due?",
    ),
]  # fmt: skip

OTHER_CLIENT_FACTS = [
    "I drive a blue Tesla",
    "My sister lives in Oslo",
    "I am allergic to shellfish",
    "My dog is called Pepper",
    "I work as a nurse at a hospital",
    "My favourite programming language is Haskell",
    "My manager is called Tom",
    "I live in Madrid",
    "My favourite band is Coldplay",
    "I wake up at 9 am every day",
]

UNRELATED = [
    "How long should sourdough proof overnight?",
    "What is the capital of Australia?",
    "Who won the 1966 football world cup?",
    "How far is Mars from the Sun?",
    "What rhymes with orange?",
    "How many legs does a spider have?",
    "What year did the Berlin Wall fall?",
    "How do you make a paper airplane?",
    "Why is the sky blue?",
    "What is the boiling point of water at altitude?",
]

_ACKNOWLEDGEMENTS = ["Noted.", "Got it, I'll remember that.", "Thanks for telling me.", "Good to know!"]

_TASKS = [
    "parse a JSON file",
    "write a unit test",
    "read environment variables",
    "sort a list of dicts",
    "handle timeouts",
    "retry a failed request",
    "profile slow code",
    "format dates",
    "split a string",
    "merge two branches",
    "rename a column",
    "cache a function",
    "stream a large file",
    "validate user input",
    "log to a file",
    "paginate results",
    "debounce events",
    "compress images",
    "hash passwords",
    "schedule a job",
]
_TECH = [
    "Python",
    "TypeScript",
    "Go",
    "Java",
    "Kotlin",
    "SQL",
    "bash",
    "React",
    "Django",
    "FastAPI",
    "Kubernetes",
    "Terraform",
    "pandas",
    "git",
    "Docker",
    "Node.js",
]
_ADVICE = [
    "use the standard library helper and check its return value",
    "wrap it in a small function and test the edge cases",
    "prefer the built-in module over a new dependency",
    "read the documentation section on configuration first",
    "add a timeout and log the failure with context",
    "keep the logic pure and push side effects to the edges",
]
_SMALL_TALK = [
    "user: The weather is grey again today\nassistant: Sounds like a good day for coffee and focus.",
    "user: I finished the quarterly report\nassistant: Congratulations, that's a big one off the list.",
    "user: Remind me what a monad is\nassistant: A type with bind and return that chains computations.",
    "user: The meeting moved to Thursday afternoon\nassistant: Thanks, noted for the agenda.",
    "user: Lunch was a sandwich with cheese\nassistant: Simple and good.",
]  # fmt: skip


def stored(statement: str, index: int = 0) -> str:
    """A fact as the proxy stores the exchange that told it."""
    return f"user: {statement}\nassistant: {_ACKNOWLEDGEMENTS[index % len(_ACKNOWLEDGEMENTS)]}"


def filler(count: int, seed: int = 7) -> list[str]:
    """``count`` exchanges of everyday work and small talk, none of them about a fact's subject."""
    rng = random.Random(seed)
    combos = list(itertools.product(_TASKS, _TECH, _ADVICE))
    rng.shuffle(combos)
    memories = list(_SMALL_TALK)
    for n in itertools.count():
        if len(memories) >= count:
            break
        task, tech, advice = combos[n % len(combos)]
        ticket = f" (ticket {n // len(combos)})" if n >= len(combos) else ""
        memories.append(
            f"user: How do I {task} in {tech}{ticket}?\nassistant: To {task} in {tech}, {advice}."
        )
    return memories[:count]
