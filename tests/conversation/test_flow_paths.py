"""Every path through the playbook's triage, driven through the pure flow engine.

The expectations are written from shared/response-playbook.md, not from playbook.toml, so
this test checks that the content implements the playbook.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from bot.content.playbook import Severity, load_playbook
from bot.content.prompts import Deployment, Prompts
from bot.conversation.flow import Flow
from storage.cases import CaseRecord

T0 = datetime(2026, 3, 1, tzinfo=UTC)
PLAYBOOK = load_playbook()
DEPLOYMENT = Deployment("CN", 180, ("• 110",), ("• test line: 000",))
LEAKED_CHOICES = [
    (),
    ("chats",),
    ("intimate",),
    ("id_bank",),
    ("address",),
    ("other",),
    ("chats", "id_bank", "address"),
]


def new_case() -> CaseRecord:
    return CaseRecord(
        id=1,
        platform="t",
        user_id="u",
        chat_id="u",
        status="open",
        phase="language",
        locale="en",
        severity="normal",
        created_at=T0,
        updated_at=T0,
    )


class Driver:
    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.case = new_case()
        self.texts: list[str] = []
        self.alerts: list[str] = []

    def _do(self, action: str, arg: str) -> None:
        turn = self.flow.begin(self.case, T0)
        if action == "press":
            self.flow.press(turn, f"{self.case.prompt_seq}:{arg}")
        else:
            self.flow.text(turn, arg)
        outcome = self.flow.finish(turn)
        self.case = outcome.case
        self.texts.extend(reply.text for reply in outcome.replies)
        self.alerts.extend(outcome.alert_reasons)

    def press(self, data: str) -> None:
        self._do("press", data)

    def type(self, text: str) -> None:
        self._do("text", text)


def walk(flow: Flow, path: dict[str, tuple[str, ...]]) -> tuple[Driver, list[str]]:
    driver = Driver(flow)
    driver.press("lang:en")
    driver.press("ok:")
    asked = []
    while driver.case.phase == "triage":
        question = flow.current_question(driver.case)
        assert question is not None
        asked.append(question.id)
        if question.kind == "text":
            driver.type("they asked for money")
        elif question.multi:
            for answer in path[question.id]:
                driver.press(f"m:{question.id}={answer}")
            driver.press(f"md:{question.id}")
        else:
            driver.press(f"a:{question.id}={path[question.id][0]}")
        assert len(asked) < 20
    return driver, asked


def expected_severity(path: dict[str, tuple[str, ...]]) -> Severity:
    answers = {a for q in ("safety", "safety_recheck") for a in path.get(q, ())}
    if "yes" in answers or path["extortion"] == ("yes",) or path["minor"] == ("yes",):
        return Severity.CRITICAL
    if (
        "not_sure" in answers
        or path["spread"][0] in ("group_chats", "public")
        or "intimate" in path["leaked"]
    ):
        return Severity.HIGH
    return Severity.NORMAL


def all_paths() -> list[dict[str, tuple[str, ...]]]:
    paths = []
    for safety, extortion, minor, spread, leaked, source in itertools.product(
        ("yes", "no", "not_sure"),
        ("yes", "no"),
        ("yes", "no"),
        ("not_yet", "private_chats", "group_chats", "public"),
        LEAKED_CHOICES,
        ("hotel", "platform", "workplace", "acquaintance", "unknown"),
    ):
        rechecks = ("yes", "no", "not_sure") if "address" in leaked else (None,)
        for recheck in rechecks:
            path = {
                "safety": (safety,),
                "extortion": (extortion,),
                "minor": (minor,),
                "spread": (spread,),
                "leaked": leaked,
                "source": (source,),
            }
            if recheck is not None:
                path["safety_recheck"] = (recheck,)
            paths.append(path)
    return paths


@pytest.fixture(scope="module")
def flow() -> Flow:
    return Flow(Prompts(PLAYBOOK, DEPLOYMENT), Severity.HIGH)


def test_every_triage_path(flow: Flow) -> None:
    paths = all_paths()
    assert len(paths) > 1500
    for path in paths:
        driver, asked = walk(flow, path)
        case = driver.case
        where = f"path {path}"
        assert ("extortion_amount" in asked) == (path["extortion"] == ("yes",)), where
        assert ("safety_recheck" in asked) == ("address" in path["leaked"]), where
        severity = expected_severity(path)
        assert case.severity == severity, where
        assert bool(driver.alerts) == severity.at_least(Severity.HIGH), where
        assert case.phase == "step" and case.step == 1, where
        _check_step_one(case, path, where)
        emergency = PLAYBOOK.texts.get("en", "notice.emergency")
        in_danger = {"yes", "not_sure"} & set(path["safety"] + path.get("safety_recheck", ()))
        assert any(emergency in t for t in driver.texts) == bool(in_danger), where


def _check_step_one(case: CaseRecord, path: dict[str, tuple[str, ...]], where: str) -> None:
    items = [e.item_id for e in case.checklist if e.step == 1]
    assert "forward_evidence" in items, where
    assert ("contact_bank" in items) == ("id_bank" in path["leaked"]), where
    venue = path["source"][0] in ("hotel", "platform", "workplace")
    assert ("preservation_request" in items) == venue, where
    minor = path["minor"] == ("yes",)
    # With a minor, the "copy nothing" item comes first and reporting has its own variant.
    leading = items[1:] if minor else items
    if minor:
        assert items[0] == "minor_no_copies", where
    report = "report_content_minor" if minor else "report_content"
    if path["spread"] == ("public",) and "id_bank" not in path["leaked"]:
        assert leading[0] == report, where
    if "id_bank" in path["leaked"]:
        assert set(leading[:2]) <= {"contact_bank", "secure_accounts", report}, where
        assert "contact_bank" in leading[:3], where


@pytest.mark.parametrize(
    ("severity", "recommended"),
    [(Severity.NORMAL, "complaint"), (Severity.HIGH, "police"), (Severity.CRITICAL, "police")],
)
def test_step_two_recommends_the_lowest_fitting_tier(
    flow: Flow, severity: Severity, recommended: str
) -> None:
    path = {
        "safety": ("no",),
        "extortion": ("no",),
        "minor": ("no",),
        "spread": ("not_yet",),
        "leaked": ("chats",),
        "source": ("unknown",),
    }
    if severity is Severity.HIGH:
        path["spread"] = ("public",)
    if severity is Severity.CRITICAL:
        path["minor"] = ("yes",)
    driver, _ = walk(flow, path)
    while driver.case.step == 1:
        entry = next(e for e in driver.case.checklist if e.state == "pending")
        driver.press(f"i:{entry.item_id}=done")
    prompt = driver.texts[-1]
    label = PLAYBOOK.texts.get("en", f"question.path.answer.{recommended}")
    assert PLAYBOOK.texts.get("en", "ui.path_recommended", path=label) in prompt
    assert PLAYBOOK.texts.get("en", "ui.not_legal_advice") in prompt
    driver.press(f"a:path={recommended}")
    items = [e.item_id for e in driver.case.checklist if e.step == 2]
    assert items and all(i.startswith((recommended, "evidence_value")) for i in items)


def test_outside_mainland_china_no_prc_law_is_shown() -> None:
    general = Flow(Prompts(PLAYBOOK, Deployment("DE", 180, (), ())), Severity.HIGH)
    path = {
        "safety": ("no",),
        "extortion": ("no",),
        "minor": ("no",),
        "spread": ("not_yet",),
        "leaked": ("chats",),
        "source": ("hotel",),
    }
    driver, _ = walk(general, path)
    while driver.case.step < 3 and driver.case.phase == "step":
        if general.current_question(driver.case) is not None:
            driver.press("a:path=complaint")
            continue
        entry = next(e for e in driver.case.checklist if e.state == "pending")
        driver.press(f"i:{entry.item_id}=done")
    shown = "\n".join(driver.texts)
    for citation in PLAYBOOK.citations.values():
        assert citation.names["en"] not in shown
    assert "12348" not in shown and "12377" not in shown
