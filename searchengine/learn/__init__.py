"""Learning from use: what people opened, factorised into user and item vectors.

`als` is the matrix factorisation (implicit ALS, NumPy); `model` turns events into
a model and scores items with it and with each user's content profile; `refind` is
the personal ranking term (what a user opened after a query like this one); `learner`
keeps one index's model current (trained again in the background) and answers
recommendations, "often opened with this" and the personal ranking term.
"""

from searchengine.learn.learner import Learner, Suggestion, Suggestions

__all__ = ["Learner", "Suggestion", "Suggestions"]
