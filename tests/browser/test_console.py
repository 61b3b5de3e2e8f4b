"""The memory console in a real browser: what a person sees at /ui and what their clicks do to the store.

Each test fills a real proxy's memory with chat requests, drives the page the way a person would (click a
client, search, forget, open a request, sign in), and checks both what the page shows and what the store
holds afterwards, read through the console's JSON API with httpx rather than through the page.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, Response, expect

from conformance.fakes import fake_directive
from conformance.harness import conformance_raw_config
from tests.browser.support import ConsoleUnderTest

pytestmark = pytest.mark.e2e

TEAL = "my favourite colour is teal"
BEES = "I keep bees in Lisbon"
RED = "my favourite colour is red"
QUESTION = "what is my favourite colour?"
XSS = '<img src=x onerror="window.__pwned=1">'
REFRESH_MS = 5000
"""How often the console redraws the overview and the request list (``REFRESH_MS`` in console.js)."""


def client_row(page: Page, user_id: str) -> Locator:
    return page.locator(f'#clients tbody tr[data-user-id="{user_id}"]')


def memory_rows(page: Page) -> Locator:
    return page.locator("#memories tbody tr")


def request_row(page: Page, request_id: int) -> Locator:
    return page.locator(f'#requests tbody tr[data-request-id="{request_id}"]')


def containing(*texts: str) -> list[re.Pattern[str]]:
    """Expected texts of a list of elements, one each, in order (each may hold more around it)."""
    return [re.compile(re.escape(text)) for text in texts]


def timed_refresh(page: Page) -> None:
    """Run the console's timed refresh now (``page.clock`` installed) and wait until it has redrawn both
    lists; what the refresh does after that (clear a problem) is done by then: it runs in the same task."""
    page.evaluate(
        "document.querySelectorAll('#clients tbody tr, #requests tbody tr')"
        ".forEach((row) => { row.dataset.stale = 'yes'; })"
    )
    page.clock.run_for(REFRESH_MS)
    expect(page.locator("#clients tbody tr[data-stale], #requests tbody tr[data-stale]")).to_have_count(0)


def open_client(page: Page, console: ConsoleUnderTest, user_id: str) -> None:
    page.goto(console.url)
    client_row(page, user_id).click()
    expect(page.locator("#memory-title")).to_have_text(f"Memories of {user_id}")


def test_a_client_is_listed_searched_and_forgotten_one_memory_at_a_time(
    page: Page, open_console: Callable[..., ConsoleUnderTest]
):
    console = open_console()
    console.remember("alice", TEAL)
    console.remember("alice", BEES)
    console.remember("bob", RED)

    page.goto(console.url)
    expect(page.locator("#clients tbody tr")).to_have_count(2)
    expect(client_row(page, "alice").locator("td").nth(1)).to_have_text("2")
    expect(client_row(page, "bob").locator("td").nth(1)).to_have_text("1")

    client_row(page, "alice").click()
    expect(client_row(page, "alice")).to_have_class("selected")
    expect(memory_rows(page).locator("td.content")).to_have_text(containing(BEES, TEAL))  # newest first
    expect(page.locator("#memory-note")).to_have_text("2 memories, newest first.")

    page.fill("#search-query", "colour teal Lisbon")
    page.click("#search-form button[type=submit]")
    found = console.api("/clients/alice/search", q="colour teal Lisbon")["results"]
    assert [result["content"].splitlines()[0] for result in found] == [f"user: {TEAL}", f"user: {BEES}"]
    expect(memory_rows(page).locator("td.content")).to_have_text(containing(TEAL, BEES))
    expect(memory_rows(page).locator("td:first-child")).to_have_text(["1", "2"])
    expect(memory_rows(page).locator(".signal")).to_have_text(["words", "words"])
    expect(page.locator("#memory-note")).to_contain_text("2 found for “colour teal Lisbon”")
    expect(page.locator("#forget-all")).to_be_hidden()  # a search result is not "all of them"

    page.click("#search-clear")
    expect(page.locator("#memory-note")).to_have_text("2 memories, newest first.")
    teal = memory_rows(page).filter(has_text=TEAL)
    teal.locator("button.forget").click()
    dialog = page.locator("#confirm")
    expect(dialog).to_be_visible()
    expect(page.locator("#confirm-text")).to_contain_text(TEAL)
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(memory_rows(page)).to_have_count(2)
    assert len(console.memories("alice")) == 2

    teal.locator("button.forget").click()
    page.click("#confirm-ok")
    expect(memory_rows(page).locator("td.content")).to_have_text(containing(BEES))
    expect(client_row(page, "alice").locator("td").nth(1)).to_have_text("1")
    assert console.memories("alice") == [f"user: {BEES}\nassistant: echo: {BEES}"]
    assert console.memories("bob") == [f"user: {RED}\nassistant: echo: {RED}"]
    assert console.say("alice", QUESTION) == "skipped"  # recall no longer finds it


def test_a_memory_filed_in_the_wrong_namespace_is_moved_to_the_person_suggested(
    page: Page, open_console: Callable[..., ConsoleUnderTest]
):
    """Each namespace shows its kind; Move... suggests the one person namespace for a project's memory, and
    after the move the memory is the person's, gone from the project, and the counts follow."""
    console = open_console()
    project = "billing-api-3f9c1e"
    console.remember(project, TEAL)
    console.remember(project, BEES)
    console.remember("person:sam", RED)

    open_client(page, console, project)
    expect(client_row(page, project).locator("td.kind")).to_have_text("project")
    expect(client_row(page, "person:sam").locator("td.kind")).to_have_text("person")
    memory_rows(page).filter(has_text=TEAL).locator("button.move").click()
    dialog = page.locator("#move")
    expect(dialog).to_be_visible()
    expect(page.locator("#move-text")).to_contain_text(TEAL)
    expect(page.locator("#move-to")).to_have_value("person:sam")
    page.click("#move-ok")
    expect(page.locator("#memory-note")).to_have_text("Moved to person:sam.")
    expect(memory_rows(page).locator("td.content")).to_have_text(containing(BEES))
    expect(client_row(page, "person:sam").locator("td").nth(1)).to_have_text("2")
    assert console.memories(project) == [f"user: {BEES}\nassistant: echo: {BEES}"]
    assert sorted(console.memories("person:sam")) == sorted(
        [f"user: {TEAL}\nassistant: echo: {TEAL}", f"user: {RED}\nassistant: echo: {RED}"]
    )


@pytest.mark.usefixtures("embedding_model_dir")
def test_a_search_says_which_memories_were_found_by_meaning(
    page: Page, open_console: Callable[..., ConsoleUnderTest]
):
    console = open_console(semantic=True)
    console.wait_until_recall_by_meaning()
    console.remember("alice", TEAL)
    console.remember("alice", BEES)

    open_client(page, console, "alice")
    page.fill("#search-query", "teal beekeeping")
    page.click("#search-form button[type=submit]")

    found = console.api("/clients/alice/search", q="teal beekeeping")["results"]
    assert [(result["signal"], result["content"].splitlines()[0]) for result in found] == [
        ("words", f"user: {TEAL}"),
        ("meaning", f"user: {BEES}"),
    ]
    expect(memory_rows(page).locator("td.content")).to_have_text(containing(TEAL, BEES))
    expect(memory_rows(page).locator(".signal")).to_have_text(["words", "meaning"])
    expect(memory_rows(page).locator("td:first-child")).to_have_text(["1", "2"])


def test_forget_all_asks_first_and_empties_only_that_clients_store(
    page: Page, open_console: Callable[..., ConsoleUnderTest]
):
    console = open_console()
    console.remember("alice", TEAL)
    console.remember("alice", BEES)
    console.remember("bob", RED)

    open_client(page, console, "alice")
    expect(memory_rows(page)).to_have_count(2)
    page.click("#forget-all")
    expect(page.locator("#confirm-text")).to_contain_text("Forget every memory of alice?")
    page.locator("#confirm").get_by_role("button", name="Cancel").click()
    expect(page.locator("#confirm")).to_be_hidden()
    assert len(console.memories("alice")) == 2

    page.click("#forget-all")
    page.click("#confirm-ok")
    expect(page.locator("#memory-note")).to_have_text("Forgot 2 memories.")
    expect(memory_rows(page)).to_have_count(0)
    expect(page.locator("#forget-all")).to_be_hidden()
    expect(client_row(page, "alice").locator("td").nth(1)).to_have_text("0")
    assert console.memories("alice") == []
    assert console.memories("bob") == [f"user: {RED}\nassistant: echo: {RED}"]


def test_forgetting_a_memory_that_is_already_gone_says_so_and_shows_the_store_as_it_is(
    page: Page, open_console: Callable[..., ConsoleUnderTest]
):
    console = open_console()
    console.remember("alice", TEAL)
    console.remember("alice", BEES)
    page.clock.install()  # the console's timed refresh runs when timed_refresh says
    open_client(page, console, "alice")
    expect(memory_rows(page)).to_have_count(2)

    console.forget("alice")  # elsewhere, while the page still lists them
    memory_rows(page).filter(has_text=TEAL).locator("button.forget").click()
    page.click("#confirm-ok")
    expect(page.locator("#problem")).to_be_visible()
    expect(page.locator("#problem")).to_contain_text("alice has no memory")
    expect(memory_rows(page)).to_have_count(0)
    expect(page.locator("#memory-note")).to_have_text("No memories in this namespace.")
    timed_refresh(page)
    expect(page.locator("#problem")).to_contain_text("alice has no memory")  # until the next action


def test_requests_show_who_asked_what_memory_did_and_the_memory_the_provider_saw(
    page: Page, open_console: Callable[..., ConsoleUnderTest]
):
    console = open_console()
    assert console.remember("alice", TEAL) == "skipped"
    assert console.say("alice", QUESTION) == "used"
    assert console.say("bob", "hello there") == "skipped"
    refused = console.post(
        "bob", {"model": "gpt-fake", "messages": [{"role": "user", "content": fake_directive("rate_limit")}]}
    )
    assert refused.status_code == 429

    page.goto(console.url)
    expect(page.locator("#requests tbody tr")).to_have_count(4)
    listed = console.api("/requests")["requests"]
    assert [(r["user_id"], r["memory_status"], r["status_code"]) for r in listed] == [
        ("bob", "skipped", 429),
        ("bob", "skipped", 200),
        ("alice", "used", 200),
        ("alice", "skipped", 200),
    ]
    rows = page.locator("#requests tbody tr")
    shown = rows.evaluate_all("rows => rows.map((row) => row.dataset.requestId)")
    assert shown == [str(record["id"]) for record in listed]  # newest first
    for record in listed:
        cells = request_row(page, record["id"]).locator("td")
        expect(cells.nth(1)).to_have_text(record["user_id"])
        expect(cells.nth(2)).to_have_text("gpt-fake")
        # A failed request shows why it failed, not what memory did before it failed.
        failed = record["status_code"] >= 400
        memory = (
            f"failed {record['error']}" if failed else f"{record['memory_status']} {record['memory_reason']}"
        )
        expect(cells.nth(3)).to_have_text(memory)
        expect(cells.nth(6)).to_have_text(str(record["status_code"]))
    expect(request_row(page, listed[0]["id"]).locator("td").nth(6)).to_have_class(re.compile("http4"))
    assert "rate" in listed[0]["error"].lower()  # the provider's 429, not "no matching memories"

    used = next(record for record in listed if record["memory_status"] == "used")
    request_row(page, used["id"]).click()
    detail = page.locator("#request-detail")
    expect(detail).to_be_visible()
    expect(detail.locator("h3")).to_contain_text(f"Request {used['id']}")
    expect(detail).to_contain_text(QUESTION)  # the recall query
    expect(detail.locator("figure.injected pre")).to_contain_text(TEAL)
    expect(detail.locator("figure.injected figcaption")).to_have_text("in the system prompt")

    request_row(page, listed[1]["id"]).click()
    expect(detail).to_contain_text("No memory was injected into this request.")
    expect(detail.locator("figure.injected")).to_have_count(0)


def test_the_proxy_key_is_asked_once_and_kept_out_of_urls_and_cookies(
    page: Page, open_console: Callable[..., ConsoleUnderTest]
):
    key = f"console-key-{secrets.token_hex(8)}"
    console = open_console(memory_proxy={"auth_key": key})
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))

    first = page.goto(console.url)
    assert first is not None and first.status == 401
    expect(page.locator("#signin-form")).to_be_visible()
    expect(page.locator("#clients")).to_have_count(0)

    page.fill("#key", "not-the-key")
    page.press("#key", "Enter")
    expect(page.locator("#signin-error")).to_be_visible()
    expect(page.locator("#signin-error")).to_contain_text("not the proxy key")

    page.fill("#key", key)
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#clients")).to_be_visible()
    expect(page.locator("#signout")).to_be_visible()
    assert page.url == console.url
    [cookie] = page.context.cookies()
    assert cookie["name"] == "memory_proxy_console"
    assert cookie["httpOnly"] is True
    assert key not in cookie["value"]
    assert page.evaluate("document.cookie") == ""  # out of reach of scripts
    assert urls and not [url for url in urls if key in url]

    page.reload()  # the session outlives the page
    expect(page.locator("#clients")).to_be_visible()

    page.click("#signout")
    expect(page.locator("#signin-form")).to_be_visible()
    assert page.context.cookies() == []
    page.goto(console.url)
    expect(page.locator("#signin-form")).to_be_visible()


def test_sign_in_says_so_when_the_proxy_cannot_be_reached(
    page: Page, open_console: Callable[..., ConsoleUnderTest]
):
    console = open_console(memory_proxy={"auth_key": "the-proxy-key"})
    page.goto(console.url)
    page.route("**/ui/signin", lambda route: route.abort("connectionrefused"))
    page.fill("#key", "the-proxy-key")
    page.press("#key", "Enter")
    expect(page.locator("#signin-error")).to_contain_text("could not be reached")
    expect(page.locator("#signin-form")).to_be_visible()


def test_the_key_stays_out_of_the_url_even_without_javascript(
    browser: Browser, open_console: Callable[..., ConsoleUnderTest]
):
    """A form submitted before (or without) its script is the browser's own submission: it must not be
    a GET that puts the key in the URL, the history and the access log."""
    key = f"console-key-{secrets.token_hex(8)}"
    console = open_console(memory_proxy={"auth_key": key})
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(console.url)
        page.fill("#key", key)
        with page.expect_navigation():
            page.press("#key", "Enter")
        assert key not in page.url
        assert key not in page.content()
    finally:
        context.close()


def test_memory_text_is_shown_as_text_never_as_markup(
    page: Page, open_console: Callable[..., ConsoleUnderTest]
):
    console = open_console()
    console.remember("alice", XSS)
    assert console.say("alice", "img onerror") == "used"  # the markup reaches a request's injected memory
    refused = console.post("bob", {"model": XSS, "messages": [{"role": "user", "content": "hi"}]})
    assert refused.status_code >= 400

    open_client(page, console, "alice")
    expect(memory_rows(page).locator("td.content")).to_contain_text([f"user: {XSS}"])
    # The refused request's error names the model it asked for: markup again, in the requests list.
    expect(page.locator("#requests tbody tr").first.locator("td.memory")).to_contain_text(XSS)

    memory_rows(page).filter(has_text=XSS).locator("button.forget").click()
    expect(page.locator("#confirm-text")).to_contain_text(XSS)
    page.locator("#confirm").get_by_role("button", name="Cancel").click()

    used = next(r for r in console.api("/requests")["requests"] if r["memory_status"] == "used")
    request_row(page, used["id"]).click()
    expect(page.locator("#request-detail figure.injected pre")).to_contain_text(XSS)

    # CSP would stop the handler even if the markup were parsed, so check that no element was made.
    assert page.locator("img").count() == 0
    assert page.evaluate("() => window.__pwned") is None


def test_no_page_or_console_answer_shows_a_key(
    page: Page,
    open_console: Callable[..., ConsoleUnderTest],
    fake_provider_url: str,
    unreachable_url: str,
):
    proxy_key = f"proxy-key-{secrets.token_hex(8)}"
    provider_key = f"sk-provider-{secrets.token_hex(8)}"
    supermemory_key = f"sm-key-{secrets.token_hex(8)}"
    models = conformance_raw_config(fake_provider_url, unreachable_url)["model_list"]
    for model in models:
        model["litellm_params"]["api_key"] = provider_key
    console = open_console(
        model_list=models,
        memory_proxy={"auth_key": proxy_key},
        context_retrieval={"api_key": supermemory_key},
    )
    console.remember("alice", TEAL)
    assert console.say("alice", QUESTION) == "used"

    received: list[Response] = []
    answers: list[tuple[str, str]] = []
    page.on("response", lambda response: received.append(response))

    def read_answers() -> None:
        """The bodies received so far. Not read in the handler: one that waits for a body races the test's
        next steps. Read before the page navigates away, which drops them."""
        while received:
            response = received.pop(0)
            if response.status != 204:  # the sign-in's answer, gone with the page it was made from
                answers.append((response.url, response.text()))

    page.goto(console.url)
    page.fill("#key", "a-wrong-key")
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#signin-error")).to_be_visible()
    read_answers()
    page.fill("#key", proxy_key)
    page.click("#signin-form button[type=submit]")
    client_row(page, "alice").click()
    expect(memory_rows(page)).to_have_count(2)
    page.fill("#search-query", "colour")
    page.click("#search-form button[type=submit]")
    expect(page.locator("#memory-note")).to_contain_text("found for “colour”")
    page.locator("#requests tbody tr").first.click()
    expect(page.locator("#request-detail figure.injected")).to_have_count(1)
    read_answers()

    loaded = {re.sub(r"^https?://[^/]+|\?.*$", "", url) for url, _ in answers}
    assert {
        "/ui/api/overview",
        "/ui/api/requests",
        "/ui/api/clients/alice/memories",
        "/ui/api/clients/alice/search",
    } <= loaded
    assert any(path.startswith("/ui/api/requests/") for path in loaded)
    shown: list[tuple[str, Any]] = [
        ("the page", page.content()),
        ("the page's text", page.inner_text("body")),
        *answers,
    ]
    for secret in (proxy_key, provider_key, supermemory_key):
        assert [where for where, text in shown if secret in text] == []


def test_with_a_key_per_person_each_signs_in_to_their_own_memories(
    page: Page, open_console: Callable[..., ConsoleUnderTest]
):
    sam_key, alex_key = (f"{name}-key-{secrets.token_hex(8)}" for name in ("sam", "alex"))
    keys = [{"key": sam_key, "person": "sam"}, {"key": alex_key, "person": "alex"}]
    console = open_console(memory_proxy={"keys": keys})
    as_sam, as_alex = (
        ConsoleUnderTest(console.proxy, key=sam_key),
        ConsoleUnderTest(console.proxy, key=alex_key),
    )
    as_sam.remember("notes", "the staging password rotates on Fridays")
    as_alex.remember("notes", "the release train leaves on Tuesdays")

    page.goto(console.url)
    page.fill("#key", alex_key)
    page.press("#key", "Enter")
    expect(page.locator("#facts")).to_contain_text("signed in as")
    expect(page.locator("#facts")).to_contain_text("alex")
    expect(client_row(page, "alex:notes")).to_be_visible()
    expect(client_row(page, "sam:notes")).to_have_count(0)
    open_client(page, console, "alex:notes")
    expect(memory_rows(page)).to_have_count(1)
    expect(memory_rows(page).first).to_contain_text("Tuesdays")
    expect(page.locator("body")).not_to_contain_text("Fridays")
