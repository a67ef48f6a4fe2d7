"""The tokenizer against openai/CLIP's SimpleTokenizer, token for token."""

import hashlib
import random

import pytest
import torch

import photosort.clip as clip
from photosort.clip.tokenizer import VOCAB_FILE, default_tokenizer
from photosort.paths import resources_dir
from tests.reference import reference_tokenize, simple_tokenizer

VOCAB_SHA256 = "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a"

FIXED = [
    "", " ", "a photo of a dog", "A PHOTO OF A DOG!!!", "kids on a beach at sunset", "it's", "we'll've'd",
    "東京の夜景", "北京烤鸭和小笼包", "서울의 밤", "🐶🐱🦄", "👨‍👩‍👧‍👦 family", "🇯🇵 flag", "&amp;", "&amp;amp;lt;3",
    "&lt;b&gt;bold&lt;/b&gt;", "tab\there", "new\nline", "non\u00a0breaking", "zero\u200bwidth", "   padded   ",
    "café naïve Ærøskøbing", "Ｆｕｌｌｗｉｄｔｈ", "mojibake: Ã©tÃ©", "12345 678.9 3/4", "$100 & 50% off #sale",
    "<|startoftext|> inside", "ends with <|endoftext|>", "emoji🙂glued", "x" * 300, "supercalifragilistic",
    "Ελληνικά κείμενο", "русский текст", "עברית", "العربية", "हिन्दी", "ภาษาไทย", "\u0301 lone accent",
]
ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", " \t\n\u3000\u00a0",
    ".,;:!?'\"()[]{}<>/\\|@#$%^&*-_=+~`", "日本語の写真猫犬海山空", "中文照片猫狗海山天", "한국어사진고양이",
    "😀😂🥹🐶🐱🌅🏖️👶🎉❤️", "éèêëàâäôöûüçñßøå", "αβγδεζηθ", "абвгдежз",
]
WORDS = ["photo", "dog", "beach", "sunset", "kids", "snow", "mountain", "red", "car", "birthday", "cake",
         "wedding", "grandma", "don't", "it's", "&amp;", "&quot;", "&#39;", "<br>", "#tbt", "@home", "2019"]


def _corpus(size: int = 1200) -> list[str]:
    rng = random.Random(20261123)
    texts = list(FIXED)
    while len(texts) < size:
        kind = rng.random()
        if kind < 0.4:
            texts.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12))))
        elif kind < 0.9:
            pool = "".join(rng.sample(ALPHABETS, rng.randint(1, 4)))
            texts.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 60))))
        else:  # longer than the context: only truncation can take it
            texts.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(80, 200))))
    return texts


def test_vocabulary_file_is_the_original():
    digest = hashlib.sha256((resources_dir() / VOCAB_FILE).read_bytes()).hexdigest()
    assert digest == VOCAB_SHA256
    assert (resources_dir() / "bpe_simple_vocab_16e6.LICENSE").read_text().startswith("MIT License")


def test_vocabulary_layout():
    tokenizer = default_tokenizer()
    assert tokenizer.vocab_size == 49408
    assert (tokenizer.sot_token, tokenizer.eot_token) == (49406, 49407)


def test_corpus_matches_reference_token_for_token():
    corpus = _corpus()
    assert len(corpus) >= 1000
    ours, theirs = default_tokenizer(), simple_tokenizer()
    mismatches = [text for text in corpus if ours.encode(text) != theirs.encode(text)]
    assert mismatches == []
    assert torch.equal(clip.tokenize(corpus, truncate=True), reference_tokenize(corpus, truncate=True))


def test_tokenize_shape_and_padding():
    tokens = clip.tokenize(["a dog", "a cat on a mat"])
    assert tokens.shape == (2, 77) and tokens.dtype == torch.int32
    assert tokens[0, 0] == 49406 and tokens[0, 3] == 49407 and int(tokens[0, 4:].abs().sum()) == 0
    assert clip.tokenize("a dog").shape == (1, 77)


def test_too_long_raises_unless_truncated():
    text = "dog " * 100
    with pytest.raises(clip.TextTooLongError, match="context length 77"):
        clip.tokenize([text])
    tokens = clip.tokenize([text], truncate=True)
    assert tokens.shape == (1, 77) and tokens[0, -1] == 49407 and tokens[0, 0] == 49406


def test_shorter_context_length():
    tokens = clip.tokenize(["a photo of a dog"], context_length=16)
    assert tokens.shape == (1, 16)
    assert torch.equal(tokens, reference_tokenize(["a photo of a dog"], context_length=16))


def test_decode_round_trips_words():
    tokenizer = default_tokenizer()
    assert tokenizer.decode(tokenizer.encode("Kids on a Beach")).strip() == "kids on a beach"


def test_plain_text_is_cleaned_without_ftfy_as_ftfy_would(monkeypatch):
    """Printable ASCII without "&" skips ftfy (60 ms to import, a tenth of a search): the result must be what
    ftfy would have made of it, whitespace, control codes and HTML included."""
    from photosort.clip import tokenizer

    rng = random.Random(3)
    alphabet = "abcXYZ019 \t\n\r.,;:!?'\"()[]{}<>/\\|@#$%^*-_=+~`" + "&\x1b\x0b\x7f"
    samples = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(4000)]
    samples += FIXED + ["\x1b[31mred\x1b[0m", "a\r\nb", "&amp;amp;", "&lt;3", "plain words only"]
    fast = [tokenizer.clean_text(sample) for sample in samples]
    assert sum(bool(tokenizer._PLAIN_TEXT.fullmatch(sample)) for sample in samples) > 1000  # the fast path ran
    monkeypatch.setattr(tokenizer, "_PLAIN_TEXT", __import__("regex").compile(r"(?!)"))  # ftfy for every text
    assert [tokenizer.clean_text(sample) for sample in samples] == fast
