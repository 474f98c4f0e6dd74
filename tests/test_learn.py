"""Learning from use: implicit ALS, recommendations, "opened with", forgetting.

Logic on the fake encoders' six-file corpus and on small made-up event sets; the
simulation that measures the figures is bench/bench_recommend.py. In CATALOG_MODULES.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import open_catalog

from searchengine import Index
from searchengine.catalog.events import UseEvent
from searchengine.cli.main import main
from searchengine.learn import Learner
from searchengine.learn.als import fit_als
from searchengine.learn.model import score_items, train
from searchengine.learn.refind import past_queries, refind_terms


def test_als_puts_users_next_to_what_their_group_opened() -> None:
    # users 0-3 open items 0-4, users 4-7 items 5-9; user 0 never opened item 4
    pairs = [(u, i) for u in range(4) for i in range(5) if (u, i) != (0, 4)]
    pairs += [(u, i) for u in range(4, 8) for i in range(5, 10)]
    rows, cols = np.array(pairs).T
    f = fit_als(rows, cols, np.ones(len(pairs)), (8, 10), factors=4)
    scores = f.items @ f.users[0]
    assert scores[4] > scores[5:].max()  # the unseen item of the own group comes first


def _events(pairs: list[tuple[str, int]]) -> list[UseEvent]:
    return [UseEvent(n + 1, u, f, "open", None, None, 1000.0 + n) for n, (u, f) in enumerate(pairs)]


def test_without_content_the_model_recommends_what_the_group_opened() -> None:
    group_a = [(u, f) for u in ("a1", "a2", "a3") for f in (1, 2, 3)]
    group_b = [(u, f) for u in ("b1", "b2", "b3") for f in (4, 5, 6)]
    history = [("new", 1), ("new", 2)]
    learned = train(_events(group_a + group_b + history), (20, 20), factors=4)
    out = score_items(learned, "new", _events(history), [], mix=0.0, exclude={1, 2})
    assert list(out.file_ids[:1]) == [3] and out.sources[0] == "together"
    popular = score_items(learned, "nobody", [], [])
    assert popular.sources[0] == "popular" and len(popular.file_ids) == 6


def _unit(*rows: list[float]) -> np.ndarray:
    m = np.asarray(rows, dtype=np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_refinding_boosts_what_was_opened_after_a_close_query_only() -> None:
    vectors = {"car price": [1.0, 0.0, 0.0], "dog walk": [0.0, 1.0, 0.0]}
    events = [
        UseEvent(1, "ana", 7, "open", "car price", 2, 1000.0),
        UseEvent(2, "ana", 7, "similar", "car price", 2, 1001.0),
        UseEvent(3, "ana", 8, "similar", "dog walk", 1, 1002.0),
        UseEvent(4, "ana", 9, "open", None, None, 1003.0),  # not from a search: no query
    ]
    past = past_queries(events, lambda qs: _unit(*(vectors[q] for q in qs)))
    assert past is not None and set(past.queries) == {"car price", "dog walk"}
    same = refind_terms(past, _unit([1.0, 0.0, 0.0])[0], closeness=0.9)
    assert same == {7: pytest.approx(1.0)}  # the open's weight, not "more like this"'s
    near = refind_terms(past, _unit([1.0, 0.25, 0.0])[0], closeness=0.9)  # cosine 0.970
    assert 0.0 < near[7] < 1.0 and set(near) == {7}
    assert refind_terms(past, _unit([1.0, 1.0, 0.0])[0], closeness=0.9) == {}  # cosine 0.71
    assert refind_terms(past, _unit([0.0, 1.0, 0.0])[0], closeness=0.9) == {8: 0.5}
    assert past_queries(events[3:], lambda qs: _unit(*(vectors[q] for q in qs))) is None
    newest = past_queries(events, lambda qs: _unit(*(vectors[q] for q in qs)), limit=1)
    assert newest is not None and newest.queries == ("dog walk",)


def test_a_query_close_to_one_the_user_asked_brings_back_what_they_opened(
    index: Index, corpus: Path
) -> None:
    (corpus / "cars.txt").write_text("the price of a car and the road tax", encoding="utf-8")
    index.add(corpus)
    ids = _ids(index)
    plain = index.search("car price", spaces={"text"})
    order = [h.file_id for h in plain.hits]
    assert order[0] != ids["cars.txt"] and ids["cars.txt"] in order
    index.record("ana", ids["cars.txt"], "open", "car price", rank=order.index(ids["cars.txt"]) + 1)
    mine = index.search("car price", spaces={"text"}, user="ana")
    assert mine.hits[0].file_id == ids["cars.txt"] and "personal" in mine.hits[0].extra
    good = {h.file_id: h.good for h in plain.hits}
    assert {h.file_id: h.good for h in mine.hits} == good  # good matches stay as they were
    # a query unlike ana's (one more word is far in the fake's space), another topic, a
    # user without history, a search sorted by date: the plain hits
    for query in ("car price tax", "dog park"):
        same = index.search(query, spaces={"text"}, user="ana")
        assert same.hits == index.search(query, spaces={"text"}).hits
    assert index.search("car price", spaces={"text"}, user="ben").hits == plain.hits
    assert index.search("car price", spaces={"text"}, user="ana", personal=0).hits == plain.hits
    # forgotten: the term goes with the events
    index.forget("ana")
    assert index.search("car price", spaces={"text"}, user="ana").hits == plain.hits


def test_each_past_query_is_encoded_once(index: Index, corpus: Path) -> None:
    from fakes import FakeTextEncoder

    class Counting(FakeTextEncoder):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[str] = []

        def encode(self, texts, role="passage"):  # type: ignore[no-untyped-def]
            self.seen += texts
            return super().encode(texts, role)

    ids = _ids(index)
    index.record("ana", ids["car.txt"], "open", "car price")
    index.record("ana", ids["dog.md"], "open", "dog park")
    learner = Learner(open_catalog(index.settings.index_dir))
    encoder = Counting()
    assert learner.refind("ana", "car price", encoder) == {ids["car.txt"]: pytest.approx(1.0)}
    assert learner.refind("ana", "car price", encoder) == {ids["car.txt"]: pytest.approx(1.0)}
    learner.refind("ana", "dog walk", encoder)
    assert sorted(encoder.seen) == ["car price", "dog park", "dog walk"]


def _ids(index: Index) -> dict[str, int]:
    hits = index.search("car dog banana 자동차 price", k=10, spaces={"text"}, mode="lexical")
    return {Path(h.path).name: h.file_id for h in hits}


def test_recommend_learns_from_people_and_from_content(index: Index, corpus: Path) -> None:
    (corpus / "cars.txt").write_text("the price of a car and the road tax", encoding="utf-8")
    index.add(corpus)
    ids = _ids(index)
    assert index.recommend("ana").basis == "none" and not index.recommend("ana").items
    # no one else opened anything: content alone finds the other text about cars
    index.record("ana", ids["car.txt"], "open", "car")
    first = index.recommend("ana", k=3)
    assert first.basis == "history" and first.items[0].file_id == ids["cars.txt"]
    assert ids["car.txt"] not in {s.file_id for s in first.items}  # opened: not again
    # two people open dog.md and banana.html together; a third opens dog.md only
    for user in ("ben", "cy"):
        index.record(user, ids["dog.md"])
        index.record(user, ids["banana.html"])
    index.record("dee", ids["dog.md"])
    assert index.recommend("dee", k=3).items[0].source == "content"  # learning meanwhile
    index.wait_for_learning()
    dee = index.recommend("dee", k=3)
    assert dee.items[0].file_id == ids["banana.html"] and dee.items[0].source == "together"
    assert index.opened_with(ids["dog.md"], k=1).items[0].file_id == ids["banana.html"]
    assert index.opened_with(ids["korean.txt"]).items == ()  # no one opened it
    popular = index.recommend("eve", k=2)  # no history: what most people opened
    assert popular.basis == "popular" and {s.file_id for s in popular.items} == {
        ids["dog.md"],
        ids["banana.html"],
    }
    # forgetting takes effect at once: with ben's and cy's opens gone, nothing
    # ties banana to dog any more
    index.forget("ben")
    index.forget("cy")
    assert ids["banana.html"] not in {s.file_id for s in index.opened_with(ids["dog.md"]).items}


def test_recommend_on_the_command_line(index: Index, capsys) -> None:
    ids = _ids(index)
    for user in ("ben", "cy"):
        index.record(user, ids["dog.md"])
        index.record(user, ids["banana.html"])
    index.record("dee", ids["dog.md"])
    base = ["--index", str(index.path)]
    assert main([*base, "recommend", "--user", "dee", "-k", "2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["basis"] == "history" and doc["items"][0]["id"] == ids["banana.html"]
    dog = str(Path(index.item(ids["dog.md"]).path))  # type: ignore[union-attr]
    assert main([*base, "recommend", "--with", dog]) == 0
    assert "banana.html" in capsys.readouterr().out.splitlines()[0]
    assert main([*base, "recommend", "--user", "nobody-at-all"]) == 0
    assert "the most opened items" in capsys.readouterr().out
    assert main([*base, "recommend", "--with", "/not/indexed.txt"]) == 2
    assert "not an indexed file" in capsys.readouterr().err


BASE = "http://127.0.0.1:8000"


def test_the_page_reports_events_and_gets_recommendations(index: Index) -> None:
    from fastapi.testclient import TestClient

    from searchengine.server.app import create_app

    ids = _ids(index)
    with TestClient(create_app(index), base_url=BASE) as c:
        assert c.get("/api/recommend").json()["basis"] == "none"
        sent = {"item": ids["dog.md"], "action": "open", "query": "puppy", "rank": 1}
        res = c.post("/api/events", json=sent)
        assert res.status_code == 200 and res.json() == {"recorded": True, "user": "local"}
        assert c.post("/api/events", json={**sent, "action": "like"}).status_code == 422
        bad = c.post("/api/events", json={**sent, "item": 10**9})
        assert bad.status_code == 404 and bad.json()["error"] == f"no item {10**9}"
        mine = c.get("/api/recommend", params={"k": 3}).json()
        assert mine["user"] == "local" and mine["basis"] == "history" and mine["items"]
        assert ids["dog.md"] not in {s["id"] for s in mine["items"]}
        assert c.get(f"/api/items/{ids['dog.md']}/opened-with").status_code == 200
        assert c.get("/api/items/999999/opened-with").status_code == 404
    assert [(e.user, e.file_id, e.query, e.rank) for e in index.events()] == [
        ("local", ids["dog.md"], "puppy", 1)
    ]


def test_each_token_names_its_user(index: Index) -> None:
    from fastapi.testclient import TestClient

    from searchengine.cli.explore import token_users
    from searchengine.server.app import create_app

    users = token_users(["ana=s1", "ben=s2"])
    assert users == {"s1": "ana", "s2": "ben"}
    assert token_users(["c2VjcmV0="]) == {"c2VjcmV0=": "local"}  # base64's '=': no name
    ids = _ids(index)
    app = create_app(index, bind="0.0.0.0", users=users)
    with TestClient(app, base_url="http://192.0.2.7:8000") as c:
        ana, ben = {"Authorization": "Bearer s1"}, {"Authorization": "Bearer s2"}
        assert c.post("/api/events", json={"item": ids["car.txt"]}).status_code == 401
        assert c.post("/api/events", json={"item": ids["car.txt"]}, headers=ana).json() == {
            "recorded": True,
            "user": "ana",
        }
        assert c.get("/api/recommend", headers=ana).json()["basis"] == "history"
        assert c.get("/api/recommend", headers=ben).json()["basis"] == "popular"
        assert c.get("/api/search", params={"q": "car"}, headers=ben).status_code == 200
    assert [e.user for e in index.events()] == ["ana"]
    # the one-token form of before: that token is the local user's
    with TestClient(create_app(index, token="s3cret", bind="0.0.0.0"), base_url=BASE) as c:
        sent = c.post(
            "/api/events", json={"item": ids["dog.md"]}, headers={"Authorization": "Bearer s3cret"}
        )
        assert sent.json()["user"] == "local"


def test_a_server_without_events_records_none(index: Index) -> None:
    from dataclasses import replace

    from fastapi.testclient import TestClient

    from searchengine.server.app import create_app

    ids = _ids(index)
    off = Index.open(settings=replace(index.settings, events=False), encoders=index._given)
    with off, TestClient(create_app(off), base_url=BASE) as c:
        assert c.post("/api/events", json={"item": ids["dog.md"]}).json()["recorded"] is False
    assert index.events() == []


def test_the_simulation_reads_the_help_set_by_module(monkeypatch) -> None:
    """bench_recommend --set libreoffice-help-ko: users' topics are modules with enough
    questions (sdraw merged into simpress), the small modules asked as others' only;
    python-faq-en keeps only its users' topics, as before."""
    import bench.bench_recommend as sim

    monkeypatch.setattr(sim, "SET", sim.SET)
    monkeypatch.setattr(sim, "TOPICS", sim.TOPICS)
    assert list(sim.questions()) == list(sim.TOPICS)  # not gui, installed
    sim.use_set("libreoffice-help-ko")
    pools = sim.questions()
    assert list(pools)[:4] == list(sim.HELP_TOPICS)
    assert set(pools) == {*sim.HELP_TOPICS, "sbasic", "smath", "schart"}
    assert sim.topic("sdraw-003.txt") == "simpress" and sim.topic("scalc-019.txt") == "scalc"
    assert sum(map(len, pools.values())) == 599
    assert min(len(pools[t]) for t in sim.TOPICS) >= sim.QUESTIONS_PER_USER + sim.HOLD
    assert sim.shorten("Calc에서 차트 삽입") == "차트 삽입"


def test_re_finding_reorders_each_space_in_its_own_places() -> None:
    """Text and image scores do not compare (the lists are merged by rank): a boosted
    document moves among documents only, and with no term nothing moves at all."""
    from searchengine.learn.refind import personal_order
    from searchengine.records import Hit, Results

    def hit(name: str, score: float, fid: int) -> Hit:
        kind = "image" if name.startswith("i") else "text"
        return Hit(name, kind, score, kind, file_id=fid)  # type: ignore[arg-type]

    plain = Results(
        "q",
        "hybrid",
        (
            hit("t1", 3.0, 1),
            hit("i1", 0.3, 2),
            hit("t2", 2.0, 3),
            hit("i2", 0.9, 4),
            hit("t3", 1.0, 5),
        ),
        k=5,
    )
    names = lambda r: [h.path for h in r.hits]  # noqa: E731
    assert names(personal_order(plain, {}, 1.5, 0, 5)) == ["t1", "i1", "t2", "i2", "t3"]
    moved = personal_order(plain, {5: 1.0}, 1.5, 0, 5)
    assert names(moved) == ["t1", "i1", "t3", "i2", "t2"]  # t3: 1.0 + 1.5 > 2.0
    assert names(personal_order(plain, {4: 1.0}, 1.5, 0, 5)) == ["t1", "i2", "t2", "i1", "t3"]
    assert names(personal_order(plain, {5: 1.0}, 1.5, 1, 2)) == ["i1", "t3"]
