"""The classes the library engine takes through its Protocols keep meeting them.

mypy checks this file (it is in pyproject's [tool.mypy] files): the assignments in `_meets_protocols` fail
`mypy` as soon as a class stops meeting a Protocol, in any member's parameters or types. The tests below check
at run time what can be seen there: each Protocol is one (a subclass of a Protocol that does not list
Protocol again is a plain class, which nothing meets but its subclasses), and every member is there, taking
the parameters the Protocol names."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Protocol

import pytest

from photosort.app.encoder_process import RemoteEncoder
from photosort.clip.encoder import Encoder
from photosort.clip.text_encoder import TextEncoder as NumpyTextEncoder
from photosort.core.catalog import Catalog, SqliteCatalog
from photosort.core.library import TextImageEncoder
from photosort.core.search import QueryEncoder, TextEncoder
from photosort.core.pipeline import PictureEncoder
from photosort.core.vectors import SqliteVectorStore, VectorStore
from photosort.paths import bundled_models_dir


def _meets_protocols(catalog: SqliteCatalog, vectors: SqliteVectorStore, encoder: Encoder,
                     remote: RemoteEncoder, numpy_texts: NumpyTextEncoder, query: QueryEncoder) -> None:
    """Never called: what mypy checks."""
    as_catalog: Catalog = catalog
    as_store: VectorStore = vectors
    pictures: PictureEncoder = encoder
    texts_and_pictures: TextImageEncoder = encoder
    remote_pictures: PictureEncoder = remote
    remote_texts_and_pictures: TextImageEncoder = remote
    texts: TextEncoder = numpy_texts
    query_texts_and_pictures: TextImageEncoder = query
    del as_catalog, as_store, pictures, texts_and_pictures, remote_pictures, remote_texts_and_pictures, texts
    del query_texts_and_pictures


PROTOCOLS: list[type] = [Catalog, VectorStore, PictureEncoder, TextImageEncoder, TextEncoder]
MET_BY: list[tuple[type, type]] = [(Catalog, SqliteCatalog), (VectorStore, SqliteVectorStore),
                                   (PictureEncoder, Encoder), (TextImageEncoder, Encoder),
                                   (PictureEncoder, RemoteEncoder), (TextImageEncoder, RemoteEncoder),
                                   (TextEncoder, NumpyTextEncoder), (TextImageEncoder, QueryEncoder)]


def members(protocol: type) -> tuple[dict[str, Callable[..., object] | property], set[str]]:
    """A Protocol's methods and properties (by name), and its data members, its Protocol bases' included."""
    methods: dict[str, Callable[..., object] | property] = {}
    data: set[str] = set()
    for base in reversed(protocol.__mro__):
        if base in (object, Protocol) or not getattr(base, "_is_protocol", False):
            continue
        data.update(vars(base).get("__annotations__", {}))
        methods.update((name, value) for name, value in vars(base).items()
                       if not name.startswith("_") and (callable(value) or isinstance(value, property)))
    return methods, data - set(methods)


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda protocol: protocol.__name__)
def test_each_is_a_protocol(protocol):
    # typing marks a class that lists Protocol among its bases; a subclass of a Protocol alone is not one.
    assert getattr(protocol, "_is_protocol", False), f"{protocol.__name__} is not a Protocol: list it in its bases"


@pytest.mark.parametrize(("protocol", "cls"), MET_BY, ids=lambda c: c.__name__)
def test_the_class_has_every_method_with_its_parameters(protocol, cls):
    methods, _ = members(protocol)
    assert methods, f"{protocol.__name__} names no method"
    for name, wanted in methods.items():
        if isinstance(wanted, property):
            # A read-only member: a property, or an attribute each instance sets (test_the_encoder_has_...).
            assert not callable(getattr(cls, name, None)), f"{cls.__name__}.{name} is a method"
            continue
        assert hasattr(cls, name), f"{cls.__name__} has no {name}"
        found = getattr(cls, name)
        wanted_parameters = inspect.signature(wanted).parameters
        found_parameters = inspect.signature(found).parameters
        for parameter in wanted_parameters.values():
            match = found_parameters.get(parameter.name)
            assert match is not None, f"{cls.__name__}.{name} takes no {parameter.name}"
            assert match.kind == parameter.kind, f"{cls.__name__}.{name}: {parameter.name} is {match.kind}"
            if parameter.default is not inspect.Parameter.empty:
                assert match.default == parameter.default, f"{cls.__name__}.{name}: {parameter.name}'s default"
        extra = [p for p in found_parameters.values() if p.name not in wanted_parameters
                 and p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        assert not extra, f"{cls.__name__}.{name} requires {[p.name for p in extra]}, which the Protocol does not"


def test_the_catalog_and_vector_store_have_their_data_members(tmp_path):
    catalog = SqliteCatalog(tmp_path / "catalog.sqlite")
    try:
        with catalog.transaction():  # a context manager, as the Protocol says
            catalog.set_meta("checked", "yes")
        for protocol, instance in ((Catalog, catalog), (VectorStore, SqliteVectorStore(catalog.db))):
            for name in members(protocol)[1]:
                assert hasattr(instance, name), f"{type(instance).__name__} has no {name}"
    finally:
        catalog.close()


def test_the_encoder_has_its_data_members():
    """The encoders' read-only `resolution`: set by each instance, or a property."""
    encoder = Encoder.load(bundled_models_dir() / "tiny-shapes.pt", "cpu")
    assert isinstance(members(TextImageEncoder)[0]["resolution"], property)
    assert isinstance(encoder.resolution, int)
    assert isinstance(QueryEncoder(NumpyTextEncoder("tiny-shapes"), lambda: encoder).resolution, int)
