"""MovieLens-100K: users rate movies, with posters and plot overviews.

The recommender benchmark as a knowledge graph (GroupLens, Harper & Konstan 2015,
https://grouplens.org/datasets/movielens/100k/):

- ``(:User {key: user/<id>})`` with ``age`` (int), ``gender``, ``occupation``, ``zip``;
- ``(:Movie {key: movie/<id>})`` named by its title, with ``release_date`` (ISO
  ``YYYY-MM-DD``, so Cypher's ``date()`` reads it), ``imdb_url`` and ``genres``; its
  description is the TMDB plot overview;
- ``(:Genre {key: genre/<name>})`` and ``(:Occupation {key: occupation/<name>})``;
- ``(user)-[:RATED {rating, timestamp}]->(movie)`` split by an official split file pair
  (``u1`` by default: ``u1.base`` is train, ``u1.test`` is test; ``u1`` … ``u5`` are the
  5 folds, ``ua``/``ub`` hold out 10 ratings per user);
- ``(movie)-[:HAS_GENRE]->(genre)`` and ``(user)-[:HAS_OCCUPATION]->(occupation)``, both
  in train: they are attributes every model may see, never targets to predict.

Layout of the folder (what ``kgstore datasets download movielens-100k`` makes)::

    ml-100k/u.data u.item u.user u.genre u.occupation u1.base u1.test ... ub.test
    posters/<movie_id>.jpg               (optional: 1,663 TMDB poster thumbnails)
    side/items_tmdb_overview.csv         (optional: TMDB plot overviews)

``expected`` describes the default split ``u1``.

.. note:: Terms: research use only and no redistribution (GroupLens README); posters and
   overviews are TMDB-derived with no licence stated. kgstore ships no data, only this
   reader and the official download addresses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import ClassVar

from kgstore.errors import KgstoreError
from kgstore.importers.base import Dataset, Download
from kgstore.importers.delimited import read_rows
from kgstore.importers.fetch import github_raw
from kgstore.importers.input_errors import InputErrors
from kgstore.importers.records import EntityRecord, ImageRecord, RelationRecord, TripleRecord

RATING_SPLITS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")
_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}
_DATE = re.compile(r"(\d{1,2})-([A-Z][a-z]{2})-(\d{4})")

_ML_FILES = (
    ("u.data", "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"),
    ("u.genre", "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb"),
    ("u.info", "5b0a40b2e47a729ee6203063f6dcf8790c2e63f5a18663e6ee318a72c5f3c27b"),
    ("u.item", "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701"),
    ("u.occupation", "cd5fbec9afe345d993a62fc7817df1a4a9079c4feb267b3118763b8fd942137d"),
    ("u.user", "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c"),
    ("README", "d5f41f88d1a96b8faefed3c2f51fce1fca3be1ba6ab0d06e346898ffae920de9"),
    ("u1.base", "ce253ec86c448b44fb3ba9a30d12dcfc2e9210cbde71efada3730c22e9ac212a"),
    ("u1.test", "18c6014a4b2c7324f250a63f8904a7b16b2b19f911129e346141507b0cbac950"),
    ("u2.base", "6c06f0b5df4b256da1a994f3ac66edc8da4d3f09bc9282df6b14d893366d703e"),
    ("u2.test", "4de658d1e04ed9104629509a2e2528fce833ac8e048280183f1df167632038c3"),
    ("u3.base", "afdc155c291c6edc41c0407e39d7462eb98d341e064f0b0a12175b80b3c4af5d"),
    ("u3.test", "0f548b51c78327de4c156461d3e430b7e5579fe2b5681586a59416e48fd35f6d"),
    ("u4.base", "219f0f4d40dfe9c5141d425f53fa91ee23ed275f14e280bbf1b50117afb064ca"),
    ("u4.test", "7c02ad0a1e7ab1083c8b9d4b627203a051dd7b5eab46d99fa44de33470de8db9"),
    ("u5.base", "a9574e59ce961eec2121627760b6e9b0974ce1637b3fe69ac32cb14a4bfab485"),
    ("u5.test", "351cc52e0d15b6c721466276fc24671d40936899e3d01fadeaf312915b8c5634"),
    ("ua.base", "67b5bcdb380c29f85d56a012ecd88612ae020f30a6730d117a334ee8203b91f2"),
    ("ua.test", "d0497e202417720f57a184ec8c66be2d1afa4ff41bb53787c57b28d6bf79bc42"),
    ("ub.base", "237254d253b6ad7de84f919d041055428646254f34ed8f562703c899430cd881"),
    ("ub.test", "d54a72d05730d5892062734b2bec73e976f9b713d18c828a18b968d6cce442da"),
)
_SIDE_REPO = ("sadhana937/Movie-recommender-system", "90a9dfcdd62e9de212bb59f13119213cd075b33c")


class MovieLens100K(Dataset):
    """MovieLens-100K ratings, users, movies, genres and occupations, plus posters and plots.

    The downloads are GroupLens' ``ml-100k.zip``, whose own checksum GroupLens does not
    publish: each extracted ``ml-100k/*`` file is pinned instead (hashes of the
    unchanged official files), and the TMDB overview table from
    sadhana937/Movie-recommender-system at a fixed commit. Posters have no published
    checksums or licence and are not downloaded; put ``<movie_id>.jpg`` files in
    ``posters/`` to use them.
    """

    name = "movielens-100k"
    description = "MovieLens-100K: 100,000 ratings of 1,682 movies by 943 users, posters, plot overviews"
    folder_names = ("MovieLens-100K", "movielens-100k")
    required_files = tuple(f"ml-100k/{f}" for f in ("u.data", "u.item", "u.user", "u.genre", "u.occupation"))
    optional_files = ("side/items_tmdb_overview.csv",)
    licence = "GroupLens research licence: research use only, no redistribution (see ml-100k/README)"
    expected: ClassVar[dict[str, int]] = {
        "entities": 943 + 1682 + 19 + 21,  # users, movies, genres, occupations
        "relations": 3,
        "train": 80_000 + 2_893 + 943,  # u1.base ratings, genre links, occupation links
        "valid": 0,
        "test": 20_000,  # u1.test ratings
        "names": 1682 + 19 + 21,  # users have no name
        "descriptions": 1_664,  # movies with a TMDB overview
        "relation_labels": 3,
        "images": 1_663,
    }
    downloads = (
        Download("https://files.grouplens.org/datasets/movielens/ml-100k.zip", "", "ml-100k.zip",
                 unpack=True, members=tuple((f"ml-100k/{f}", sha) for f, sha in _ML_FILES)),
        Download(github_raw(*_SIDE_REPO, "data/items.csv"),
                 "8e6f40029c1beebe19bf64b6e58f65c3fcb7bb31dbfc08e4d9681445dc74dc27",
                 "side/items_tmdb_overview.csv"),
    )

    def __init__(self, root: Path, *, split: str = "u1", namespace: str | None = None,
                 errors: InputErrors | None = None) -> None:
        if split not in RATING_SPLITS:
            raise KgstoreError(f"MovieLens-100K has no rating split {split!r}",
                               hint=f"Use one of {', '.join(RATING_SPLITS)} (u1 is the default).")
        super().__init__(root, namespace=namespace, errors=errors)
        self.split = split

    @property
    def ml_dir(self) -> Path:
        return self.root / "ml-100k"

    def files(self) -> list[Path]:
        split_files = [self.ml_dir / f"{self.split}.{kind}" for kind in ("base", "test")]
        posters = sorted((self.root / "posters").glob("*.jpg"))
        return sorted({*super().files(), *(p for p in split_files if p.is_file()), *posters})

    # -- the small tables, read once per instance -----------------------------------
    @cached_property
    def _catalog(self) -> _Catalog:
        """Users, movies, genres and occupations: a few thousand rows, so each stream can
        join against them, and a bad line in them is reported once, not once per stream."""
        genres, occupations = self._genres(), self._occupations()
        return _Catalog(users=list(self._users(set(occupations))), movies=list(self._movies(genres)),
                        genres=genres, occupations=occupations, overviews=self._overviews())

    def _genres(self) -> list[str]:
        """Genre names in column order of u.item (u.genre gives ``name|index``)."""
        path = self.ml_dir / "u.genre"
        by_index: dict[int, str] = {}
        for number, (genre, index) in read_rows(path, self.errors, delimiter="|", min_columns=2, max_columns=2):
            if not index.strip().isdigit() or not genre.strip():
                self.errors.report(path, number, f"expected 'name|index', found {genre!r}|{index!r}")
                continue
            by_index[int(index)] = genre.strip()
        if sorted(by_index) != list(range(len(by_index))):
            self.errors.report(path, None, f"genre indexes should run 0..{len(by_index) - 1}, "
                               f"found {sorted(by_index)}")
        return [by_index[i] for i in sorted(by_index)]

    def _occupations(self) -> list[str]:
        path = self.ml_dir / "u.occupation"
        return [fields[0].strip() for _, fields in read_rows(path, self.errors, max_columns=1)]

    def _overviews(self) -> dict[str, str]:
        """movie id -> the first non-empty TMDB overview (the table repeats some ids)."""
        path = self.root / "side" / "items_tmdb_overview.csv"
        if not path.exists():
            return {}
        overviews: dict[str, str] = {}
        columns: dict[str, int] | None = None
        for number, fields in read_rows(path, self.errors, delimiter=",", quoting=True):
            if columns is None:
                columns = {name: i for i, name in enumerate(fields)}
                if "movie_id" not in columns or "overview" not in columns:
                    self.errors.report(path, number, "header needs the columns movie_id and overview")
                    return {}
                continue
            if len(fields) != len(columns):
                self.errors.report(path, number, f"expected {len(columns)} columns, found {len(fields)}")
                continue
            movie_id, overview = fields[columns["movie_id"]].strip(), fields[columns["overview"]].strip()
            if not movie_id.isdigit():
                self.errors.report(path, number, f"movie_id {movie_id!r} is not a number")
                continue
            if overview and movie_id not in overviews:
                overviews[movie_id] = overview
        return overviews

    def _users(self, occupations: set[str]) -> Iterator[_User]:
        path = self.ml_dir / "u.user"
        for number, fields in read_rows(path, self.errors, delimiter="|", min_columns=5, max_columns=5):
            user_id, age, gender, occupation, zip_code = (f.strip() for f in fields)
            if not user_id.isdigit() or not age.isdigit():
                self.errors.report(path, number, f"user id and age must be numbers, found {user_id!r}, {age!r}")
                continue
            if occupation not in occupations:
                self.errors.report(path, number, f"occupation {occupation!r} is not listed in u.occupation")
                continue
            yield _User(user_id, int(age), gender, occupation, zip_code)

    def _movies(self, genres: list[str]) -> Iterator[_Movie]:
        path = self.ml_dir / "u.item"
        width = 5 + len(genres)
        for number, fields in read_rows(path, self.errors, delimiter="|", encoding="latin-1",
                                        min_columns=width, max_columns=width):
            movie_id, title, released, _video_released, imdb_url = (f.strip() for f in fields[:5])
            flags = [f.strip() for f in fields[5:]]
            if not movie_id.isdigit():
                self.errors.report(path, number, f"movie id {movie_id!r} is not a number")
                continue
            if any(flag not in ("0", "1") for flag in flags):
                self.errors.report(path, number, f"genre flags (columns 6 to {width}) must be 0 or 1")
                continue
            yield _Movie(movie_id, title, self._release_date(path, number, released), imdb_url,
                         [g for g, flag in zip(genres, flags, strict=True) if flag == "1"])

    def _release_date(self, path: Path, number: int, text: str) -> str | None:
        """``01-Jan-1995`` -> ``1995-01-01`` (no locale involved); empty stays None."""
        if not text:
            return None
        match = _DATE.fullmatch(text)
        if match is None or match.group(2) not in _MONTHS:
            self.errors.report(path, number, f"release date {text!r} is not DD-Mon-YYYY")
            return None
        day, month, year = match.groups()
        return f"{year}-{_MONTHS[month]:02d}-{int(day):02d}"

    # -- streams -------------------------------------------------------------------
    def entities(self) -> Iterator[EntityRecord]:
        catalog = self._catalog
        for user in catalog.users:
            yield EntityRecord(f"user/{user.id}", labels=("User",), properties={
                "age": user.age, "gender": user.gender, "occupation": user.occupation, "zip": user.zip})
        for movie in catalog.movies:
            properties = {"release_date": movie.release_date, "imdb_url": movie.imdb_url or None,
                          "genres": movie.genres}
            yield EntityRecord(f"movie/{movie.id}", name=movie.title or None,
                               description=catalog.overviews.get(movie.id), labels=("Movie",),
                               properties={k: v for k, v in properties.items() if v is not None})
        for genre in catalog.genres:
            yield EntityRecord(f"genre/{genre}", name=genre, labels=("Genre",))
        for occupation in catalog.occupations:
            yield EntityRecord(f"occupation/{occupation}", name=occupation, labels=("Occupation",))

    def relations(self) -> Iterator[RelationRecord]:
        yield RelationRecord("RATED", "rated", "a user's rating of a movie: rating 1-5 stars, "
                             "timestamp in Unix seconds")
        yield RelationRecord("HAS_GENRE", "has genre", "a genre the movie belongs to (u.item flags)")
        yield RelationRecord("HAS_OCCUPATION", "has occupation", "the occupation a user gave")

    def triples(self) -> Iterator[TripleRecord]:
        catalog = self._catalog
        users = {user.id for user in catalog.users}
        movies = {movie.id for movie in catalog.movies}
        for kind, split in (("base", "train"), ("test", "test")):
            yield from self._ratings(self.ml_dir / f"{self.split}.{kind}", split, users, movies)
        for movie in catalog.movies:
            for genre in movie.genres:
                yield TripleRecord(f"movie/{movie.id}", "HAS_GENRE", f"genre/{genre}", "train")
        for user in catalog.users:
            yield TripleRecord(f"user/{user.id}", "HAS_OCCUPATION", f"occupation/{user.occupation}", "train")

    def _ratings(self, path: Path, split: str, users: set[str], movies: set[str]) -> Iterator[TripleRecord]:
        for number, fields in read_rows(path, self.errors, min_columns=4, max_columns=4):
            user_id, movie_id, rating, timestamp = (f.strip() for f in fields)
            if not (user_id.isdigit() and movie_id.isdigit() and rating.isdigit() and timestamp.isdigit()):
                self.errors.report(path, number, "expected four numbers: user, movie, rating, timestamp")
                continue
            if user_id not in users or movie_id not in movies:
                unknown = f"user {user_id}" if user_id not in users else f"movie {movie_id}"
                self.errors.report(path, number, f"{unknown} is not in u.user / u.item")
                continue
            if not 1 <= int(rating) <= 5:
                self.errors.report(path, number, f"rating {rating} is not 1 to 5")
                continue
            yield TripleRecord(f"user/{user_id}", "RATED", f"movie/{movie_id}", split,
                               {"rating": int(rating), "timestamp": int(timestamp)})

    def images(self) -> Iterator[ImageRecord]:
        posters = self.root / "posters"
        for movie in self._catalog.movies:
            path = posters / f"{movie.id}.jpg"
            if path.is_file():
                yield ImageRecord(f"movie/{movie.id}", path)


@dataclass(frozen=True, slots=True)
class _User:
    id: str
    age: int
    gender: str
    occupation: str
    zip: str


@dataclass(frozen=True, slots=True)
class _Movie:
    id: str
    title: str
    release_date: str | None
    imdb_url: str
    genres: list[str]


@dataclass(frozen=True, slots=True)
class _Catalog:
    users: list[_User]
    movies: list[_Movie]
    genres: list[str]
    occupations: list[str]
    overviews: dict[str, str]
