"""Learning from use, measured on a SIMULATION: no public click log installs offline.

Simulated users each have one interest, a topic of `evalsets/python-faq-en` (the
file name's prefix: design, extending, general, library, programming, windows). Each
asks questions of their topic from the set's qrels, one after another over 90 days,
with the product's hybrid search (the default e5 model, the set indexed once), and
opens hits by a position-biased click model: rank r is looked at with probability
1/r, a looked-at hit is opened with probability 0.9 when it answers the question,
0.15 when it is of the user's topic, 0.02 otherwise; an answer opened is then copied
(0.3) or its folder opened (0.1); any opened hit gets a "more like this" (0.1).

Each user's last HOLD opens of items new to them are held out (every event from the
first of them on); the rest of everyone's events train the model.

- recommend: recall@10 of the held-out items, against the popularity baseline (most
  users' items) and the content-only baseline (the mean e5 vector of what the user
  opened); and the grid of the content mix, the decay half-life and action weights.
- personal ranking: MRR@10 of the held-out questions (the user's own topic) with the
  personal term at several weights, against plain hybrid; the same for questions of
  other topics (must not fall); both also as "short" queries (the first three words
  that are not function words, as a person types); and a user without history (must
  not change).

The same on `evalsets/libreoffice-help-ko` (`--set libreoffice-help-ko`): Korean
questions over LibreOffice's help pages, the topic a page's module (its file name's
prefix). There the same kind of question exists in several modules (insert a chart in
Writer, Calc or Impress): the case a personal ranking is for. Users' topics are the
modules with enough questions: shared, swriter, scalc, and simpress with sdraw (Draw's
and Impress's help are much alike); schart, smath and sbasic (21-26 questions each) are
no user's topic, their questions only asked as other topics'. Short queries there are a
question's last two words (Korean puts the head last: `차트 삽입`).

    python -m bench.bench_recommend            # 3 seeds x 60 users, python-faq-en
    python -m bench.bench_recommend --set libreoffice-help-ko --seeds 20
    python -m bench.bench_recommend --smoke    # 1 seed, 6 users: a check
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from searchengine import Index, Settings
from searchengine.catalog.browse import SpaceItems, space_items
from searchengine.catalog.events import UseEvent
from searchengine.learn.model import (
    ACTION_WEIGHTS,
    DEFAULT_CONTENT_MIX,
    DEFAULT_HALF_LIFE_DAYS,
    DEFAULT_PERSONAL_WEIGHT,
    PERSONAL_GATE,
    PERSONAL_GATE_Z,
    PERSONAL_POOL,
    Learned,
    personal_order,
    personal_terms,
    score_items,
    train,
    zscores,
)
from searchengine.records import Results

REPO = Path(__file__).resolve().parent.parent
SET = REPO / "evalsets" / "python-faq-en"
TOPICS: tuple[str, ...] = ("design", "extending", "general", "library", "programming", "windows")
SETS = ("python-faq-en", "libreoffice-help-ko")
# libreoffice-help-ko: users' topics (modules), and modules merged into another
HELP_TOPICS = ("shared", "swriter", "scalc", "simpress")
HELP_MERGED = {"sdraw": "simpress"}
HOLD = 3
QUESTIONS_PER_USER = 14
SPARSE = 6  # questions per user in the few-events scenario
DAYS = 90
MIXES = (0.0, 0.25, 0.5, 0.75, 1.0)
HALF_LIVES: tuple[float | None, ...] = (None, 60.0, 14.0)
WEIGHTINGS: dict[str, Mapping[str, float]] = {
    "open only": {"open": 1.0},
    "all 1": {"open": 1.0, "folder": 1.0, "copy": 1.0, "similar": 1.0},
    "product": ACTION_WEIGHTS,
}
PERSONAL_WEIGHTS = (0.1, 0.2, 0.3, 0.5)  # hybrid scores: ~2-5, gaps ~0.7


def topic(name: str) -> str:
    prefix = name.rsplit("-", 1)[0]
    return HELP_MERGED.get(prefix, prefix)


def use_set(name: str) -> None:
    """Point the simulation at another labelled set (module globals: one set a run)."""
    global SET, TOPICS
    SET = REPO / "evalsets" / name
    if name == "libreoffice-help-ko":
        TOPICS = HELP_TOPICS


def questions() -> dict[str, list[tuple[str, str]]]:
    """topic -> (question, relevant file name) of the set's qrels; the users' topics
    first, in TOPICS' order; on libreoffice-help-ko then the other modules (asked only as
    another topic's), on python-faq-en none (gui, installed: 8 questions, never asked)."""
    out: dict[str, list[tuple[str, str]]] = {t: [] for t in TOPICS}
    for line in (SET / "qrels.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        if line.strip():
            q, rel, _ = line.split("\t")
            out.setdefault(topic(rel), []).append((q, rel))
    if SET.name != "libreoffice-help-ko":
        out = {t: out[t] for t in TOPICS}
    return out


@dataclass
class User:
    name: str
    topic: str
    events: list[UseEvent]
    asked: list[tuple[str, str, float]]  # question, answer, when


def simulate(
    rng: random.Random,
    n_users: int,
    pools: dict[str, list[tuple[str, str]]],
    ranked: dict[str, list[str]],
    ids: dict[str, int],
    start: float,
    per_user: int = QUESTIONS_PER_USER,
) -> list[User]:
    users = []
    next_id = 1
    for n in range(n_users):
        t = TOPICS[n % len(TOPICS)]
        user = User(f"u{n:03}", t, [], [])
        asked = rng.sample(pools[t], min(per_user, len(pools[t])))
        times = sorted(rng.uniform(start, start + DAYS * 86400) for _ in asked)
        for (q, rel), when in zip(asked, times, strict=True):
            user.asked.append((q, rel, when))
            for r, name in enumerate(ranked[q][:10], 1):
                if rng.random() > 1.0 / r:
                    continue
                p = 0.9 if name == rel else 0.15 if topic(name) == t else 0.02
                if rng.random() > p:
                    continue
                acts = ["open"]
                if name == rel and rng.random() < 0.3:
                    acts.append("copy")
                if name == rel and rng.random() < 0.1:
                    acts.append("folder")
                if rng.random() < 0.1:
                    acts.append("similar")
                for a in acts:
                    user.events.append(UseEvent(next_id, user.name, ids[name], a, q, r, when))
                    next_id += 1
        users.append(user)
    return users


def split(user: User) -> tuple[list[UseEvent], set[int]]:
    """(training events, held-out items): the last HOLD items opened that were new."""
    seen: set[int] = set()
    firsts: list[tuple[int, int]] = []  # (event index, file id) of each first open
    for n, e in enumerate(user.events):
        if e.action == "open" and e.file_id not in seen:
            seen.add(e.file_id)
            firsts.append((n, e.file_id))
    if len(firsts) <= HOLD:
        return user.events, set()
    cut = firsts[-HOLD][0]
    return user.events[:cut], {f for _, f in firsts[-HOLD:]}


def recall_at_10(
    users: list[User],
    learned: Learned | None,
    content: list[SpaceItems],
    mix: float,
    weights: Mapping[str, float],
    half_life: float | None,
    popularity: bool = False,
) -> float:
    found = total = 0
    for user in users:
        history, held = split(user)
        if not held:
            continue
        mine = {e.file_id for e in history}
        if popularity:
            assert learned is not None
            order = np.argsort(-learned.popularity, kind="stable")
            top = [int(learned.items[i]) for i in order if int(learned.items[i]) not in mine][:10]
        else:
            scored = score_items(
                learned,
                user.name,
                history,
                content,
                mix=mix,
                exclude=mine,
                action_weights=weights,
                half_life_days=half_life,
            )
            top = [int(f) for f in scored.file_ids[:10]]
        found += len(held & set(top))
        total += len(held)
    return found / max(total, 1)


FUNCTION_WORDS = set(
    "a an and are as at be by can do does for from have how i if in is it my of on or "
    "python should so that the there this to use used using what when where which why "
    "with you your".split()
)


def short(question: str) -> str:
    """A question as a person would type it: its first three words that are not
    function words (nor "python", which every question of the set names)."""
    words = [w for w in re.findall(r"\w+", question.lower()) if w not in FUNCTION_WORDS]
    return " ".join(words[:3]) or question


def shorten(question: str) -> str:
    """The set's short form of a question."""
    return short_ko(question) if SET.name == "libreoffice-help-ko" else short(question)


def short_ko(question: str) -> str:
    """A Korean question as a person would type it: its last two words (the head comes
    last: `Calc에서 차트 삽입` -> `차트 삽입`)."""
    words = question.split()
    return " ".join(words[-2:]) if len(words) > 2 else question


def mrr(results: Results, relevant: str) -> float:
    for r, h in enumerate(results.hits[:10], 1):
        if Path(h.path).name == relevant:
            return 1.0 / r
    return 0.0


def recommend_rows(
    users: list[User], sparse: list[User], content: list[SpaceItems]
) -> dict[str, float]:
    """recall@10 per way of recommending, on the dense and on the few-events users."""
    events = [e for u in users for e in split(u)[0]]

    def learned_with(weights: Mapping[str, float], half: float | None) -> Learned:
        return train(
            events, (len(events), len(events)), action_weights=weights, half_life_days=half
        )

    product = learned_with(ACTION_WEIGHTS, DEFAULT_HALF_LIFE_DAYS)
    rows = {
        "popularity": recall_at_10(
            users, product, content, 0, ACTION_WEIGHTS, DEFAULT_HALF_LIFE_DAYS, popularity=True
        )
    }
    for mix in MIXES:
        label = "content only" if mix == 1.0 else "people only" if mix == 0.0 else f"mix {mix}"
        rows[label] = recall_at_10(
            users, product, content, mix, ACTION_WEIGHTS, DEFAULT_HALF_LIFE_DAYS
        )
    for half in HALF_LIVES:
        rows[f"half-life {half or 'none'}"] = recall_at_10(
            users,
            learned_with(ACTION_WEIGHTS, half),
            content,
            DEFAULT_CONTENT_MIX,
            ACTION_WEIGHTS,
            half,
        )
    for label, weights in WEIGHTINGS.items():
        rows[f"weights {label}"] = recall_at_10(
            users,
            learned_with(weights, DEFAULT_HALF_LIFE_DAYS),
            content,
            DEFAULT_CONTENT_MIX,
            weights,
            DEFAULT_HALF_LIFE_DAYS,
        )
    few_events = [e for u in sparse for e in split(u)[0]]
    few = train(few_events, (len(few_events), len(few_events)))
    rows["few events: popularity"] = recall_at_10(
        sparse, few, content, 0, ACTION_WEIGHTS, DEFAULT_HALF_LIFE_DAYS, popularity=True
    )
    for mix in MIXES:
        rows[f"few events: mix {mix}"] = recall_at_10(
            sparse, few, content, mix, ACTION_WEIGHTS, DEFAULT_HALF_LIFE_DAYS
        )
    return rows


# (label, gate, own items boosted too): the product's way and the plain one
# (label, gate, gate z, own items boosted too, term as a z-score within the hits): the
# plain way, the product's, and a candidate chosen on python-faq-en from a grid (gate in
# the first 2/3/5 hits, gate z 1/1.5/2, w 0.1-0.3, as the largest gain on own-topic
# questions with other topics' change above -0.001), checked on libreoffice-help-ko
PERSONAL_WAYS = (
    ("every hit, no gate", 0, PERSONAL_GATE_Z, True, False),
    ("product", PERSONAL_GATE, PERSONAL_GATE_Z, False, False),
    ("within hits, gate first 5 z>2", 5, 2.0, False, True),
)


def pool_terms(
    learned: Learned, user: str, gate: int, gate_z: float, file_ids: list[int]
) -> dict[int, float]:
    """The candidate's term: the user's preference as a z-score among these hits (which
    of them the user likes better, not how much the user likes them all), where one of
    the first `gate` has a z-score over all items above `gate_z`; else none."""
    terms = personal_terms(learned, user, file_ids)
    if not any(terms.get(f, 0.0) > gate_z for f in file_ids[:gate]) or len(terms) < 2:
        return {}
    return dict(zip(terms, map(float, zscores(np.fromiter(terms.values(), float))), strict=True))


def personal_rows(
    rng: random.Random,
    users: list[User],
    pools: dict[str, list[tuple[str, str]]],
    pooled: dict[str, Results],
) -> dict[str, float]:
    """MRR@10 of held-out own-topic questions and of other topics' questions, plain and
    with the personal term."""
    events = [e for u in users for e in split(u)[0]]
    model = train(events, (len(events), len(events)))
    owned = {u.name: {e.file_id for e in split(u)[0]} for u in users}
    interest = {u.name: u.topic for u in users}
    own: list[tuple[str, str, str]] = []
    other: list[tuple[str, str, str]] = []
    for u in users:
        history, held = split(u)
        if not held:
            continue
        cut = history[-1].at if history else 0.0
        own += [(u.name, q, rel) for q, rel, when in u.asked if when > cut][:HOLD]
        others = [x for t in pools if t != u.topic for x in pools[t]]
        other += [(u.name, q, rel) for q, rel in rng.sample(others, HOLD)]
    rows: dict[str, float] = {}
    for label, asked in (
        ("own topic", own),
        ("other topics", other),
        ("own topic, short", [(u, shorten(q), r) for u, q, r in own]),
        ("other topics, short", [(u, shorten(q), r) for u, q, r in other]),
    ):
        plain = statistics.fmean(mrr(pooled[q], r) for _, q, r in asked)
        rows[f"{label}: plain hybrid"] = plain
        for way, gate, gate_z, boost_own, within in PERSONAL_WAYS:
            for w in PERSONAL_WEIGHTS:
                got = statistics.fmean(
                    mrr(
                        personal_order(
                            pooled[q],
                            partial(pool_terms, model, u, gate, gate_z)
                            if within
                            else partial(personal_terms, model, u),
                            w,
                            0,
                            10,
                            gate=0 if within else gate,
                            gate_z=gate_z,
                            own=None if boost_own else owned[u],
                        ),
                        r,
                    )
                    for u, q, r in asked
                )
                rows[f"{label}: {way} w {w}"] = got
                rows[f"{label}: {way} w {w}, change"] = got - plain  # paired, per seed
        # the bound of any topic-level term: one that knows each user's topic and adds w
        # to every hit of it (not their own opens), on every query
        for w in ORACLE_WEIGHTS:
            got = statistics.fmean(
                mrr(
                    personal_order(
                        pooled[q],
                        partial(topic_terms, pooled[q], interest[u]),
                        w,
                        0,
                        10,
                        gate=0,
                        own=owned[u],
                    ),
                    r,
                )
                for u, q, r in asked
            )
            rows[f"{label}: oracle topic +{w}, change"] = got - plain
    return rows


ORACLE_WEIGHTS = (0.1, 0.3)


def topic_terms(results: Results, user_topic: str, file_ids: list[int]) -> dict[int, float]:
    """1 for each hit of the user's topic (the simulation's truth, no model)."""
    of_topic = {h.file_id for h in results.hits if topic(Path(h.path).name) == user_topic}
    return {f: 1.0 for f in file_ids if f in of_topic}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="1 seed, 6 users: a check")
    ap.add_argument("--users", type=int, default=60)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--set", choices=SETS, default=SETS[0], help="the labelled set")
    args = ap.parse_args()
    use_set(args.set)
    n_users, seeds = (6, 1) if args.smoke else (args.users, args.seeds)
    pools = questions()
    started = time.monotonic()
    print("SIMULATED users (no real click log): position-biased clicks on the product's")
    print(f"hybrid search over {SET.relative_to(REPO)}; {n_users} users x {seeds} seeds")
    print(f"users' topics: {', '.join(TOPICS)}; questions: {sum(map(len, pools.values()))}")
    table: dict[str, list[float]] = {}
    personal: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(index_dir=Path(tmp) / "index", word_vectors=False)
        docs = SET / "docs"
        if args.smoke:  # a few files of each topic: enough to run every step
            small = Path(tmp) / "docs"
            small.mkdir()
            keep = {rel for t in TOPICS for _, rel in pools[t][:4]}
            for name in keep:
                (small / name).write_text((docs / name).read_text(encoding="utf-8"))
            pools = {t: [(q, r) for q, r in pools[t] if r in keep] for t in TOPICS}
            docs = small
        with Index.open(settings=settings) as index:
            index.add(docs)
            content = [space_items(index._read_store().catalog, "text")]
            ids = {
                Path(p).name: int(f) for f, p in zip(content[0].ids, content[0].paths, strict=True)
            }
            # one hybrid search per question, its first PERSONAL_POOL hits kept
            pooled = {
                q: index.search(q, k=PERSONAL_POOL, spaces={"text"})
                for t in pools
                for q, _ in pools[t]
            }
            ranked = {q: [Path(h.path).name for h in r.hits] for q, r in pooled.items()}
            # the same questions as the few words a person types: more alike across topics
            pooled.update(
                {
                    shorten(q): index.search(shorten(q), k=PERSONAL_POOL, spaces={"text"})
                    for t in pools
                    for q, _ in pools[t]
                }
            )
            print(
                f"indexed, and searched {len(ranked)} questions and their short forms, in "
                f"{time.monotonic() - started:.0f} s"
            )
            for seed in range(seeds):
                rng = random.Random(seed)
                users = simulate(rng, n_users, pools, ranked, ids, 1.7e9)
                sparse = simulate(
                    random.Random(1000 + seed), n_users, pools, ranked, ids, 1.7e9, SPARSE
                )
                for k, v in recommend_rows(users, sparse, content).items():
                    table.setdefault(k, []).append(v)
                for k, v in personal_rows(rng, users, pools, pooled).items():
                    personal.setdefault(k, []).append(v)
            # the last seed's training events into the index: the library's own path
            for u in users:
                for e in split(u)[0]:
                    index.record(e.user, e.file_id, e.action, e.query, rank=e.rank, at=e.at)
            model = train([e for u in users for e in split(u)[0]])
            owned = {u.name: {e.file_id for e in split(u)[0]} for u in users}
            agree = True
            for u in users[:10]:
                for q, _, _ in u.asked[:3]:
                    mine = [h.file_id for h in index.search(q, spaces={"text"}, user=u.name)]
                    measured = personal_order(
                        pooled[q],
                        partial(personal_terms, model, u.name),
                        DEFAULT_PERSONAL_WEIGHT,
                        0,
                        10,
                        own=owned[u.name],
                    )
                    agree = agree and mine == [h.file_id for h in measured.hits]
            # a user without history: the same hits, in the same order
            for q in list(pooled)[:20]:
                same = [h.file_id for h in index.search(q, spaces={"text"}, user="nobody")]
                plain = [h.file_id for h in index.search(q, spaces={"text"})]
                personal.setdefault("no history: hits unchanged", []).append(float(same == plain))
    print(
        f"\nrecommend, recall@10 of {HOLD} held-out opens per user (mean ± sd over seeds; "
        f"product: mix {DEFAULT_CONTENT_MIX}, half-life {DEFAULT_HALF_LIFE_DAYS} d, "
        f"similar {ACTION_WEIGHTS['similar']}; few events: {SPARSE} questions per user)"
    )
    for name, values in table.items():
        sd = statistics.pstdev(values) if len(values) > 1 else 0.0
        print(f"  {name:26} {statistics.fmean(values):.3f}  ±{sd:.3f}")
    print(
        f"\npersonal ranking, MRR@10 (product: weight {DEFAULT_PERSONAL_WEIGHT}, "
        f"gate: first hit z > {PERSONAL_GATE_Z}, no boost of the user's own opens)"
    )
    for name, values in personal.items():
        sd = statistics.pstdev(values) if len(values) > 1 else 0.0
        print(f"  {name:48} {statistics.fmean(values):+.4f}  ±{sd:.4f}")
    print(f"  the library's search(user=) = the order measured here: {agree}")
    print(f"\n{time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
