"""The segmenter's own cut gives exactly the words jieba's `lcut(HMM=False)` gives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.match import Engine
from bot.normalise import compact, normalise
from bot.segment import Segmenter


def _jieba(segmenter: Segmenter, text: str) -> list[str]:
    return list(segmenter._tokenizer.lcut(text, HMM=False))


def test_same_words_as_jieba_on_the_knowledge(segmenter: Segmenter, engine: Engine) -> None:
    texts = [article.text for article in engine.knowledge.articles.values()]
    for entry in engine.knowledge.entries:
        texts += [*entry.questions, entry.answer, *(p.text for p in entry.passages)]
    mismatched = [
        form
        for text in texts
        for form in (text, normalise(text), compact(text))
        if segmenter.cut(form, keep_spaces=True) != _jieba(segmenter, form)
    ]
    assert not mismatched
    assert len(texts) > 4000


def test_user_words_stay_whole(segmenter: Segmenter, engine: Engine) -> None:
    # names the knowledge teaches the tokenizer at load time come out as one word
    words = segmenter.cut("陈晓主持王健讲话小上规")
    assert "陈晓" in words and "王健" in words


@settings(max_examples=400, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("作风建设大会区委书记陈晓王健ab Z9.#%-_\t\n，、😀")),
        max_size=40,
    )
)
def test_same_words_as_jieba_on_any_text(segmenter: Segmenter, text: str) -> None:
    assert segmenter.cut(text, keep_spaces=True) == _jieba(segmenter, text)
    assert segmenter.cut(text) == [w for w in _jieba(segmenter, text) if w.strip()]
