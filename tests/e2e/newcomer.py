"""What a newcomer does, as reusable steps: watch a page for trouble, and work its controls the way
a person does (clicks, arrow keys, menus), whatever controls the page has."""
from __future__ import annotations

import time
from urllib.parse import urlparse

from tests.e2e.test_offline import streamlits_own_probe
from tests.e2e.test_train_flow import wait_until

SLIDERS = '[role="slider"], input[type="range"]'   # Streamlit's sliders and select sliders
SETTLE_S = 0.6   # a click's rerun reaches the page within this on an idle machine; checks wait longer


class Watch:
    """Everything on a page that a newcomer should never meet: an exception element, a blank page,
    a browser console error, an uncaught script error, or a request to any host but this server."""

    def __init__(self, page, server: str):
        self.page = page
        self.host = urlparse(server).hostname
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("request", self._request)
        page.on("response", self._response)

    def _console(self, message) -> None:
        where = message.location.get("url", "")
        if message.type == "error" and not streamlits_own_probe(where):
            self.problems.append(f"console error: {message.text} ({where})")

    def _response(self, response) -> None:
        if response.status >= 400 and not streamlits_own_probe(response.url):
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def _request(self, request) -> None:
        host = urlparse(request.url).hostname
        if host and host not in (self.host, "localhost", "127.0.0.1"):
            self.problems.append(f"request to an outside host: {request.url}")

    def check(self, stage: str) -> None:
        page = self.page
        time.sleep(SETTLE_S)
        exceptions = page.locator('[data-testid="stException"]')
        assert exceptions.count() == 0, f"{stage}: {exceptions.first.inner_text()[:500]}"
        main = page.locator('[data-testid="stMain"]')
        wait_until(lambda: len(main.inner_text().strip()) > 40, 20, f"{stage}: a page that is not blank")
        assert not any("Something went wrong" in t for t in page.locator('[data-testid="stAlert"]').all_inner_texts()), \
            f"{stage}: the page guard caught an error"
        assert not self.problems, f"{stage}: {self.problems[:5]}"


def open_page(context, url: str, ready_text: str | None = None):
    page = context.new_page()
    page.goto(url)
    if ready_text:
        page.get_by_text(ready_text, exact=True).first.wait_for(timeout=90_000)
    return page


def open_sidebar(page) -> None:
    """Unfold the sidebar if it is folded away (presentation mode starts with it folded)."""
    unfold = page.locator('[data-testid="stExpandSidebarButton"]')
    if unfold.count() and unfold.first.is_visible():
        unfold.first.click()
        sidebar = page.locator('[data-testid="stSidebar"]')
        wait_until(lambda: sidebar.bounding_box() and sidebar.bounding_box()["x"] >= 0, 10, "the sidebar to unfold")
        time.sleep(0.5)   # the end of its slide-in


def toggle(page, label: str) -> None:
    open_sidebar(page)
    page.locator('[data-testid="stCheckbox"]').filter(has_text=label).first.locator("label").first.click()


def pick(page, label: str, option: str) -> None:
    """Choose ``option`` in the select box labelled ``label``."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has=page.get_by_text(label, exact=True)).first
    box.scroll_into_view_if_needed()
    box.click()
    # Typing filters the list: the option is then on screen however long the list is.
    box.locator("input").first.fill(option)
    choice = page.get_by_role("option", name=option, exact=True)
    choice.wait_for(timeout=20_000)
    choice.click()
    wait_until(lambda: option in chosen(box), 20, f"{label} showing {option}")


def chosen(select_box) -> str:
    """What a select box shows as chosen (its text, whichever element holds it)."""
    inputs = select_box.locator("input")
    shown = inputs.first.input_value() if inputs.count() else ""
    return f"{select_box.text_content()} {shown}"


def slider_keys(page, label: str, key: str, times: int = 1) -> None:
    handle = page.locator(SLIDERS).and_(page.locator(f'[aria-label="{label}"]')).first
    handle.focus()
    for _ in range(times):
        handle.press(key)
        time.sleep(0.15)


def _widget_label(control) -> str:
    return control.locator('[data-testid="stWidgetLabel"]').inner_text().strip()


def _controls(found, label_of, skip=()):
    """(label, control) for each visible control in ``found`` that is not skipped."""
    for i in range(found.count()):
        control = found.nth(i)
        label = label_of(control) or f"control {i}"
        if label not in skip and control.is_visible():
            yield label, control


def type_number(page, label: str, value: int) -> None:
    """Type a value into the number box labelled ``label`` (and confirm it with Enter)."""
    box = page.locator('[data-testid="stNumberInput"]').filter(has=page.get_by_text(label, exact=True)).first
    field = box.locator("input").first
    field.fill(str(value))
    field.press("Enter")
    wait_until(lambda: field.input_value().replace(",", "") == str(value), 20, f"{label} = {value}")


def each_select(root, page, watch: Watch, stage: str, skip=()) -> int:
    """Open every select box under ``root`` and choose its next option (a person trying them out)."""
    done = 0
    for label, box in _controls(root.locator('[data-testid="stSelectbox"]'), _widget_label, skip):
        box.click()
        options = page.get_by_role("option")
        wait_until(lambda: options.count() > 0, 10, f"the options of {label}")
        chosen = [j for j in range(options.count()) if options.nth(j).get_attribute("aria-selected") == "true"]
        options.nth((chosen[0] + 1) % options.count() if chosen else 0).click()
        watch.check(f"{stage}: select {label}")
        done += 1
    return done


def each_slider(root, watch: Watch, stage: str, key: str = "ArrowRight", skip=()) -> int:
    """Move every slider under ``root`` one notch with the keyboard."""
    done = 0
    for label, handle in _controls(root.locator(SLIDERS), lambda h: h.get_attribute("aria-label"), skip):
        handle.focus()
        handle.press(key)
        watch.check(f"{stage}: slider {label}")
        done += 1
    return done


def each_number(root, watch: Watch, stage: str, skip=()) -> int:
    """Press + on every number box under ``root``."""
    done = 0
    for label, box in _controls(root.locator('[data-testid="stNumberInput"]'), _widget_label, skip):
        plus = box.locator('[data-testid="stNumberInputStepUp"]')
        if plus.is_enabled():
            plus.click()
            watch.check(f"{stage}: + on {label}")
            done += 1
    return done


def each_toggle(root, watch: Watch, stage: str, skip=()) -> int:
    """Switch every toggle and checkbox under ``root`` (twice: on and off again)."""
    done = 0
    for label, item in _controls(root.locator('[data-testid="stCheckbox"]'), lambda c: c.inner_text().strip(), skip):
        for _ in range(2):
            item.locator("label").first.click()
            watch.check(f"{stage}: toggle {label}")
        done += 1
    return done


def each_segment(root, watch: Watch, stage: str) -> int:
    """Click every option of every segmented control under ``root``, ending on the first."""
    done = 0
    groups = root.locator('[data-testid="stButtonGroup"]')
    for i in range(groups.count()):
        buttons = groups.nth(i).locator("button")
        n = buttons.count()
        for j in list(range(1, n)) + [0]:
            buttons.nth(j).click()
            watch.check(f"{stage}: segment {j}")
            done += 1
    return done


def expand_all(root) -> None:
    """Open every folded section (expanders) so their controls can be reached."""
    headers = root.locator('[data-testid="stExpander"] summary')
    for i in range(headers.count()):
        details = headers.nth(i).locator("xpath=..")
        if details.get_attribute("open") is None:
            headers.nth(i).click()
            time.sleep(0.2)


def address(page) -> str:
    """The address bar as the page has it now (Streamlit rewrites it with history.replaceState,
    which playwright's ``page.url`` may not have caught up with)."""
    return page.evaluate("location.href")


def run_id_of(page) -> str:
    from urllib.parse import parse_qs

    return parse_qs(urlparse(address(page)).query).get("run", [""])[0]
