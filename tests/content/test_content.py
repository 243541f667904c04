"""The content files: complete in every locale, legally sourced, and safe to show a victim.

What is checked here is what a content editor can break without touching code: a missing
or misspelt key, a placeholder that differs between languages, a law cited without a
source in shared/legal-reference.md, an article number typed by hand, an invented phone
number or statistic, a danger phrase that fires on ordinary talk, a triage answer that
leaves a step empty.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.content.playbook import LOCALES, Playbook, Severity, citation_tokens, load_playbook
from bot.conversation.signals import SignalDetector, normalise
from bot.conversation.triage import reasons_from_answers, severity_of, tags
from bot.dispatch import CASE_COMMANDS
from bot.evidence.vetting import ALERT_REASON

LEGAL_REFERENCE = Path(__file__).parents[3] / "shared" / "legal-reference.md"

# Keys the engine and the playbook's journey need, beyond those derived from playbook.toml.
UI_KEYS = (
    "case_taken_up",
    "btn_new_case",
    "case_open_done",
    "btn_close_case",
    "choose_language",
    "welcome",
    "privacy_notice",
    "btn_privacy_ok",
    "triage_intro",
    "multi_hint",
    "btn_multi_done",
    "btn_skip_question",
    "text_question_hint",
    "multi_selected",
    "step_header",
    "item_header",
    "item_deadline",
    "duration_m",
    "duration_h",
    "duration_d",
    "duration_wd",
    "btn_done",
    "btn_skip",
    "btn_why",
    "item_done_ack",
    "item_skipped_ack",
    "step_complete",
    "path_recommended",
    "not_legal_advice",
    "not_legal_advice_general",
    "case_closed",
    "status_header",
    "status_phase_triage",
    "status_phase_step",
    "status_phase_closed",
    "status_paused",
    "status_answers_header",
    "status_reasons_header",
    "status_no_case",
    "btn_change_answer",
    "change_which",
    "answer_changed",
    "help",
    "paused",
    "resumed",
    "unknown_command",
    "empty_message",
    "too_long",
    "unsupported",
    "stale_button",
    "free_text_ack",
    "other_language",
    "btn_switch_language",
    "language_changed",
    "flood",
    "evidence_paced",
    "escalated",
    "no_hotlines",
    "support_header",
    "emergency_header",
)
EVIDENCE_KEYS = (
    "receipt",
    "duplicate",
    "too_large",
    "too_large_unsized",
    "case_full",
    "fetch_failed",
    "case_erased",
    "batch_header",
    "batch_line",
    "btn_details",
    "described",
    "described_sent",
    "described_from",
    "described_from_sent",
    "details",
    "details_batch_header",
    "details_batch_item",
    "details_batch_footer",
    "list_item_named",
    "edit_kept",
    "deletion_noted",
    "list_header",
    "list_item",
    "list_more",
    "list_contradicted",
    "list_empty",
    *(f"kind.{kind}" for kind in ("text", "photo", "document", "voice", "video", "audio", "file")),
)
SEARCH_KEYS = (
    "memo.usage",
    "memo.kept",
    "memo.kept_written",
    "memo.kept_day_assumed",
    "memo.unclear",
    "memo.linked",
    "memo.too_long",
    "timeline.header",
    "timeline.empty",
    "timeline.more",
    "timeline.legend",
    *(f"timeline.basis_{basis}" for basis in ("received", "stated_day", "written", "recorded")),
    *(f"timeline.mark_{basis}" for basis in ("received", "stated_day", "written", "recorded")),
    "timeline.mark_means",
    "search.help",
    "search.none",
    "search.contradicted",
    "search.results",
    "search.pictures",
    "search.bad_date",
    "search.bad_kind",
    "search.reversed",
    "search.outside_window",
    "search.erased",
    "search.no_evidence",
)
# What the staff side (escalation, commands, briefing, retrieval) looks up.
STAFF_KEYS = (
    "ui.staff_on_it",
    "staff.alert_update",
    "staff.duration_s",
    "staff.step_n",
    "staff.step_triage",
    "progress.on",
    "progress.off",
    "progress.not_offered",
    "progress.note",
    "progress.note_triage",
    "staff.alert_escalated",
    "staff.alert_repeat",
    "staff.escalated_notice",
    "staff.btn_ack",
    "staff.btn_take",
    "staff.btn_resolve",
    "staff.acknowledged_by",
    "staff.resolved_by",
    "staff.already_acknowledged",
    "staff.already_resolved",
    "staff.acknowledged",
    "staff.taken",
    "staff.resolved",
    "staff.no_such_case",
    "staff.no_escalation",
    "staff.not_staff",
    "staff.not_allowed",
    "staff.unknown_command",
    "staff.usage",
    "staff.help",
    "staff.cases_header",
    "staff.cases_none",
    "staff.cases_more",
    "staff.case_line",
    "staff.unassigned",
    "staff.assigned_to",
    "staff.former_staff",
    "staff.awaiting_ack",
    "staff.case_summary",
    "staff.status_open",
    "staff.status_paused",
    "staff.status_closed",
    "staff.status_resolved",
    "staff.escalation_none",
    "staff.escalation_open",
    "staff.escalation_acknowledged",
    "staff.escalation_resolved",
    "staff.notes_header",
    "staff.note_line",
    "staff.noted",
    "staff.note_empty",
    "staff.assigned",
    "staff.assign_unknown",
    "staff.resolve_already",
    "staff.held",
    "staff.released",
    "staff.hold_refused",
    "staff.custody_header",
    "staff.custody_line",
    "staff.custody_none",
    "staff.hold_already",
    "staff.hold_none",
    "briefing.title",
    "briefing.title_late",
    "briefing.title_now",
    "briefing.new_cases",
    "briefing.open_header",
    "briefing.open_line",
    "briefing.open_none",
    "briefing.overdue",
    "briefing.retention",
    "briefing.unacknowledged",
    "briefing.evidence_added",
    "briefing.reminders_sent",
    "briefing.dead_letters",
    "briefing.tree_head",
    "briefing.timestamps_waiting",
    "retrieval.requested",
    "retrieval.approved",
    "retrieval.denied",
    "retrieval.delivered",
    "retrieval.failed",
    "retrieval.fetching",
    "retrieval.unknown",
    "retrieval.bad_window",
    "retrieval.own_request",
    "retrieval.not_yours",
    "retrieval.expired",
    "retrieval.already",
    "retrieval.totp_wrong",
    "retrieval.state_requested",
    "retrieval.state_approved",
    "retrieval.state_denied",
    "retrieval.state_expired",
)
# Reasons the code alerts the staff with on its own, besides the playbook's.
CODE_REASON_KEYS = frozenset({f"reason.{ALERT_REASON}"})

REQUIRED_KEYS = frozenset(
    {
        "meta.language_name",
        *SEARCH_KEYS,
        "staff.alert",
        *STAFF_KEYS,
        *(f"ui.{name}" for name in UI_KEYS),
        *(f"evidence.{name}" for name in EVIDENCE_KEYS),
        *CODE_REASON_KEYS,
        "export.mismatch",
        "report.ready",
        "report.empty",
        "report.failed",
    }
)

# The fields the engine passes to each text; every other text takes none (the engine does
# not format it, so a stray "{x}" would reach the victim as it is).
EXPECTED_FIELDS = {
    "item.preservation_request.draft": {"where"},
    "ui.privacy_notice": {"retention_days"},
    "ui.multi_selected": {"answers"},
    "ui.step_header": {"number", "title"},
    "ui.item_header": {"position", "total", "title"},
    "ui.item_deadline": {"duration"},
    "ui.duration_m": {"n"},
    "ui.duration_h": {"n"},
    "ui.duration_d": {"n"},
    "ui.duration_wd": {"n"},
    "ui.step_complete": {"number"},
    "ui.path_recommended": {"path"},
    "ui.case_closed": {"retention_days"},
    "ui.status_header": {"case_id", "severity"},
    "ui.status_phase_step": {"number", "title"},
    "ui.unknown_command": {"command"},
    "ui.too_long": {"limit"},
    "report.ready": {"count"},
    "export.ready": {"count"},
    "evidence.batch_header": {"count", "first", "last"},
    "evidence.batch_line": {"item_no", "described"},
    "evidence.described": {"kind", "received"},
    "evidence.described_sent": {"kind", "sent"},
    "evidence.described_from": {"kind", "sender", "received"},
    "evidence.described_from_sent": {"kind", "sender", "sent"},
    "evidence.details_batch_header": {
        "first",
        "last",
        "received_utc",
        "received_local",
        "timezone",
    },
    "evidence.details_batch_item": {"item_no", "kind", "digest", "log_index"},
    "evidence.details_batch_footer": {"tree_size", "root"},
    "evidence.edit_kept": {"item_no"},
    "evidence.deletion_noted": {"items"},
    "evidence.too_large_unsized": {"limit"},
    "erase.done": {"case_no", "count"},
    "erase.confirm": {"case_no"},
    "ui.case_taken_up": {"case_no"},
    "ui.case_open_done": {"case_no"},
    "ui.other_language": {"language"},
    "ui.btn_switch_language": {"language"},
    "staff.alert": {"case_id", "severity", "reasons", "step", "age", "locale", "via"},
    "staff.duration_s": {"n"},
    "staff.step_n": {"n"},
    "progress.note": {"case_id", "step", "steps", "done", "total"},
    "progress.note_triage": {"case_id"},
    "staff.alert_escalated": {"age", "level"},
    "staff.alert_repeat": {"age"},
    "staff.escalated_notice": {"case_id", "level", "timeout"},
    "staff.acknowledged_by": {"at", "who"},
    "staff.resolved_by": {"at", "who"},
    "staff.already_acknowledged": {"at", "case_id", "who"},
    "staff.already_resolved": {"at", "case_id", "who"},
    "staff.acknowledged": {"case_id", "who"},
    "staff.taken": {"case_id", "who"},
    "staff.resolved": {"case_id", "who"},
    "staff.no_such_case": {"case_id"},
    "staff.not_allowed": {"command", "role"},
    "staff.unknown_command": {"command"},
    "staff.usage": {"usage"},
    "staff.cases_header": {"total"},
    "staff.cases_more": {"n"},
    "staff.case_line": {"age", "case_id", "handling", "severity", "step"},
    "staff.assigned_to": {"who"},
    "staff.former_staff": {"who"},
    "staff.case_summary": {
        "age",
        "case_id",
        "escalation",
        "handling",
        "items",
        "locale",
        "reasons",
        "reminders",
        "via",
        "severity",
        "status",
        "step",
    },
    "staff.status_resolved": {"at", "who"},
    "staff.escalation_open": {"age", "level"},
    "staff.escalation_acknowledged": {"at", "who"},
    "staff.escalation_resolved": {"at", "who"},
    "staff.notes_header": {"total"},
    "staff.note_line": {"at", "text", "who"},
    "staff.noted": {"case_id"},
    "staff.assigned": {"by", "case_id", "who"},
    "staff.assign_unknown": {"handle"},
    "staff.resolve_already": {"at", "case_id", "who"},
    "staff.held": {"case_id"},
    "staff.released": {"case_id"},
    "staff.hold_refused": {"case_id", "error"},
    "staff.custody_header": {"case_id", "total"},
    "staff.custody_line": {"action", "actor", "at", "reason"},
    "talk.victim_started": {"name"},
    "talk.from_staff": {"name", "text"},
    "talk.victim_ended_by_staff": {"name"},
    "talk.victim_ended_by_you": {"name"},
    "talk.victim_unanswered": {"contacts", "name"},
    "talk.victim_off_hours": {"contacts", "hours", "name"},
    "talk.hours": {"days", "end", "start", "zone"},
    "talk.hours_all_day": {"days"},
    "talk.dm_started": {"case_id", "locale", "name"},
    "talk.thread_started": {"case_id", "name", "who"},
    "talk.relayed": {"case_id", "text"},
    "talk.relayed_evidence": {"case_id"},
    "talk.taken": {"case_id", "name", "who"},
    "talk.held_by": {"at", "case_id", "who"},
    "talk.not_holding": {"case_id", "who"},
    "talk.closed_case": {"case_id"},
    "talk.which_case": {"cases"},
    "talk.sent": {"case_id"},
    "talk.ended": {"case_id", "why"},
    "talk.why_released": {"who"},
    "talk.why_resolved": {"who"},
    "talk.why_handed": {"who"},
    "talk.unanswered": {"case_id", "span", "who"},
    "talk.nothing_to_release": {"case_id"},
    "talk.name_set": {"name"},
    "talk.name_now": {"name"},
    "talk.log_header": {"case_id", "masking", "total"},
    "talk.log_line": {"at", "text", "who"},
    "talk.log_none": {"case_id"},
    "talk.log_erased": {"case_id"},
    "staff.alert_victim_closed": {"at"},
    "custody.other": {"action"},
    "custody.line": {"action", "actor", "at", "item", "reason"},
    "custody.item": {"item_no"},
    "staff.custody_none": {"case_id"},
    "staff.hold_already": {"case_id"},
    "staff.hold_none": {"case_id"},
    "briefing.title": {"at"},
    "briefing.title_late": {"at", "due"},
    "briefing.title_now": {"at"},
    "briefing.new_cases": {"n"},
    "briefing.open_header": {"n"},
    "briefing.open_line": {"n", "severity", "step"},
    "briefing.overdue": {"n"},
    "briefing.unacknowledged": {"n"},
    "briefing.evidence_added": {"n"},
    "briefing.reminders_sent": {"n"},
    "briefing.dead_letters": {"n"},
    "briefing.retention": {"days", "n"},
    "briefing.tree_head": {"root", "size"},
    "briefing.timestamps_waiting": {"n"},
    "retrieval.requested": {"case_id", "end", "expires", "id", "start", "who"},
    "retrieval.approved": {"expires", "id", "who"},
    "retrieval.denied": {"id"},
    "retrieval.delivered": {"case_id", "id", "items"},
    "retrieval.failed": {"error", "id"},
    "retrieval.fetching": {"id"},
    "retrieval.unknown": {"id"},
    "retrieval.own_request": {"id"},
    "retrieval.not_yours": {"id"},
    "retrieval.expired": {"id"},
    "retrieval.already": {"id", "state"},
    "ui.staff_on_it": set(),
    "evidence.receipt": {"item_no", "described"},
    "evidence.details": {
        "item_no",
        "received_utc",
        "received_local",
        "timezone",
        "digest",
        "log_index",
        "tree_size",
        "root",
    },
    "evidence.duplicate": set(),
    "evidence.too_large": {"size", "limit"},
    "evidence.case_full": {"used", "size", "limit"},
    "evidence.list_header": {"count", "total"},
    "evidence.list_item": {"item_no", "described", "size"},
    "evidence.list_item_named": {"item_no", "described", "name", "size"},
    "evidence.list_more": {"count"},
    "evidence.list_contradicted": {"item_no"},
    "memo.usage": {"example"},
    "memo.kept": {"note_no", "when"},
    "memo.kept_written": {"note_no", "when", "example"},
    "memo.kept_day_assumed": {"note_no", "when", "example"},
    "memo.unclear": {"words", "example"},
    "memo.linked": {"items"},
    "memo.too_long": {"limit"},
    "timeline.header": {"count", "timezone"},
    "timeline.mark_means": {"mark", "meaning"},
    "timeline.more": {"count"},
    "timeline.item": {"item_no", "kind"},
    "timeline.item_from": {"item_no", "kind", "sender"},
    "timeline.in_chat": {"chat"},
    "timeline.edit": {"item_no", "edit_of"},
    "timeline.note": {"note_no", "text"},
    "timeline.note_items": {"items"},
    "timeline.step_done": {"title"},
    "timeline.reminder_done": {"title"},
    "timeline.reminder_dismissed": {"title"},
    "timeline.deleted": {"item_no"},
    "timeline.gap": {"duration"},
    "search.help": {"example"},
    "search.results": {"count"},
    "search.more": {"count"},
    "search.pictures": {"count"},
    "search.media": {"count"},
    "search.unreadable": {"count"},
    "search.too_long": {"limit"},
    "search.too_many_words": {"limit"},
    "search.empty_filter": {"filter"},
    "search.bad_date": {"value"},
    "search.bad_kind": {"value", "kinds"},
}

# Deadlines from shared/response-playbook.md (defaults; a deployment may change them).
EXPECTED_DEADLINES = {
    "forward_evidence": "30m",
    "preservation_request": "24h",
    "report_content": "72h",
    "report_content_minor": "72h",
    "complaint_written": "3d",
    "complaint_no_answer": "15wd",
    "police_report": "24h,7d",
    "lawsuit_injunction": "7d",
    "watch_respread": "3d,7d,15wd",
}

# Numbers from legal-reference.md's "Emergency numbers (mainland China)" row; no others.
ALLOWED_NUMBERS = frozenset({"110", "120", "12377", "12348"})

HAND_WRITTEN_ARTICLE = (
    re.compile(r"\bart\.\s*\d", re.IGNORECASE),
    re.compile(r"\bArticle\s+\d", re.IGNORECASE),
    re.compile(r"第[0-9一二三四五六七八九十百千零〇两]+条"),
    re.compile(r"[§¶]"),
)
STATISTICS_OR_MONEY = re.compile(
    r"[%％‰¥￥$]|元|百分之|成功率|\bRMB\b|\bCNY\b|\byuan\b|success rate|on average",
    re.IGNORECASE,
)
# What only makes sense in mainland China: PRC law, its citations and its service numbers.
PRC_ONLY = re.compile(
    r"\[\[|《|人民法院|people's court|Public Security Administration"
    r"|(?<!\d)(?:110|120|12377|12348)(?!\d)",
    re.IGNORECASE,
)
# Texts that may stay CN-specific although every deployment shows them: the CN disclaimer
# (the engine shows not_legal_advice_general elsewhere).
CN_ONLY_KEYS = frozenset({"ui.not_legal_advice"})


@pytest.fixture(scope="module")
def playbook() -> Playbook:
    return load_playbook()


def texts_of(playbook: Playbook, locale: str) -> dict[str, str]:
    return {key: playbook.texts.raw(locale, key) for key in playbook.texts.keys(locale)}


def all_texts(playbook: Playbook) -> Iterator[tuple[str, str, str]]:
    for locale in LOCALES:
        for key, text in sorted(texts_of(playbook, locale).items()):
            yield locale, key, text


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def without_placeholders(text: str) -> str:
    return re.sub(r"\{[a-z_]*\}", " ", text)


def referenced_keys(playbook: Playbook) -> set[str]:
    """Every text key that playbook.toml and signals.toml make the engine look up."""
    keys: set[str] = set()
    for question in playbook.questions:
        keys.add(f"question.{question.id}.prompt")
        keys.add(f"question.{question.id}.short")
        if question.needs_words:
            keys.add(f"question.{question.id}.needs_words")
        keys.update(f"question.{question.id}.answer.{answer}" for answer in question.answers)
        for effect in question.effects:
            keys.update(f"notice.{notice}" for notice in effect.notices)
            if effect.reason:
                keys.add(f"reason.{effect.reason}")
    for step in playbook.steps:
        keys.update({f"step.{step.number}.title", f"step.{step.number}.intro"})
        for item in step.items:
            keys.update(f"item.{item.id}.{part}" for part in ("title", "body", "why"))
            if item.draft:
                keys.add(f"item.{item.id}.draft")
            if item.draft_by:
                answers = playbook.question(item.draft_by).answers
                keys.update(f"item.{item.id}.draft_where.{answer}" for answer in answers)
    for signal in playbook.signals:
        keys.update({f"signal.{signal.id}.reply", f"reason.signal_{signal.id}"})
        # The direct question, its answers, and the staff's words when it goes unanswered.
        keys.update(f"signal.{signal.id}.{key}" for key in ("ask", "no", "skip"))
        keys.update(
            {
                f"reason.unanswered_{signal.id}",
                f"reason.declined_{signal.id}",
                f"reason.unsure_{signal.id}",
                f"reason.after_no_{signal.id}",
            }
        )
        if signal.in_forwarded:
            keys.add(f"signal.{signal.id}.forwarded_reply")
    keys.add("reason.asked_for_person")
    keys.update(f"severity.{level}" for level in Severity)
    return keys


# ---- loading and completeness ------------------------------------------------------------


def test_content_loads(playbook: Playbook) -> None:
    assert playbook.questions and playbook.signals and playbook.citations
    assert [step.number for step in playbook.steps] == [1, 2, 3]
    assert [step.id for step in playbook.steps] == ["preserve", "legal", "recover"]


def test_every_locale_has_the_same_keys(playbook: Playbook) -> None:
    reference = playbook.texts.keys(LOCALES[0])
    for locale in LOCALES[1:]:
        keys = playbook.texts.keys(locale)
        assert keys == reference, (
            f"only in {LOCALES[0]}: {sorted(reference - keys)}; "
            f"only in {locale}: {sorted(keys - reference)}"
        )


def test_required_and_referenced_keys_exist(playbook: Playbook) -> None:
    wanted = REQUIRED_KEYS | referenced_keys(playbook)
    for locale in LOCALES:
        missing = wanted - playbook.texts.keys(locale)
        assert not missing, f"{locale}.toml lacks {sorted(missing)}"
        empty = [key for key in wanted if not playbook.texts.raw(locale, key).strip()]
        assert not empty, f"{locale}.toml has empty texts: {sorted(empty)}"


def test_no_stray_keys_in_the_playbook_namespaces(playbook: Playbook) -> None:
    """A misspelt item or question id would leave its real key missing and this one unused."""
    known = (
        referenced_keys(playbook)
        | CODE_REASON_KEYS
        | {f"item.{item.id}.body_general" for step in playbook.steps for item in step.items}
    )
    derived = ("question.", "item.", "step.", "notice.", "reason.", "signal.", "severity.")
    for locale in LOCALES:
        stray = {
            key
            for key in playbook.texts.keys(locale)
            if key.startswith(derived) and key not in known
        }
        assert not stray, f"{locale}.toml: keys nothing refers to: {sorted(stray)}"


def test_text_questions_have_no_answer_labels(playbook: Playbook) -> None:
    for question in playbook.questions:
        if question.kind == "text":
            assert not question.answers
            prefix = f"question.{question.id}.answer."
            assert not any(k.startswith(prefix) for k in playbook.texts.keys("en"))


def test_placeholders_are_the_same_in_every_locale_and_what_the_engine_passes(
    playbook: Playbook,
) -> None:
    for key in playbook.texts.keys(LOCALES[0]):
        per_locale = {locale: fields(playbook.texts.raw(locale, key)) for locale in LOCALES}
        assert len({frozenset(f) for f in per_locale.values()}) == 1, f"{key}: {per_locale}"
        assert per_locale[LOCALES[0]] == EXPECTED_FIELDS.get(key, set()), key


def test_every_text_renders(playbook: Playbook) -> None:
    for locale, key, _ in all_texts(playbook):
        wanted = EXPECTED_FIELDS.get(key, set())
        rendered = playbook.texts.get(locale, key, **{name: "X" for name in wanted})
        assert "[[" not in rendered and "{" not in rendered and "}" not in rendered, key


def test_language_names_are_in_their_own_language(playbook: Playbook) -> None:
    assert playbook.texts.raw("zh-CN", "meta.language_name") == "中文"
    assert playbook.texts.raw("en", "meta.language_name") == "English"


def test_help_lists_exactly_the_commands_that_exist(playbook: Playbook) -> None:
    for locale in LOCALES:
        listed = set(re.findall(r"/([a-z]+)", playbook.texts.raw(locale, "ui.help")))
        assert listed == set(CASE_COMMANDS), locale


def test_privacy_notice_says_what_how_long_who_and_how_to_leave(playbook: Playbook) -> None:
    for locale in LOCALES:
        notice = playbook.texts.raw(locale, "ui.privacy_notice")
        for command in ("/export", "/erase", "/stop"):
            assert command in notice, (locale, command)


# ---- legal citations ---------------------------------------------------------------------


def reference_rows() -> list[tuple[str, str, str]]:
    """(source as written, source with "same" resolved, status) for each table row."""
    if not LEGAL_REFERENCE.is_file():
        pytest.skip(f"{LEGAL_REFERENCE} is absent: citation sources cannot be checked")
    rows: list[tuple[str, str, str]] = []
    law = ""
    for line in LEGAL_REFERENCE.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        source = cells[0]
        if len(cells) < 4 or source == "source" or set(source) <= set("-: "):
            continue
        if source.startswith("same,"):
            resolved = f"{law} {source.removeprefix('same,').strip()}"
        else:
            resolved = source
            law = re.sub(r"\s+art\..*$", "", source)
        rows.append((source, resolved, cells[-1]))
    return rows


def test_every_citation_has_a_settled_source_in_the_legal_reference(
    playbook: Playbook,
) -> None:
    rows = {source: (resolved, status) for source, resolved, status in reference_rows()}
    for citation in playbook.citations.values():
        assert citation.source in rows, f"{citation.id}: no row {citation.source!r}"
        resolved, status = rows[citation.source]
        assert "verify" not in status.lower(), f"{citation.id}: row is marked verify"
        assert not re.search(r"(PIPL|Personal Information Protection Law).*art\.\s*39\b", resolved)
        article = re.search(r"art\.\s*(\d+)", resolved)
        assert article is not None, resolved
        for locale in LOCALES:
            assert article.group(1) in citation.names[locale], (citation.id, locale)
        assert re.fullmatch(r"《[^》]+》第.+", citation.names["zh-CN"]), citation.id
        assert re.search(r", arts?\. \d", citation.names["en"]), citation.id


def test_pipl_article_39_is_never_cited(playbook: Playbook) -> None:
    for citation in playbook.citations.values():
        assert not (
            "个人信息保护法》第39条" in citation.names["zh-CN"]
            or re.search(r"Personal Information Protection Law, arts?\. 39\b", citation.names["en"])
        ), citation.id


def test_citation_tokens_in_item_texts_match_the_items_cites(playbook: Playbook) -> None:
    cited = set()
    for step in playbook.steps:
        for item in step.items:
            cited.update(item.cites)
            for locale in LOCALES:
                prefix = f"item.{item.id}."
                used = {
                    token
                    for key in playbook.texts.keys(locale)
                    if key.startswith(prefix)
                    for token in citation_tokens(playbook.texts.raw(locale, key))
                }
                assert used == set(item.cites), (item.id, locale, used, item.cites)
    assert cited == set(playbook.citations), "citations no item uses: " + ", ".join(
        sorted(set(playbook.citations) - cited)
    )


def test_citation_tokens_appear_only_in_item_bodies(playbook: Playbook) -> None:
    """Titles, `why` texts and body_general are shown outside mainland China too."""
    for locale, key, text in all_texts(playbook):
        if citation_tokens(text):
            assert key.startswith("item.") and key.endswith(".body"), (locale, key)


def test_no_hand_written_article_references(playbook: Playbook) -> None:
    for locale, key, text in all_texts(playbook):
        for pattern in HAND_WRITTEN_ARTICLE:
            assert not pattern.search(text), (locale, key, pattern.pattern)


def test_no_invented_phone_numbers(playbook: Playbook) -> None:
    """Any number of 3+ digits is a phone number or a service code, and only four are allowed.

    Digit groups joined by spaces, dots or dashes count as one ("400-820-8820"). Durations
    and retention periods are placeholders, so content has no other use for such numbers;
    numbers of other countries (911, 999, 112) come from the deployment's configuration.
    """
    for locale, key, text in all_texts(playbook):
        plain = unicodedata.normalize("NFKC", without_placeholders(text))
        plain = re.sub(r"\[\[[a-z0-9_]+\]\]", " ", plain)
        plain = plain.replace("SHA-256", " ")  # the name of a hash function, not a number
        for group in re.findall(r"\d(?:[\d \-.]*\d)?", plain):
            number = re.sub(r"\D", "", group)
            assert len(number) < 3 or number in ALLOWED_NUMBERS, (locale, key, group)


def test_no_statistics_or_prices(playbook: Playbook) -> None:
    for locale, key, text in all_texts(playbook):
        assert not STATISTICS_OR_MONEY.search(text), (locale, key)


def test_prc_only_content_has_a_general_variant(playbook: Playbook) -> None:
    """Outside mainland China a body mentioning PRC law or its numbers is replaced."""
    for step in playbook.steps:
        for item in step.items:
            for locale in LOCALES:
                body = playbook.texts.raw(locale, f"item.{item.id}.body")
                general = f"item.{item.id}.body_general"
                if PRC_ONLY.search(body):
                    assert playbook.texts.has(locale, general), (item.id, locale)


def test_texts_shown_everywhere_carry_no_prc_law_or_numbers(playbook: Playbook) -> None:
    for locale, key, text in all_texts(playbook):
        cn_only = key in CN_ONLY_KEYS or (key.startswith("item.") and key.endswith(".body"))
        if not cn_only:
            assert not PRC_ONLY.search(text), (locale, key)


def test_legal_screens_and_escalation_wording(playbook: Playbook) -> None:
    assert "12348" in playbook.texts.raw("zh-CN", "ui.not_legal_advice")
    assert "12348" in playbook.texts.raw("en", "ui.not_legal_advice")
    evidence = playbook.texts.raw("en", "item.evidence_value.body")
    assert "not a notary" in evidence
    assert "不是公证机构" in playbook.texts.raw("zh-CN", "item.evidence_value.body")


# ---- danger signals ----------------------------------------------------------------------

DETECTED = [
    ("self_harm", "我真的不想活了"),
    ("self_harm", "我 想 死"),
    ("self_harm", "活不下去了，怎么办"),
    ("self_harm", "我想结束生命"),
    ("self_harm", "我快撑不下去了"),
    ("self_harm", "有时候觉得死了算了"),
    ("self_harm", "我真的很想自殺"),
    ("self_harm", "I want to kill myself"),
    ("self_harm", "I don't want to live anymore"),
    ("self_harm", "I've been thinking about suicide."),
    ("self_harm", "i just want to die"),
    ("self_harm", "my brother says he wants to die"),
    ("self_harm", "she keeps talking about killing herself"),
    ("self_harm", "he mentioned killing himself last night"),
    ("self_harm", "my friends were joking about killing themselves but I'm not"),
    ("self_harm", "can I still complain if I'm in hospital after the overdose"),
    ("self_harm", "my cousin said she'd hang herself if the video went round her school"),
    ("self_harm", "we found out he had tried to hang himself in March"),
    ("self_harm", "ta shuo ta bu xiang huo le"),
    ("self_harm", "wo kuai huo bu xia qu le"),
    ("self_harm", "有时候真想一口气喝农药算了"),
    ("self_harm", "I keep thinking about taking poison when everyone's asleep"),
    ("self_harm", "ＫＩＬＬ ＭＹＳＥＬＦ"),
    ("threat", "他说要杀了我"),
    ("threat", "他喝多了说要砍我"),
    ("threat", "他上次就拿刀捅我"),
    ("threat", "他发消息：我知道你住哪"),
    ("threat", "对方说要找人打你"),
    ("threat", "他说要弄死你全家"),
    ("threat", "I'll kill you if you tell anyone"),
    ("threat", "He wrote: I know where you live."),
    ("threat", "he threatened to kill me"),
    ("extortion", "不给钱就发到你们公司群"),
    ("extortion", "他要我转账五千，不然就发出去"),
    ("extortion", "他们向我要封口费"),
    ("extortion", "对方让我给钱才删照片"),
    ("extortion", "Pay me or I'll post the screenshots"),
    ("extortion", "send money or I'll share everything with your boss"),
    ("extortion", "this is blackmail"),
    # phrases added with the classifier (issue 15); traditional characters fold to simplified
    ("self_harm", "我不活了"),
    ("self_harm", "我怕我會做傻事"),
    ("self_harm", "我已經寫好遺書了"),
    ("self_harm", "想从楼顶跳下去"),
    ("self_harm", "I don't want to be here anymore"),
    ("self_harm", "everyone would be better off without me"),
    ("self_harm", "thinking about unaliving myself"),
    ("self_harm", "I've been cutting myself again"),
    ("self_harm", "他要是敢发，我就死给他看"),
    ("self_harm", "安眠药吃多少是致死量"),
    ("self_harm", "宿舍要从几楼跳下去才行"),
    ("self_harm", "照片都传开了，我也没必要活着了"),
    ("self_harm", "我真的不想看到明天了"),
    ("self_harm", "我只能用命去换一个说法"),
    ("self_harm", "我已经写好遗言了"),
    ("self_harm", "honestly nobody would miss me"),
    ("self_harm", "what's the lethal dose of sertraline"),
    ("self_harm", "I've been hoarding my meds"),
    ("self_harm", "having su1cidal thoughts again"),
    ("self_harm", "i think about sucide every day"),
    ("self_harm", "i want 2 die, i want2die"),
    ("self_harm", "我还是消失比较好"),
    ("self_harm", "大家都讨厌我，我消失最好"),
    ("self_harm", "thinking about suiside"),
    ("self_harm", "having suicde thoughts"),
    ("threat", "我这两天收到好几条死亡威胁"),
    ("threat", "他发来一句：等着收尸吧"),
    ("threat", "他说想活命就别去作证"),
    ("threat", "下班路上我被人尾随了"),
    ("threat", "I got a death threat in my inbox"),
    ("threat", "he wrote he'll put you in the ground"),
    ("threat", "I'm honestly afraid for my life"),
    ("threat", "I think my life is in danger"),
    ("extortion", "他说给五千删除费就删"),
    ("extortion", "他说没钱就用身体还"),
    ("extortion", "对方说破财免灾，让我转账"),
    ("extortion", "我被人勒所了怎么办"),
    ("extortion", "被lesuo了"),
    ("extortion", "he called it a deletion fee"),
    ("extortion", "im being qiaozha'd"),
    ("minor", "我还在上初中，照片被传了"),
    ("minor", "I'm in year 10 and it's all over school"),
    ("minor", "i'm in 8th grade, what do i do"),
    ("threat", "He is waiting outside my school"),
    ("threat", "他在我學校門口等我"),
    ("threat", "he said he'd kill me if I went to the police"),
    ("extortion", "he'll send it to my boss unless I pay"),
    ("extortion", "He said he'll send the photos to my school"),
    ("extortion", "他要我转钱，不转就发给我爸妈"),
    ("minor", "我还没成年"),
    ("minor", "I'm 15, I'm underage"),
    # threats and demands as people retell them
    ("threat", "他说我敢去法院就让我好看"),
    ("threat", "那人一直跟着我回家"),
    ("threat", "他說要打斷我的腿"),
    ("threat", "he says he's coming to find me this weekend"),
    ("threat", "he said he's going to hurt me if I testify"),
    ("threat", "he told me to sleep with one eye open"),
    ("extortion", "他说不给两万不然就公开视频"),
    ("extortion", "“钱今晚到，你知道后果”"),
    ("extortion", "he wants 500 or he posts the video"),
]

ORDINARY = [
    "请帮我保存证据",
    "我不知道该怎么办，请帮帮我",
    "笑死我了",
    "累死了，今天太忙",
    "这是聊天记录和转账记录",
    "我给钱包拍了照",
    "商场在搞跳楼价大甩卖",
    "你们会跟踪我的案件进度吗",
    "平台不理我，不然就发邮件投诉吧",
    "他们不给我回复",
    "the meeting killed my afternoon",
    "the skill you need is patience",
    "it will hurt your chances",
    "I can't go online right now",
    "I don't want to spend it all",
    "my mom is going to kill me when she finds out",
    "thank you, this helps",
    "我想跳槽了",
    "我一直在划手机",
    "他送了我一把紫砂壶",
    "I can't go on holiday this year",
    "I took a sleeping pill and slept well",
    "my friend is waiting outside for me",
    "没有人未成年，我们都是大人",
    "我姐说我再穿她衣服就弄死我",
    "我妈在楼下等我",
    "he has my address from when we lived together",
    "I'd like to know what happens next",
    "我没有想过自杀",
    "nobody asked me for money",
    "这钱是我爸用命换来的",
    "这种人不会有明天",
    "爷爷走之前留下几句话",
    "the dose on the box says two tablets",
    "我是初中生的时候认识他的，现在都工作了",
    "我九年级的时候转过学",
    "I was in year 10 when we met, that's years ago",
    "I'm in year two of my PhD",
    "the hotel charged a deletion of booking fee",
    "我希望这些照片消失",
    "他突然消失了，不回消息",
    "帖子最后还是消失了",
    "I want these photos to disappear",
    # idioms that hold a phrase
    "哈哈哈哈笑不活了，他把自己的聊天记录也发错群了",
    "哈哈，笑不活了",  # a pause before the idiom does not cut it
    "He basically committed social suicide by posting that",
    "posting my screenshots was career suicide for him",
    "I was killing myself laughing at the memes about it",
    "I kill myself laughing every time I read his reply",
]


@pytest.fixture(scope="module")
def detector(playbook: Playbook) -> SignalDetector:
    return SignalDetector(playbook.signals)


@pytest.mark.parametrize(("signal_id", "text"), DETECTED)
def test_danger_signals_are_noticed(detector: SignalDetector, signal_id: str, text: str) -> None:
    assert signal_id in {signal.id for signal in detector.detect(text)}


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_sentences_raise_no_alarm(detector: SignalDetector, text: str) -> None:
    assert detector.detect(text) == ()


def test_missing_you_idiom_is_an_accepted_false_alarm(detector: SignalDetector) -> None:
    """ "我想死你了" means "I miss you so much", yet "想死" must stay on the self-harm list.

    Self-harm errs on the side of sensitivity: to someone who meant the idiom, a kind word
    and a person's attention cost little; missing "我想死" could cost a life.
    """
    assert {signal.id for signal in detector.detect("我想死你了")} == {"self_harm"}


@pytest.mark.parametrize(
    "text",
    [
        "笑不活了，说真的我不想活了",  # the phrase again, outside the idiom
        "career suicide? no, I keep thinking about suicide, the real thing",
        "killing myself laughing? no. I keep thinking about killing myself",
        "我笑，不活了",  # a pause cuts the idiom: these are the words themselves
        "我真的不活了，不是笑不活了",  # the phrase first, the idiom after
        "笑不活了不想活了",  # the phrase right after the idiom
        "笑不活了？我是真的不活了，不是笑不活了",  # between two idioms
    ],
)
def test_a_phrase_outside_an_idiom_still_counts(detector: SignalDetector, text: str) -> None:
    assert {signal.id for signal in detector.detect(text)} == {"self_harm"}


def test_every_idiom_holds_a_phrase_of_its_signal(playbook: Playbook) -> None:
    """An idiom that holds none of its signal's phrases would mask nothing: a typo."""
    for signal in playbook.signals:
        phrases = [normalise(phrase) for phrase in signal.phrases]
        for idiom in signal.idioms:
            assert any(p in normalise(idiom) for p in phrases), (signal.id, idiom)


def test_signals_are_configured_as_the_playbook_says(playbook: Playbook) -> None:
    signals = {signal.id: signal for signal in playbook.signals}
    assert set(signals) == {"self_harm", "threat", "extortion", "minor"}
    for signal in signals.values():
        assert signal.severity is Severity.CRITICAL and signal.escalate, signal.id
    assert signals["self_harm"].support_now
    # Someone else's words are read for what they do to the person, not as a cry for help.
    assert {s.id for s in signals.values() if s.in_forwarded} == {"threat", "extortion"}
    for locale in LOCALES:
        for signal_id in signals:
            assert playbook.texts.raw(locale, f"signal.{signal_id}.reply").strip()
    # A minor in free text is the triage answer "under 18: yes", with its checklist variant.
    assert signals["minor"].answers == ("minor", "yes")
    assert signals["minor"].known_by == ("minor",)
    assert signals["threat"].known_by == ("safety_threat",)


def test_signal_phrases_are_in_both_languages_distinct_and_not_too_short(
    playbook: Playbook,
) -> None:
    for signal in playbook.signals:
        folded = [normalise(phrase) for phrase in signal.phrases]
        duplicates = {p for p in folded if folded.count(p) > 1}
        assert not duplicates, (signal.id, duplicates)
        han = [p for p in folded if re.search(r"[\u4e00-\u9fff]", p)]
        latin = [p for p in folded if p.isascii()]
        assert han and latin, f"{signal.id} needs Chinese and English phrases"
        assert len(han) + len(latin) == len(folded), signal.id
        assert all(len(p) >= 2 for p in han), signal.id
        assert all(len(p) >= 6 for p in latin), signal.id


# ---- triage and checklists ---------------------------------------------------------------


def answer_combinations(playbook: Playbook) -> Iterator[dict[str, tuple[str, ...]]]:
    """Every way to answer with one answer per question (text questions skipped)."""

    def walk(index: int, answers: dict[str, tuple[str, ...]]) -> Iterator[dict]:
        if index == len(playbook.questions):
            yield answers
            return
        question = playbook.questions[index]
        current = tags(answers, "CN", Severity.NORMAL)
        if not question.applies(current):
            yield from walk(index + 1, answers)
            return
        choices = [()] if question.kind == "text" else [(a,) for a in question.answers]
        for chosen in choices:
            yield from walk(index + 1, {**answers, question.id: chosen})

    yield from walk(0, {})


def case_tags(playbook: Playbook, answers: dict[str, tuple[str, ...]]) -> frozenset[str]:
    severity = severity_of(playbook, reasons_from_answers(playbook, answers))
    return tags(answers, "CN", severity)


def test_every_answer_combination_gives_every_step_a_checklist(playbook: Playbook) -> None:
    combinations = list(answer_combinations(playbook))
    assert len(combinations) > 1000
    for answers in combinations:
        found = case_tags(playbook, answers)
        for step in playbook.steps:
            items = [item.id for item in step.checklist(found)]
            assert items, (step.number, answers)
            firsts = [item.comes_first(found) for item in step.checklist(found)]
            assert firsts == sorted(firsts, reverse=True), (step.number, answers)
        _check_step_one(playbook, answers, found)
        _check_step_two(playbook, answers, found)


def _check_step_one(
    playbook: Playbook, answers: dict[str, tuple[str, ...]], found: frozenset[str]
) -> None:
    items = [item.id for item in playbook.step(1).checklist(found)]
    leaked, spread, source = answers["leaked"], answers["spread"], answers["source"]
    minor = answers["minor"] == ("yes",)
    assert "forward_evidence" in items
    assert ("contact_bank" in items) == ("id_bank" in leaked)
    assert ("preservation_request" in items) == (source[0] in ("hotel", "platform", "workplace"))
    # With a minor, nothing asks the person to copy images: each such item has a variant.
    report = "report_content_minor" if minor else "report_content"
    assert report in items and ("minor_no_copies" in items) == minor
    if minor:
        assert not {"screen_record", "report_content"} & set(items), answers
    first = ["minor_no_copies"] if minor else []
    if "id_bank" in leaked:
        first += ["secure_accounts", "contact_bank"]
    if spread == ("public",):
        first.append(report)
    assert items[: len(first) or 1] == (first or ["forward_evidence"]), answers


def _check_step_two(
    playbook: Playbook, answers: dict[str, tuple[str, ...]], found: frozenset[str]
) -> None:
    items = [item.id for item in playbook.step(2).checklist(found)]
    path = answers["path"][0]
    assert "evidence_value" in items
    assert all(item.startswith((path, "evidence_value")) for item in items), answers
    assert ("police_extortion" in items) == (path == "police" and answers["extortion"] == ("yes",))
    assert ("police_id_data" in items) == (path == "police" and "id_bank" in answers["leaked"])
    venue = answers["source"][0] in ("hotel", "platform", "workplace")
    assert ("complaint_breach_notice" in items) == (path == "complaint" and venue)


def test_step_two_is_a_choice_with_a_recommendation_per_severity(playbook: Playbook) -> None:
    step = playbook.step(2)
    assert step.choose == "path"
    assert step.recommend == {
        Severity.NORMAL: "complaint",
        Severity.HIGH: "police",
        Severity.CRITICAL: "police",
    }
    assert "path" not in {question.id for question in playbook.triage}


def test_deadlines_are_the_playbook_defaults(playbook: Playbook) -> None:
    deadlines = {
        item.id: item.deadline for step in playbook.steps for item in step.items if item.deadline
    }
    assert deadlines == EXPECTED_DEADLINES
    for spec in deadlines.values():
        for part in spec.split(","):
            assert re.fullmatch(r"[1-9][0-9]*(m|h|d|wd)", part), spec


def test_only_safety_and_extortion_items_are_urgent(playbook: Playbook) -> None:
    for step in playbook.steps:
        for item in step.items:
            if item.urgent:
                conditions = item.if_all + item.if_any
                assert any(
                    c.startswith(("safety:", "safety_recheck:", "extortion:")) for c in conditions
                ), item.id
    assert playbook.item("police_extortion").urgent


def test_triage_effects_follow_the_playbook(playbook: Playbook) -> None:
    def effect(question_id: str, answer: str) -> tuple[Severity | None, str, bool]:
        (found,) = playbook.question(question_id).effects_of(answer)
        return found.severity, found.reason, found.escalate

    for question_id in ("safety", "safety_recheck"):
        assert effect(question_id, "yes") == (Severity.CRITICAL, "safety_threat", True)
        assert effect(question_id, "not_sure") == (Severity.HIGH, "safety_unclear", True)
        assert not playbook.question(question_id).effects_of("no")
    assert effect("extortion", "yes") == (Severity.CRITICAL, "extortion", True)
    assert effect("minor", "yes") == (Severity.CRITICAL, "minor", True)
    assert effect("spread", "group_chats") == (Severity.HIGH, "group_spread", True)
    assert effect("spread", "public") == (Severity.HIGH, "public_spread", True)
    assert effect("leaked", "intimate") == (Severity.HIGH, "intimate_images", True)
    assert effect("leaked", "id_bank") == (None, "id_bank", False)
    assert playbook.question("safety_recheck").ask_if == ("leaked:address",)
    assert playbook.question("extortion_amount").ask_if == ("extortion:yes",)
    assert playbook.question("leaked").multi


def test_the_notarisation_handoff_says_what_to_bring_in_both_languages(
    playbook: Playbook,
) -> None:
    """Issue 19: how to take the phone and the bundle to a notary office, from the
    reference rows (notarised preservation; SPC evidence provisions arts. 93-94)."""
    wanted = {
        "en": ("notary office", "evidence-preservation notarisation", "your ID", "(/export)"),
        "zh-CN": ("公证处", "证据保全公证", "身份证件", "（/export）"),
    }
    for locale, phrases in wanted.items():
        body = playbook.texts.raw(locale, "item.evidence_value.body")
        assert all(phrase in body for phrase in phrases), locale
        assert "/report" in body and "[[spc_evidence_93_94]]" in body
        general = playbook.texts.raw(locale, "item.evidence_value.body_general")
        assert "/export" in general and "[[" not in general
