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
- personal ranking: MRR@10 of held-out questions, plain hybrid against the re-finding
  term (searchengine/learn/refind.py) at several closeness thresholds and weights, the
  previous ALS term, and an oracle topic term; paired changes with 95% bootstrap
  intervals over (seed, user). The set's questions are each asked once per user, so
  re-finding is MODELLED: besides new questions of the user's topic, some of their
  earlier questions are asked again (the same words, the short form a person types, the
  set's other wording of the same answer); other topics' questions must not change,
  nor must a user without history's hits. Short queries are the first three words that
  are not function words.

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
from pathlib import Path

import numpy as np

from searchengine import Index, Settings
from searchengine.catalog.browse import SpaceItems, space_items
from searchengine.catalog.events import UseEvent
from searchengine.learn.model import (
    ACTION_WEIGHTS,
    DEFAULT_CONTENT_MIX,
    DEFAULT_HALF_LIFE_DAYS,
    Learned,
    personal_terms,
    score_items,
    train,
)
from searchengine.learn.refind import (
    DEFAULT_REFIND_WEIGHT,
    PERSONAL_POOL,
    REFIND_CLOSENESS,
    PastQueries,
    past_queries,
    personal_order,
    refind_terms,
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


# the previous personal term (until 2026-12-07): the user's ALS preference (a z-score over
# all items) times 0.2 on hits people opened and the user did not, where the first hit has
# a z above 1; kept to compare (docs/learning.md)
ALS_WEIGHT, ALS_GATE_Z = 0.2, 1.0
# re-finding (searchengine/learn/refind.py): (closeness, weight) measured beside the
# product's; chosen on python-faq-en (20 seeds) as the largest gain on questions asked
# again whose 95% intervals on new own-topic and other topics' questions stay above
# -0.0005, then checked on libreoffice-help-ko
REFIND_WAYS = ((0.94, 1.0), (0.96, 1.0), (REFIND_CLOSENESS, DEFAULT_REFIND_WEIGHT), (0.97, 2.0))
ORACLE_WEIGHTS = (0.1, 0.3)
BOOTSTRAP = 2000
# the kinds of held-out question: new ones of the user's topic, the user's earlier ones
# asked again (the same words, cut short, or the set's other wording of the same
# answer), and other topics' (must not change)
KINDS = (
    "own topic",
    "own topic, short",
    "asked again",
    "asked again, short",
    "asked again, other wording",
    "other topics",
    "other topics, short",
)


def als_terms(learned: Learned, user: str, own: set[int], results: Results) -> dict[int, float]:
    """The previous personal term's per-hit values: the user's ALS z-scores, where the
    first hit's is above ALS_GATE_Z, on hits the user did not open."""
    terms = personal_terms(learned, user, [h.file_id for h in results.hits])
    if not results.hits or terms.get(results.hits[0].file_id, 0.0) <= ALS_GATE_Z:
        return {}
    return {f: t for f, t in terms.items() if f not in own}


def held_out(
    rng: random.Random, user: User, pools: dict[str, list[tuple[str, str]]]
) -> dict[str, list[tuple[str, str]]]:
    """kind -> (query, relevant file) of one user's held-out questions. The set's
    questions are each asked once per user, so re-finding is modelled: HOLD of the
    user's earlier questions are asked again after the cut, as they were, as the short
    form a person types the second time, and in the set's other wording of the same
    answer where it has one."""
    history, _ = split(user)
    cut = history[-1].at if history else 0.0
    before = [(q, rel) for q, rel, when in user.asked if when <= cut]
    new = [(q, rel) for q, rel, when in user.asked if when > cut][:HOLD]
    again = rng.sample(before, min(HOLD, len(before)))
    wordings: dict[str, list[str]] = {}
    for t in pools:
        for q, rel in pools[t]:
            wordings.setdefault(rel, []).append(q)
    reworded = [(o, r) for q, r in again for o in wordings[r] if o != q]
    others = rng.sample([x for t in pools if t != user.topic for x in pools[t]], HOLD)
    return {
        "own topic": new,
        "own topic, short": [(shorten(q), r) for q, r in new],
        "asked again": again,
        "asked again, short": [(shorten(q), r) for q, r in again],
        "asked again, other wording": reworded[:HOLD],
        "other topics": others,
        "other topics, short": [(shorten(q), r) for q, r in others],
    }


def personal_rows(
    rng: random.Random,
    users: list[User],
    pools: dict[str, list[tuple[str, str]]],
    pooled: dict[str, Results],
    vectors: dict[str, np.ndarray],
    seed: int,
) -> list[tuple[str, str, tuple[int, str], float]]:
    """(kind, way, (seed, user), MRR@10 change) of every held-out question: plain hybrid
    ("plain", its MRR@10 itself), re-finding at each REFIND_WAYS, the previous ALS term,
    and an oracle topic term (the bound of any topic-level term)."""
    events = [e for u in users for e in split(u)[0]]
    model = train(events, (len(events), len(events)))
    out: list[tuple[str, str, tuple[int, str], float]] = []
    for u in users:
        history, held = split(u)
        if not held:
            continue
        past = past_queries(history, lambda qs: np.stack([vectors[q] for q in qs]))
        own = {e.file_id for e in history}
        for kind, asked in held_out(rng, u, pools).items():
            for q, rel in asked:
                plain = mrr(pooled[q], rel)
                cell = (seed, u.name)
                out.append((kind, "plain", cell, plain))
                for closeness, w in REFIND_WAYS:
                    terms = refound(past, vectors[q], closeness)
                    got = mrr(personal_order(pooled[q], terms, w, 0, 10), rel)
                    out.append((kind, f"re-finding {closeness} w {w}", cell, got - plain))
                terms = als_terms(model, u.name, own, pooled[q])
                got = mrr(personal_order(pooled[q], terms, ALS_WEIGHT, 0, 10), rel)
                out.append((kind, f"previous ALS term w {ALS_WEIGHT}", cell, got - plain))
                for w in ORACLE_WEIGHTS:
                    terms = topic_terms(pooled[q], u.topic, own)
                    got = mrr(personal_order(pooled[q], terms, w, 0, 10), rel)
                    out.append((kind, f"oracle topic +{w}", cell, got - plain))
    return out


def topic_terms(results: Results, user_topic: str, own: set[int]) -> dict[int, float]:
    """1 for each hit of the user's topic (the simulation's truth, no model) that the
    user did not open."""
    return {
        h.file_id: 1.0
        for h in results.hits
        if topic(Path(h.path).name) == user_topic and h.file_id not in own
    }


def refound(
    past: PastQueries | None, vector: np.ndarray, closeness: float = REFIND_CLOSENESS
) -> dict[int, float]:
    return {} if past is None else refind_terms(past, vector, closeness=closeness)


def paired(values: list[tuple[tuple[int, str], float]]) -> tuple[float, float, float]:
    """Mean, and a 95% bootstrap interval resampling (seed, user) clusters: a user's
    questions share a history, so they are not independent."""
    clusters: dict[tuple[int, str], list[float]] = {}
    for cell, v in values:
        clusters.setdefault(cell, []).append(v)
    sums = np.array([sum(c) for c in clusters.values()])
    counts = np.array([len(c) for c in clusters.values()])
    draw = np.random.default_rng(0).integers(0, len(sums), (BOOTSTRAP, len(sums)))
    means = sums[draw].sum(axis=1) / counts[draw].sum(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(sums.sum() / counts.sum()), float(lo), float(hi)


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
    personal: list[tuple[str, str, tuple[int, str], float]] = []
    checks: dict[str, list[bool]] = {}
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
            encoder = index._reader().spaces.text()
            asked = list(pooled)
            vectors = {
                q: v
                for n in range(0, len(asked), 64)
                for q, v in zip(
                    asked[n : n + 64], encoder.encode(asked[n : n + 64], "query"), strict=True
                )
            }
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
                personal += personal_rows(rng, users, pools, pooled, vectors, seed)
            # the last seed's training events into the index: the library's own path
            for u in users:
                for e in split(u)[0]:
                    index.record(e.user, e.file_id, e.action, e.query, rank=e.rank, at=e.at)
            for u in users[:10]:
                history, _ = split(u)
                past = past_queries(history, lambda qs: np.stack([vectors[q] for q in qs]))
                kinds = held_out(random.Random(u.name), u, pools)
                for kind in ("asked again", "asked again, short", "other topics"):
                    for q, _ in kinds[kind]:
                        mine = [h.file_id for h in index.search(q, spaces={"text"}, user=u.name)]
                        terms = refound(past, vectors[q])
                        measured = personal_order(pooled[q], terms, DEFAULT_REFIND_WEIGHT, 0, 10)
                        checks.setdefault("library", []).append(
                            mine == [h.file_id for h in measured.hits]
                        )
                        if kind == "other topics":
                            plain = [h.file_id for h in index.search(q, spaces={"text"})]
                            checks.setdefault("other topics", []).append(mine == plain)
            # a user without history: the same hits, in the same order
            for q in list(pooled)[:20]:
                same = [h.file_id for h in index.search(q, spaces={"text"}, user="nobody")]
                plain = [h.file_id for h in index.search(q, spaces={"text"})]
                checks.setdefault("no history", []).append(same == plain)
    print(
        f"\nrecommend, recall@10 of {HOLD} held-out opens per user (mean ± sd over seeds; "
        f"product: mix {DEFAULT_CONTENT_MIX}, half-life {DEFAULT_HALF_LIFE_DAYS} d, "
        f"similar {ACTION_WEIGHTS['similar']}; few events: {SPARSE} questions per user)"
    )
    for name, values in table.items():
        sd = statistics.pstdev(values) if len(values) > 1 else 0.0
        print(f"  {name:26} {statistics.fmean(values):.3f}  ±{sd:.3f}")
    print(
        f"\npersonal ranking, MRR@10 of held-out questions: plain hybrid, then each way's "
        f"paired change [95% bootstrap interval over (seed, user)]; product: re-finding, "
        f"closeness >= {REFIND_CLOSENESS}, weight {DEFAULT_REFIND_WEIGHT}"
    )
    by: dict[tuple[str, str], list[tuple[tuple[int, str], float]]] = {}
    for kind, way, cell, value in personal:
        by.setdefault((kind, way), []).append((cell, value))
    for kind in KINDS:
        for (k, way), cells in by.items():
            if k == kind:
                mean, lo, hi = paired(cells)
                label = f"{kind}: {way}"
                if way == "plain":
                    print(f"  {label + ' hybrid':56} {mean:.4f}  ({len(cells)} questions)")
                else:
                    print(f"  {label:56} {mean:+.4f}  [{lo:+.4f}, {hi:+.4f}]")
    alone = checks.get("no history", [])
    print(f"  no history: hits unchanged in {sum(alone)} of {len(alone)} queries")
    others = checks.get("other topics", [])
    print(f"  other topics, users with history: unchanged in {sum(others)} of {len(others)}")
    agree = checks.get("library", [])
    print(f"  the library's search(user=) = the order measured here: {all(agree)} ({len(agree)})")
    print(f"\n{time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
