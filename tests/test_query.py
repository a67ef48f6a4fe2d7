"""The search query language, prompt templates and the relevance statistics, as units."""

import shlex
from datetime import datetime

import numpy as np
import pytest

from photosort.core.errors import LibraryError
from photosort.core.query import Term, parse
from photosort.core.relevance import background, sample_ids
from photosort.templates import expand, is_short_query, load_templates, templates_for


def test_plain_words_make_one_text_and_signed_terms_stand_alone():
    query = parse("beach sunset -people")
    assert query.terms == [Term(1.0, text="beach sunset"), Term(-1.0, text="people")]
    assert not query.filtered


def test_images_weights_and_quotes():
    query = parse('+photo.jpg 2:"at night" -0.5:crowd')
    assert query.terms == [Term(1.0, image="photo.jpg"), Term(2.0, text="at night"), Term(-0.5, text="crowd")]
    assert parse("holiday/IMG_0001.HEIC").terms == [Term(1.0, image="holiday/IMG_0001.HEIC")]


def test_filters_are_taken_out_of_the_semantic_part():
    query = parse('dog folder:"My Holidays" tag:family after:2023-06-01 before:2024-01-01')
    assert query.terms == [Term(1.0, text="dog")]
    assert query.folders == ["My Holidays"] and query.tags == ["family"]
    assert query.after == datetime(2023, 6, 1).timestamp() and query.before == datetime(2024, 1, 1).timestamp()
    assert query.filtered


@pytest.mark.parametrize("text, terms", [
    ("grandma's garden", [Term(1.0, text="grandma's garden")]),
    ("mom's birthday -cake", [Term(1.0, text="mom's birthday"), Term(-1.0, text="cake")]),
    ("children's party", [Term(1.0, text="children's party")]),
    ("don't", [Term(1.0, text="don't")]),
    ("kids' party", [Term(1.0, text="kids' party")]),
    ("'70s cars", [Term(1.0, text="'70s cars")]),
    ("'70s and '80s", [Term(1.0, text="'70s and '80s")]),
    ('dog "open quote', [Term(1.0, text='dog "open quote')]),
    ("'at night' \"by the sea\"", [Term(1.0, text="at night by the sea")]),
    ('"it\'s" fine', [Term(1.0, text="it's fine")]),
    ('2:"at night"', [Term(2.0, text="at night")]),
    ('dog -"red car"', [Term(1.0, text="dog"), Term(-1.0, text="red car")]),
    ('+"/path/with space/x.jpg"', [Term(1.0, image="/path/with space/x.jpg")]),
    ('"tag:x" 2', [Term(1.0, text="tag:x 2")]),  # quoted, a filter's name is words
    ("+C:\\Photos\\x.jpg", [Term(1.0, image="C:\\Photos\\x.jpg")]),  # backslashes are letters
])
def test_quotes_group_words_only_where_they_pair(text, terms):
    query = parse(text)
    assert query.terms == terms and not query.filtered


def test_a_filter_takes_a_quoted_value():
    query = parse('folder:"My Trips" beach tag:\'big family\'')
    assert query.folders == ["My Trips"] and query.tags == ["big family"]
    assert query.terms == [Term(1.0, text="beach")]


@pytest.mark.parametrize("path", ["/tmp/o'brien photos/x.jpg", "/tmp/kids' party/x.jpg", "/tmp/it's/'quoted' x.jpg",
                                  '/tmp/"both" kinds\'/x.jpg', "/tmp/plain/x.jpg"])
def test_an_example_quoted_as_a_shell_quotes_it_reads_back_exactly(path):
    # The app writes "more like this" as "+" + shlex.quote(path).
    assert parse(f"red +{shlex.quote(path)} -blue").terms == [Term(1.0, text="red"), Term(1.0, image=path),
                                                             Term(-1.0, text="blue")]


def test_filters_alone_are_a_query_terms_to_avoid_alone_are_not():
    query = parse("tag:family folder:Holidays before:2010-01-01")
    assert query.terms == [] and query.filtered
    assert query.tags == ["family"] and query.folders == ["Holidays"]
    assert query.before == datetime(2010, 1, 1).timestamp()
    with pytest.raises(LibraryError, match="nothing to search for.*only terms to avoid"):
        parse("-people")


@pytest.mark.parametrize("text, message", [
    ("-people", "nothing to search for"),
    ("  ", "nothing to search for"),
    ("dog after:yesterday", "YYYY-MM-DD"),
])
def test_bad_queries_say_what_is_wrong(text, message):
    with pytest.raises(LibraryError, match=message):
        parse(text)


def test_short_queries_are_templated_long_ones_are_not():
    assert is_short_query("dog") and is_short_query("red circle")
    assert not is_short_query("kids playing on a beach at sunset")
    assert not is_short_query("a photo of a dog")
    templates = templates_for("ViT-B/32")
    assert templates == load_templates("photo") and len(templates) >= 4
    assert expand("dog", templates)[0] == "a photo of dog."
    assert templates_for("/some/where/tiny-shapes.pt") == load_templates("tiny-shapes")


def test_background_ignores_the_few_relevant_scores():
    rng = np.random.default_rng(0)
    unrelated = rng.normal(0.2, 0.02, 5000)
    scores = np.concatenate([unrelated, np.full(50, 0.35)])
    found = background(scores)
    assert abs(found.centre - 0.2) < 0.005 and abs(found.spread - 0.02) < 0.003
    assert found.relevance_cutoff(0.35) > 0.33  # near the best, far above the bulk
    assert found.z(0.35) > 6


def test_relevance_sample_is_fixed_and_bounded():
    ids = np.arange(10_000)
    first, second = sample_ids(ids, 100), sample_ids(ids[::-1], 100)
    assert len(first) == 100 and np.array_equal(first, second)
    assert np.array_equal(sample_ids(ids[:50], 100), ids[:50])
