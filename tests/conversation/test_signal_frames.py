"""Which messages talk about a signal's words rather than tell of one (signal_frames.py)."""

from __future__ import annotations

import pytest

from bot.conversation.signal_frames import talks_about


@pytest.mark.parametrize(
    "text",
    [
        "what's the sentence for sextortion here?",
        "Is threatening to leak pics illegal if he never actually posts them",
        "what is the difference between extortion and harassment?",
        "勒索和敲诈在法律上有什么区别？",
        "这种情况构成敲诈勒索罪吗",
        "there's a podcast episode about blackmail scams I keep thinking about",
        "I'm reading a novel where the main character is suicidal",
        "他在游戏里一直喊要杀了我",
        "那部电影里女主被勒索了",
    ],
)
def test_questions_about_the_law_and_talk_of_films_texts_and_games(text: str) -> None:
    assert talks_about(text)


@pytest.mark.parametrize(
    "text",
    [
        "he said he'll kill me",
        "he filmed me without asking and now wants money",  # "film" could be the report
        "he threatened to go to the news unless I pay",
        "他说要找媒体报道，除非我给钱",
        "the law firm hasn't called me back",  # a law word, but no question
        "my lawyer said it's a criminal matter now.",
        "我想死",
        "是不是我做错了什么？",  # a question, but not about the law
    ],
)
def test_reports_and_other_questions_are_not_talk_about_words(text: str) -> None:
    assert not talks_about(text)
