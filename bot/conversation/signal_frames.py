"""Messages that talk about a danger signal's words instead of telling of one.

A curated phrase is precise about what was said, not about why it was said: "what is the
penalty for sextortion?", "a documentary about suicide prevention", "he keeps typing
'I'll kill you' in Among Us". Such a message still gets the direct question — in a
victims' helpline the person asking about the law is most often the one it is happening
to — but not the crisis reply on the phrase alone; the classifier may still find the
words clear by themselves (signals.py).

Two frames, kept narrow on purpose (a word that could as well be part of a report, such
as "film" or 报道, is left out):

- a question about the law or about what a word means;
- a film, a programme, a piece of writing or schoolwork, or a game.
"""

from __future__ import annotations

import re

_LAW_EN = re.compile(
    r"\b(penalt(y|ies)|sentenc(e|ed|es|ing)|punish(ment|able)?|jail|prison|how many years"
    r"|a crime|criminal|offen[cs]e|illegal|against the law|legal(ly)?|the law|definition"
    r"|define|difference between|counts? as|considered|prosecut\w*|charged with)\b",
    re.IGNORECASE,
)
_QUESTION_EN = re.compile(
    r"\?|^\s*(what|how|is|are|can|could|does|do|would|will|should|when|why|which)\b",
    re.IGNORECASE,
)
_LAW_ZH = re.compile(
    r"量刑|判几年|判多久|怎么判|判刑|罪名|什么罪|犯法|违法|算不算|构成|定罪|法律上|立案标准|定义|区别|一样吗|刑法"
)
_QUESTION_ZH = re.compile(r"[?？]|吗|呢|怎么|如何|多少|几年|什么")
_TOLD_OF_EN = re.compile(
    r"\b(documentar(y|ies)|docuseries|podcast|netflix|movie|tv show|article|thesis"
    r"|dissertation|assignment|lecture|textbook|novel|in the game|in-game|minecraft"
    r"|among us|fortnite|roblox|valorant)\b",
    re.IGNORECASE,
)
_TOLD_OF_ZH = re.compile(
    r"纪录片|电视剧|剧里|剧中|电影|新闻里|新闻上|论文|小说|游戏里|打游戏|狼人杀|王者荣耀|剧本杀"
)


def talks_about(text: str) -> bool:
    """Whether ``text`` asks about the law or a word, or tells of a film, a text or a game."""
    if _TOLD_OF_EN.search(text) or _TOLD_OF_ZH.search(text):
        return True
    if _LAW_EN.search(text) and _QUESTION_EN.search(text):
        return True
    return bool(_LAW_ZH.search(text) and _QUESTION_ZH.search(text))
