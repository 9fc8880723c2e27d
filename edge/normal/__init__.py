"""The lane learns its normal: the images of passages released clean (or cleared by the hub) are
kept per device within a budget, and the lane's own model is refitted from them; a candidate
replaces the current model only if it does at least as well on the lane's held-back clean
passes and on the shipped canaries, and earlier versions stay for rollback.

- `config.py`: `[normal]`;
- `schema.py`: the `normal_images` table (migration `normal:1`);
- `retention.py`: kept inside the passage transactions, the budget, the hashes a pruner must keep;
- `lane_models.py`: a device's versions, its `current` pointer, history, rollback;
- `canaries.py`, `judge.py`: the canaries and the adoption rule;
- `refit.py`: fit, judge, adopt or refuse (`kouan model fit --from-store`, `kouan model propose`);
- `schedule.py`, `lane.py`: the edge's own refits and what the runtime holds.

The passages package knows nothing of this: it hands the passages each transaction changed to
its watchers (`PassageService(watchers=...)`), as it hands them to the outbox.
"""
